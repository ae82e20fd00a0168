import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a}from"./chunk-OHSRDPT5.js";import"./chunk-G6HBHH2Y.js";import"./chunk-B625ZSQA.js";import"./chunk-34YKHNVJ.js";import"./chunk-66MLG6X3.js";import"./chunk-G4HEXQLW.js";import"./chunk-7F5QUI5X.js";import"./chunk-HOWWWW2Y.js";import"./chunk-LVBFZEHV.js";import"./chunk-RQIDVX2C.js";export{a as githubClient};
//# sourceMappingURL=octokit-BHI7OGTB.js.map
