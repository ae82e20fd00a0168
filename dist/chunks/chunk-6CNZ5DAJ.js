import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a as e,b as r}from"./chunk-H7IXSMKV.js";var p=r((s,i)=>{i.exports=e("node:path")});var q=r((t,o)=>{o.exports=e("node:child_process")});export{p as a,q as b};
//# sourceMappingURL=chunk-6CNZ5DAJ.js.map
