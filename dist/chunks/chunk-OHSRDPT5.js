import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{f as t}from"./chunk-G6HBHH2Y.js";import{b as r}from"./chunk-66MLG6X3.js";function c(e,i){return r(e,i,t)}export{c as a};
//# sourceMappingURL=chunk-OHSRDPT5.js.map
