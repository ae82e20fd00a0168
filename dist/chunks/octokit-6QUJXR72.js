import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a}from"./chunk-PWTKQUZV.js";import"./chunk-T2EEDBUD.js";import"./chunk-B625ZSQA.js";import"./chunk-34YKHNVJ.js";import"./chunk-V2IA7CEH.js";import"./chunk-LZIJA7LJ.js";import"./chunk-7F5QUI5X.js";import"./chunk-HOWWWW2Y.js";import"./chunk-LVBFZEHV.js";import"./chunk-RQIDVX2C.js";export{a as githubClient};
//# sourceMappingURL=octokit-6QUJXR72.js.map
