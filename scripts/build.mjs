// Bundles src/ into dist/ with esbuild: dist/index.js is the entry action.yml names for the main
// and the post step; the stages it imports lazily become chunks beside it, read from disk only
// when a run reaches them (a run that fails at `docker` never loads the Kubernetes client).
// Writes dist/licenses.txt for the bundled packages and one source map per file, without the
// sources themselves. The output depends only on the sources and the lockfile, so CI can compare
// a fresh build with the committed dist/.
//   scripts/node24 scripts/build.mjs [outdir=dist]
import * as fs from 'node:fs'
import { builtinModules } from 'node:module'
import * as path from 'node:path'
import * as esbuild from 'esbuild'

const repo = path.resolve(import.meta.dirname, '..')
const outdir = path.resolve(repo, process.argv[2] ?? 'dist')

// Packages whose modules have no side effects on import, though their package.json does not say
// so (`sideEffects: false`). Saying it for them lets esbuild leave out what nothing calls:
// - @kubernetes/client-node: its barrel re-exports typed APIs and models, exec, port-forward,
//   ... that the action never uses (about 470 KB); its one side effect is a File polyfill for
//   Node 18.
// - @actions/http-client: @actions/core imports it for getIDToken (unused here), and it loads
//   all of undici at start-up.
const pure = /[/\\]node_modules[/\\](@kubernetes[/\\]client-node|@actions[/\\]http-client)[/\\](?!node_modules[/\\])/
const declarePure = {
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
const builtinsByRequire = {
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

fs.rmSync(outdir, { recursive: true, force: true })
const result = await esbuild.build({
  absWorkingDir: repo,
  entryPoints: { index: 'src/index.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  minify: true,
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'none',
  chunkNames: 'chunks/[name]-[hash]',
  // Bundled CommonJS packages call require() for Node's own modules; ESM has no require.
  banner: { js: "import { createRequire as __ksRequire } from 'node:module'; const require = __ksRequire(import.meta.url);" },
  metafile: true,
  plugins: [builtinsByRequire, declarePure],
  logLevel: 'warning'
})

fs.writeFileSync(path.join(outdir, 'package.json'), JSON.stringify({ type: 'module' }, null, 2) + '\n')
fs.writeFileSync(path.join(outdir, 'licenses.txt'), licenses(Object.keys(result.metafile.inputs)))

/** The license of every package with code in the bundle, sorted by name: as ncc's --license did. */
function licenses(inputs) {
  const packages = new Map()
  for (const input of inputs) {
    if (!input.includes('node_modules/')) continue
    const dir = packageDir(path.resolve(repo, input))
    if (!dir || packages.has(dir)) continue
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
    const file = fs.readdirSync(dir).sort().find(f => /^(licen[cs]e|copying)(\..*)?$/i.test(f))
    const text = file ? fs.readFileSync(path.join(dir, file), 'utf8').trim() : ''
    packages.set(dir, { name: pkg.name, version: pkg.version, license: typeof pkg.license === 'string' ? pkg.license : (pkg.license?.type ?? 'UNKNOWN'), text })
  }
  return [...packages.values()]
    .sort((a, b) => a.name.localeCompare(b.name, 'en') || a.version.localeCompare(b.version, 'en'))
    .map(p => `${p.name}@${p.version}\n${p.license}\n${p.text}\n`)
    .join('\n')
}

/** The nearest folder above a bundled file that holds a package.json with a name. */
function packageDir(file) {
  for (let dir = path.dirname(file); dir.includes('node_modules'); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json')
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name) return dir
  }
  return undefined
}
