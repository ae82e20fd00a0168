import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a,b}from"./chunk-XKN6V6YR.js";import"./chunk-UL4RWVG4.js";import"./chunk-KKRG4R2W.js";import"./chunk-J5IAAZKH.js";import"./chunk-AYTW2BI3.js";import"./chunk-H7IXSMKV.js";export{a as context,b as getOctokit};
//# sourceMappingURL=github-HHZ5INIR.js.map
