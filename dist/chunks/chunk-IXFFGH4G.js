import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
async function u(e,a,i){let t=new Array(e.length),o=0,r,l=async()=>{for(;!r&&o<e.length;){let n=o++;try{t[n]=await i(e[n],n)}catch(s){r??={err:s}}}};if(await Promise.all(Array.from({length:Math.min(a,e.length)},l)),r)throw r.err;return t}export{u as a};
//# sourceMappingURL=chunk-IXFFGH4G.js.map
