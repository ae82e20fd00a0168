// Verdicts at scale, against kubectl on the same local cluster (test/stack/up.sh must be up):
//   1. 500 Deployments (default strategy, 1-2 replicas, 10 namespaces) on a node pool whose
//      capacity the surge exceeds: how many end done (all must), how long after the cluster
//      finished each one the verdict came (an independent kubectl watch stamps "finished"), the
//      wait's API requests by kind (list / watch / get), and the waiting process's peak RSS;
//      then the same rollout waited by sequential `kubectl rollout status` (time, requests).
//   2. Look-alikes that must end done, and real failures with the time to their verdict.
// The pool is extra kwok nodes made here (tainted, so only these pods land there), deleted after.
//   scripts/node24 bench/scale.mjs [deployments=500] [--ours-only]
// --ours-only skips kubectl and the look-alikes (for iterating on the wait's memory);
// KUBE_SHIP_BENCH_NODE_FLAGS adds flags to the waiting process; KUBE_SHIP_BENCH_PROFILE=<dir>
// writes an allocation profile of each apply + wait there and prints its top allocation sites.
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'

const repo = path.resolve(import.meta.dirname, '..')
const state = process.env.KUBE_SHIP_STATE ?? '/tmp/kube-ship-stack'
const env = JSON.parse(fs.readFileSync(path.join(state, 'env.json'), 'utf8'))
const image = tag => `${env.registry}/bench/web:${tag}`
const POOL = 'kube-ship.dev/pool'

// Child mode: apply and wait in a process of its own, so its peak RSS is the wait's alone.
if (process.argv[2] === '--child') {
  const { bundle, targets, objects, stallWindowMs } = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'))
  const dc = await import('node:diagnostics_channel')
  const counts = { list: 0, watch: 0, get: 0, other: 0 }
  let counting = false
  const count = ({ request }) => {
    if (!counting) return
    const p = String(request.path ?? '')
    const kind = request.method !== 'GET' ? 'other' : /[?&]watch=(true|1)/.test(p) ? 'watch' : /\/namespaces\/[^/]+\/[^/?]+\/[^/?]+/.test(p) || /\/nodes\/[^/?]+/.test(p) ? 'get' : 'list'
    counts[kind]++
  }
  dc.subscribe('undici:request:create', count)
  // Where the peak sits: V8 heap vs buffers outside it, sampled while applying and waiting.
  const peak = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 }
  const v8 = await import('node:v8')
  let rssPeak = 0
  let spaces
  const sample = setInterval(() => {
    const m = process.memoryUsage()
    for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], m[k])
    if (m.rss > rssPeak) {
      rssPeak = m.rss
      spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map(s => [s.space_name, Math.round(s.space_size / 2 ** 20)]))
      // the RSS split: anonymous (heap, buffers, malloc) against file-backed (the node binary's pages)
      for (const [, k, v] of fs.readFileSync('/proc/self/status', 'utf8').matchAll(/^(RssAnon|RssFile|RssShmem):\s+(\d+) kB/gm)) spaces[k] = Math.round(Number(v) / 1024)
    }
  }, 100)
  const lib = await import(bundle)
  const kc = lib.loadKubeConfig({}, { KUBECONFIG: env.kubeconfig })
  const docs = objects.map(object => ({ object, origin: { file: 'bench.yaml', line: 1 } }))
  // An allocation profile of the apply and the wait (objects collected since included), written
  // as <dir>/<input>.heapprofile for Chrome DevTools; the profiler's own memory shows in the RSS.
  const profileDir = process.env.KUBE_SHIP_BENCH_PROFILE
  let profiler
  let allocated
  if (profileDir) {
    const { Session } = await import('node:inspector/promises')
    profiler = new Session()
    profiler.connect()
    await profiler.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  }
  // One apply of every document with the run's journal, as the rolling plan does; both are held
  // until the wait ends (the plan keeps them for the report and the rollback).
  const journal = { entries: [], createdNamespaces: [] }
  const applied = await lib.applyObjects(kc, docs, { journal })
  const applyPeakMiB = { rss: process.resourceUsage().maxRSS / 1024, heapTotal: peak.heapTotal / 2 ** 20 }
  counting = true
  const stamps = {}
  const started = Date.now()
  const outcomes = await lib.waitForWorkloads(kc, targets, {
    signal: AbortSignal.timeout(900_000),
    stallWindowMs,
    onStatus: (resource, v) => v.state !== 'waiting' && (stamps[resource] = Date.now())
  })
  counting = false
  if (profiler) {
    const { profile } = await profiler.post('HeapProfiler.stopSampling')
    fs.writeFileSync(path.join(profileDir, `${path.basename(process.argv[3], '.json')}.heapprofile`), JSON.stringify(profile))
    allocated = topAllocations(profile)
  }
  const result = {
    kept: { applied: applied.length, journal: journal.entries.length },
    allocated,
    started,
    ms: Date.now() - started,
    outcomes: outcomes.map(o => ({ resource: o.resource, state: o.verdict.state, reason: o.verdict.reason, message: o.verdict.message, durationMs: o.durationMs, at: stamps[o.resource] ?? started + o.durationMs })),
    requests: counts,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    peakMiB: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, v / 2 ** 20])),
    spacesAtPeak: spaces,
    applyPeakMiB
  }
  clearInterval(sample)
  fs.writeFileSync(process.argv[4], JSON.stringify(result))
  process.exit(0)
}

