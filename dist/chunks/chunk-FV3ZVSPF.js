import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
function o(e){return[e.kind,e.metadata.namespace,e.metadata.name].filter(Boolean).join("/")}var a="kubectl.kubernetes.io/last-applied-configuration";function c(e){let{managedFields:r,...n}=e.metadata,t=n.annotations;if(r===void 0&&t?.[a]===void 0)return e;if(t?.[a]!==void 0){let{[a]:s,...i}=t;n.annotations=i}return{...e,metadata:n}}export{o as a,c as b};
//# sourceMappingURL=chunk-FV3ZVSPF.js.map
