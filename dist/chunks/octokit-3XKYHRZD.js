import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a}from"./chunk-3BMGS3BG.js";import"./chunk-XKN6V6YR.js";import"./chunk-UL4RWVG4.js";import"./chunk-KKRG4R2W.js";import"./chunk-J5IAAZKH.js";import"./chunk-AYTW2BI3.js";import"./chunk-4GM6QLQT.js";import"./chunk-B625ZSQA.js";import"./chunk-34YKHNVJ.js";import"./chunk-H7IXSMKV.js";export{a as githubClient};
//# sourceMappingURL=octokit-3XKYHRZD.js.map
