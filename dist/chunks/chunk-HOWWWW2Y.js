import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a as r,b as i}from"./chunk-RQIDVX2C.js";var o=i((p,e)=>{e.exports=r("node:util")});export{o as a};
//# sourceMappingURL=chunk-HOWWWW2Y.js.map
