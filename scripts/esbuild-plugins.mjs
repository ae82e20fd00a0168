// The esbuild plugins of the action's bundle (scripts/build.mjs), shared with the benches so
// they measure the code as it ships (what is loaded, and so the memory it takes).
import { builtinModules } from 'node:module'

// Packages whose modules have no side effects on import, though their package.json does not say
// so (`sideEffects: false`). Saying it for them lets esbuild leave out what nothing calls:
// - @kubernetes/client-node: its barrel re-exports typed APIs and models, exec, port-forward,
//   ... that the action never uses (about 470 KB); its one side effect is a File polyfill for
//   Node 18.
// - @actions/http-client: @actions/core imports it for getIDToken (unused here), and it loads
//   all of undici at start-up.
const pure = /[/\\]node_modules[/\\](@kubernetes[/\\]client-node|@actions[/\\]http-client)[/\\](?!node_modules[/\\])/
export const declarePure = {
  name: 'declare-pure',
  setup(build) {
    build.onResolve({ filter: /.*/ }, async args => {
      if (args.pluginData === 'resolved' || args.namespace !== 'file') return undefined
      const result = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'resolved' })
      // anything else resolves as esbuild would (which also tolerates optional requires in try)
      return !result.errors.length && !result.external && pure.test(result.path) ? { ...result, sideEffects: false } : undefined
    })
  }
}

// An ESM import of a Node module (`import * as http from 'node:http'`) makes Node build a facade
// that reads every export, and some of Node's are lazy getters: node:http's loads Node's own
// copy of undici, ~100 ms before the first line of the action runs. require() hands back the
// module as it is, so Node's modules are loaded through it.
export const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(build) {
    const names = new Set(builtinModules.flatMap(m => [m, `node:${m}`]))
    build.onResolve({ filter: /^[a-z:_/]+$/ }, args => {
      if (!names.has(args.path)) return undefined
      // the require() inside the stand-in below is Node's own
      if (args.namespace === 'builtin') return { path: args.path, external: true }
      return { path: args.path.replace(/^node:/, ''), namespace: 'builtin' }
    })
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, args => ({ contents: `module.exports = require('node:${args.path}')`, loader: 'js' }))
  }
}
