import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a as e,b as r}from"./chunk-RQIDVX2C.js";var p=r((s,i)=>{i.exports=e("node:stream")});var q=r((t,o)=>{o.exports=e("node:buffer")});export{p as a,q as b};
//# sourceMappingURL=chunk-7F5QUI5X.js.map