/** The sampled bytes of an allocation profile summed by allocating function (self only), largest first. */
function topAllocations(profile, n = 25) {
  const by = new Map()
  const visit = node => {
    const f = node.callFrame
    const site = `${f.functionName || '(anonymous)'} ${path.basename(f.url || '')}:${f.lineNumber + 1}:${f.columnNumber + 1}`
    const self = node.selfSize ?? 0
    if (self) by.set(site, (by.get(site) ?? 0) + self)
    for (const c of node.children ?? []) visit(c)
  }
  visit(profile.head)
  return [...by].sort((a, b) => b[1] - a[1]).slice(0, n).map(([site, bytes]) => [site, bytes / 2 ** 20])
}

const run = promisify(execFile)
const kubectl = (args, input) => {
  const p = run('kubectl', ['--kubeconfig', env.kubeconfig, ...args], { maxBuffer: 256 << 20 })
  if (input !== undefined) p.child.stdin.end(input)
  return p
}
const count = Number(process.argv.slice(2).find(a => /^\d+$/.test(a)) ?? 500)
const oursOnly = process.argv.includes('--ours-only')
const id = `scale-${randomBytes(3).toString('hex')}`
const namespaces = Array.from({ length: 10 }, (_, i) => `${id}-${i}`)
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-bench-'))
// Bundle the TypeScript sources once, as the action itself is built (same plugins, minified).
const { build } = await import('esbuild')
const { builtinsByRequire, declarePure } = await import('../scripts/esbuild-plugins.mjs')
await build({
  entryPoints: [path.join(repo, 'bench/rollout-lib.ts')],
  outfile: path.join(out, 'index.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  // names left readable when profiling
  minify: !process.env.KUBE_SHIP_BENCH_PROFILE,
  plugins: [builtinsByRequire, declarePure],
  // bundled CommonJS packages call require()
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning'
})
const bundle = path.join(out, 'index.js')

const nodes = []
async function pool(name, n, pods) {
  const items = Array.from({ length: n }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: `${name}-${i}`,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { type: 'kwok-pool', [POOL]: name, 'kubernetes.io/hostname': `${name}-${i}` }
    },
    spec: { taints: [{ key: POOL, value: name, effect: 'NoSchedule' }] },
    status: { allocatable: { cpu: '64', memory: '256Gi', pods: String(pods) }, capacity: { cpu: '64', memory: '256Gi', pods: String(pods) } }
  }))
  nodes.push(...items.map(i => i.metadata.name))
  await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }))
  for (let i = 0; i < 120; i++) {
    const { stdout } = await kubectl(['get', 'nodes', '-l', `${POOL}=${name}`, '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'])
    if (stdout.split('\n').filter(s => s === 'True').length === n) return name
    await new Promise(r => setTimeout(r, 500))
  }
  throw new Error(`pool ${name} never became Ready`)
}

function deployment(ns, name, tag, o = {}) {
  const labels = { app: name, bench: id }
  if (o.behavior) labels['sim.kube-ship.dev/behavior'] = o.behavior
  const spec = { containers: [{ name: 'web', image: image(tag), ...(o.requests ? { resources: { requests: o.requests } } : {}) }] }
  if (o.pool) Object.assign(spec, { nodeSelector: { [POOL]: o.pool }, tolerations: [{ key: POOL, operator: 'Equal', value: o.pool, effect: 'NoSchedule' }] })
  const annotations = o.readyDelay ? { 'sim.kube-ship.dev/ready-delay': o.readyDelay } : undefined
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: { bench: id } },
    spec: { replicas: o.replicas ?? 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels, annotations }, spec } }
  }
}
const target = d => ({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: d.metadata.namespace, name: d.metadata.name })

