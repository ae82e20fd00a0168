import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{f as t}from"./chunk-T2EEDBUD.js";import{b as r}from"./chunk-V2IA7CEH.js";function c(e,i){return r(e,i,t)}export{c as a};
//# sourceMappingURL=chunk-PWTKQUZV.js.map
