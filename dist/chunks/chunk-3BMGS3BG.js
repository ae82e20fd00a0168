import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{b as t}from"./chunk-XKN6V6YR.js";import{e as r}from"./chunk-4GM6QLQT.js";function c(e,i){return t(e,i,r)}export{c as a};
//# sourceMappingURL=chunk-3BMGS3BG.js.map