async function child(objects, stallWindowMs) {
  const input = path.join(out, `in-${randomBytes(3).toString('hex')}.json`)
  const output = `${input}.out`
  fs.writeFileSync(input, JSON.stringify({ bundle, objects, targets: objects.map(target), stallWindowMs }))
  const flags = (process.env.KUBE_SHIP_BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean)
  const p = spawn(process.execPath, [...flags, import.meta.filename, '--child', input, output], { stdio: ['ignore', 'ignore', 'inherit'] })
  const code = await new Promise(r => p.on('exit', r))
  if (code !== 0) throw new Error(`wait process exited ${code}`)
  return JSON.parse(fs.readFileSync(output, 'utf8'))
}

// An independent observer: one kubectl watch over every namespace stamps when each Deployment
// first satisfies the rollout rule for the given generation.
function observe(generation) {
  const finished = new Map()
  const child = execFile('kubectl', ['--kubeconfig', env.kubeconfig, 'get', 'deployments', '-A', '-l', `bench=${id}`, '--watch', '--output-watch-events', '-o', 'json'], { maxBuffer: 1 << 30 })
  let buf = ''
  child.stdout.on('data', chunk => {
    buf += chunk
    for (let end; (end = buf.indexOf('\n')) >= 0; ) {
      const line = buf.slice(0, end).trim()
      buf = buf.slice(end + 1)
      if (!line) continue
      let o
      try {
        o = JSON.parse(line).object
      } catch {
        continue
      }
      if (o?.kind !== 'Deployment' || !o.spec) continue
      const s = o.status ?? {}
      const key = `Deployment/${o.metadata.namespace}/${o.metadata.name}`
      if (finished.has(key) || o.metadata.generation < generation || (s.observedGeneration ?? 0) < o.metadata.generation) continue
      if ((s.updatedReplicas ?? 0) >= o.spec.replicas && (s.replicas ?? 0) <= (s.updatedReplicas ?? 0) && (s.availableReplicas ?? 0) >= (s.updatedReplicas ?? 0)) finished.set(key, Date.now())
    }
  })
  return { finished, stop: () => child.kill() }
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]
const fmt = ms => `${ms >= 0 ? '+' : ''}${ms.toFixed(0)}ms`

try {
  for (const ns of namespaces) await kubectl(['create', 'namespace', ns])
  // 3/4 of the Deployments with 1 replica, 1/4 with 2; the pool holds pods + 20%, so surge pods
  // (1 per Deployment under the default 25% maxSurge) mostly wait for old pods to go.
  const replicas = i => (i % 4 === 3 ? 2 : 1)
  const total = Array.from({ length: count }, (_, i) => replicas(i)).reduce((a, b) => a + b, 0)
  const perNode = Math.ceil((total * 1.2) / 3)
  const big = await pool(`${id}-p`, 3, perNode)
  const all = tag => Array.from({ length: count }, (_, i) => deployment(namespaces[i % namespaces.length], `web-${i}`, tag, { replicas: replicas(i), pool: big }))
  console.log(`${count} Deployments (${total} pods) in ${namespaces.length} namespaces on 3 nodes holding ${3 * perNode} pods; surge wants ${total + count}`)

  const first = await child(all('v1'))
  if (first.outcomes.some(o => o.state !== 'done')) throw new Error(`first rollout: ${first.outcomes.filter(o => o.state !== 'done').length} not done`)

  const watch = observe(2)
  await new Promise(r => setTimeout(r, 1000))
  const second = await child(all('v2'))
  await new Promise(r => setTimeout(r, 1000))
  watch.stop()
  const done = second.outcomes.filter(o => o.state === 'done')
  const notDone = second.outcomes.filter(o => o.state !== 'done')
  // Deployments the cluster finished while later namespaces were still being applied get their
  // verdict when the wait starts: that is apply time, not verdict latency, so they are set apart.
  const during = done.filter(o => watch.finished.has(o.resource) && watch.finished.get(o.resource) >= second.started)
  const lag = during.map(o => o.at - watch.finished.get(o.resource))
  const r = second.requests
  console.log(`kube-ship: ${done.length}/${count} done, ${notDone.length} failed${notDone.length ? ` (${[...new Set(notDone.map(o => o.reason))].join(', ')}: ${notDone[0].message})` : ''}, wait ${(second.ms / 1000).toFixed(1)}s`)
  console.log(`  verdict after the cluster finished (independent kubectl watch; ${lag.length} finished during the wait, ${done.length - lag.length} during the apply): median ${fmt(pct(lag, 50))}, p99 ${fmt(pct(lag, 99))}, max ${fmt(Math.max(...lag))}`)
  console.log(`  wait requests: ${r.list} list, ${r.watch} watch, ${r.get} get, ${r.other} other (${namespaces.length} namespaces, 1 kind)`)
  const m = second.peakMiB
  console.log(`  peak RSS of the waiting process (apply + wait): ${second.maxRssMiB.toFixed(0)} MiB (peaks: V8 heap used ${m.heapUsed.toFixed(0)} of ${m.heapTotal.toFixed(0)} MiB, external ${m.external.toFixed(0)} MiB, array buffers ${m.arrayBuffers.toFixed(0)} MiB)`)
  if (process.env.KUBE_SHIP_BENCH_SPACES)
    console.log(`  V8 heap spaces at the RSS peak (MiB): ${JSON.stringify(second.spacesAtPeak)}; peaks by the end of the apply: RSS ${second.applyPeakMiB.rss.toFixed(0)} MiB, heap ${second.applyPeakMiB.heapTotal.toFixed(0)} MiB`)
  if (second.allocated) console.log(`  allocated by the apply + wait (sampled, MiB, by function):\n${second.allocated.map(([site, mib]) => `    ${mib.toFixed(1)}  ${site}`).join('\n')}`)
  if (!oursOnly) await againstKubectlAndLookalikes(all, second)
} finally {
  await kubectl(['delete', 'namespace', ...namespaces, '--wait=false']).catch(() => undefined)
  if (nodes.length) await kubectl(['delete', 'node', ...nodes, '--wait=false']).catch(() => undefined)
  fs.rmSync(out, { recursive: true, force: true })
}
process.exit(0)

