import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a as e,b as r}from"./chunk-RQIDVX2C.js";var u=r((f,i)=>{i.exports=e("node:os")});var x=r((g,o)=>{o.exports=e("node:crypto")});var a=r((h,p)=>{p.exports=e("node:fs")});var b=r((j,q)=>{q.exports=e("node:events")});var c=r((k,s)=>{s.exports=e("node:assert")});var d=r((l,t)=>{t.exports=e("node:string_decoder")});export{u as a,x as b,a as c,b as d,c as e,d as f};
//# sourceMappingURL=chunk-LVBFZEHV.js.map
