import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a as e,b as r}from"./chunk-H7IXSMKV.js";var s=r((a,i)=>{i.exports=e("node:crypto")});var t=r((b,o)=>{o.exports=e("node:string_decoder")});var u=r((c,p)=>{p.exports=e("node:events")});var x=r((d,q)=>{q.exports=e("node:assert")});export{s as a,u as b,x as c,t as d};
//# sourceMappingURL=chunk-AYTW2BI3.js.map
