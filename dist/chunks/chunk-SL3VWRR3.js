import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
function n(e){return[e.kind,e.metadata.namespace,e.metadata.name].filter(Boolean).join("/")}export{n as a};
//# sourceMappingURL=chunk-SL3VWRR3.js.map
