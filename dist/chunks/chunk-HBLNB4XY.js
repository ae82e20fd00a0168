import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);
import{a as i}from"./chunk-34YKHNVJ.js";var n=/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;function a(t,s,r){let e=r&&r!==t?` (from '${r}')`:"";if(t.length>63)throw new i(`namespace '${t}'${e} is ${t.length} characters; the limit is 63`,{input:s});if(!n.test(t))throw new i(`namespace '${t}'${e} is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit`,{input:s});return t}export{a};
//# sourceMappingURL=chunk-HBLNB4XY.js.map
