// Bundles src/ into dist/ with esbuild: dist/index.js is the entry action.yml names for the main
// and the post step; the stages it imports lazily become chunks beside it, read from disk only
// when a run reaches them (a run that fails at `docker` never loads the Kubernetes client).
// Writes dist/licenses.txt for the bundled packages and one source map per file, without the
// sources themselves. The output depends only on the sources and the lockfile, so CI can compare
// a fresh build with the committed dist/.
//   scripts/node24 scripts/build.mjs [outdir=dist]
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as esbuild from 'esbuild'
import { builtinsByRequire, declarePure } from './esbuild-plugins.mjs'

const repo = path.resolve(import.meta.dirname, '..')
const outdir = path.resolve(repo, process.argv[2] ?? 'dist')

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
