import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a,b}from"./chunk-66MLG6X3.js";import"./chunk-G4HEXQLW.js";import"./chunk-7F5QUI5X.js";import"./chunk-HOWWWW2Y.js";import"./chunk-LVBFZEHV.js";import"./chunk-RQIDVX2C.js";export{a as context,b as getOctokit};
//# sourceMappingURL=github-FKKY6V7C.js.map
