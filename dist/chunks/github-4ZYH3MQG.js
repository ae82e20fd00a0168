import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a,b,c,d,e,f}from"./chunk-T2EEDBUD.js";import"./chunk-B625ZSQA.js";import"./chunk-34YKHNVJ.js";import"./chunk-RQIDVX2C.js";export{a as ACTIONS_BOT,c as apiLine,e as classifyGitHub,b as httpStatus,f as retryPlugin,d as runUrl};
//# sourceMappingURL=github-4ZYH3MQG.js.map
