import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{b as a,c as b,d as c,e as d,f as e,g as f}from"./chunk-XDOEDKBV.js";import"./chunk-YRN4Y6FR.js";import"./chunk-DX5LUMDM.js";import"./chunk-C4DRFQ2V.js";import"./chunk-34YKHNVJ.js";import"./chunk-LVBFZEHV.js";import"./chunk-RQIDVX2C.js";export{f as authorize,d as dockerConfigCredentials,e as headManifest,a as login,b as logout,c as registryBase};
//# sourceMappingURL=registry-ZNGVEPOS.js.map