async function againstKubectlAndLookalikes(all, second) {
  const r = second.requests

  // The same rollout waited the kubectl way: apply, then `kubectl rollout status` one by one.
  const v3 = all('v3')
  for (const ns of namespaces)
    await kubectl(['apply', '--server-side', '--field-manager', 'kube-ship', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: v3.filter(d => d.metadata.namespace === ns) }))
  const applied = Date.now()
  let kubectlRequests = 0
  let kubectlFailed = 0
  for (const d of v3) {
    const res = await kubectl(['-v=6', '-n', d.metadata.namespace, 'rollout', 'status', `deployment/${d.metadata.name}`, '--timeout=600s']).catch(e => (kubectlFailed++, e))
    kubectlRequests += (String(res.stderr ?? '').match(/ (GET|POST|PUT|PATCH) https?:\/\//g) ?? []).length
  }
  const kubectlMs = Date.now() - applied
  console.log(`kubectl rollout status, sequential: ${count - kubectlFailed}/${count} done, wait ${(kubectlMs / 1000).toFixed(1)}s, ${kubectlRequests} requests`)
  console.log(`  ratios (kubectl / kube-ship): wait time ${(kubectlMs / second.ms).toFixed(1)}x, requests ${(kubectlRequests / (r.list + r.watch + r.get + r.other)).toFixed(1)}x`)

  // 2. Look-alikes (must end done) and real failures (time to the verdict), one namespace each.
  const ns = namespaces[0]
  const small = await pool(`${id}-s`, 1, 4)
  const before = [
    deployment(ns, 'like-slow-pull', 'v1', { replicas: 2 }),
    deployment(ns, 'like-crash-once', 'v1', { replicas: 2 }),
    deployment(ns, 'like-probe-twice', 'v1', { replicas: 2 }),
    deployment(ns, 'like-surge-full', 'v1', { replicas: 4, pool: small })
  ]
  await child(before)
  const lookalikes = await child([
    deployment(ns, 'like-slow-pull', 'v2', { replicas: 2, behavior: 'slow-pull' }),
    deployment(ns, 'like-crash-once', 'v2', { replicas: 2, behavior: 'crash-once' }),
    deployment(ns, 'like-probe-twice', 'v2', { replicas: 2, behavior: 'probe-twice' }),
    // each surge pod waits ~35s (longer than the old 30s rule) for an old pod to go
    deployment(ns, 'like-surge-full', 'v2', { replicas: 4, pool: small, readyDelay: '35s' })
  ])
  for (const o of lookalikes.outcomes) console.log(`look-alike ${o.resource.split('/').pop()}: ${o.state}${o.state === 'done' ? '' : ` (${o.message})`}`)
  const failures = await child([
    deployment(ns, 'real-image-pull-backoff', 'v1', { behavior: 'image-pull-backoff' }),
    deployment(ns, 'real-crashloop', 'v1', { behavior: 'crashloop' }),
    deployment(ns, 'real-never-fits', 'v1', { requests: { cpu: '1000' } })
  ])
  for (const o of failures.outcomes)
    console.log(`real failure ${o.resource.split('/').pop()}: ${o.state} ${o.reason ?? ''}, verdict ${(o.durationMs / 1000).toFixed(1)}s after the apply`)
}
