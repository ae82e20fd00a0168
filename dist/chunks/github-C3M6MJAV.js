import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a,b}from"./chunk-V2IA7CEH.js";import"./chunk-LZIJA7LJ.js";import"./chunk-7F5QUI5X.js";import"./chunk-HOWWWW2Y.js";import"./chunk-LVBFZEHV.js";import"./chunk-RQIDVX2C.js";export{a as context,b as getOctokit};
//# sourceMappingURL=github-C3M6MJAV.js.map
