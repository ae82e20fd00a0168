// CPU per Kubernetes request through the action's request layer (src/kube/client.ts), and proof
// that a run keeps one connection and one TLS context: counts undici's connections and Node's
// secure contexts over N sequential GETs to the local stack's API server (loopback only).
//   test/stack/up.sh, then: scripts/node24 bench/requests.mjs [requests=300]
import dc from 'node:diagnostics_channel'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import tls from 'node:tls'

const repo = path.resolve(import.meta.dirname, '..')
const n = Number(process.argv[2] ?? 300)
const state = process.env.KUBE_SHIP_STATE ?? '/tmp/kube-ship-stack'
const env = JSON.parse(fs.readFileSync(path.join(state, 'env.json'), 'utf8'))

// Bundle the request layer from the sources (esbuild, as the action itself is built).
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-bench-'))
const { build } = await import('esbuild')
await build({
  stdin: { contents: "export { clientFor, loadKubeConfig } from './src/kube/client.ts'", resolveDir: repo, loader: 'ts' },
  outfile: path.join(out, 'index.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  // bundled CommonJS packages call require()
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning'
})
const lib = await import(path.join(out, 'index.js'))

let connections = 0
let contexts = 0
dc.subscribe('undici:client:connected', () => connections++)
const createSecureContext = tls.createSecureContext
tls.createSecureContext = (...args) => {
  contexts++
  return createSecureContext(...args)
}

const k = lib.clientFor(lib.loadKubeConfig({}, { KUBECONFIG: env.kubeconfig }))
for (let i = 0; i < 20; i++) await k.request('GET', '/version') // warm: JIT, discovery, the connection
const cpu = process.cpuUsage()
const start = performance.now()
for (let i = 0; i < n; i++) await k.request('GET', '/api/v1/namespaces/default')
const used = process.cpuUsage(cpu)
const wall = performance.now() - start
// The same count with 16 in flight, as apply sends them: the cost of the request layer itself,
// with fewer idle wake-ups per request.
const cpu16 = process.cpuUsage()
let left = n
await Promise.all(Array.from({ length: 16 }, async () => { while (left-- > 0) await k.request('GET', '/api/v1/namespaces/default') }))
const used16 = process.cpuUsage(cpu16)
fs.rmSync(out, { recursive: true, force: true })

console.log(`${n} sequential GETs: ${((used.user + used.system) / n / 1000).toFixed(2)} ms CPU, ${(wall / n).toFixed(2)} ms wall per request`)
console.log(`${n} GETs 16 in flight: ${((used16.user + used16.system) / n / 1000).toFixed(2)} ms CPU per request`)
console.log(`over ${2 * n + 20} requests: ${connections} connection(s), ${contexts} TLS secure context(s)`)
