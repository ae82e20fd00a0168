// Rollout wait and apply against kubectl on the same local cluster (test/stack/up.sh must be up).
// Printed as ratios (kubectl time / kube-ship time; > 1 means kube-ship is faster):
//   1. waiting for 50 Deployments to roll out vs sequential `kubectl rollout status` (one run)
//   2. applying 200 objects vs `kubectl apply --server-side`: create, then unchanged; medians
//      and spread of alternating rounds, with the load average
//   3. latency from a Deployment becoming complete to the verdict, vs kubectl rollout status
//   scripts/node24 bench/rollout.mjs [--apply-only] [--rounds=5]   (--apply-only: part 2 alone)
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'

const repo = path.resolve(import.meta.dirname, '..')
const state = process.env.KUBE_SHIP_STATE ?? '/tmp/kube-ship-stack'
const env = JSON.parse(fs.readFileSync(path.join(state, 'env.json'), 'utf8'))
const run = promisify(execFile)
const kubectl = (args, input) => {
  const p = run('kubectl', ['--kubeconfig', env.kubeconfig, ...args], { maxBuffer: 64 << 20 })
  if (input !== undefined) p.child.stdin.end(input)
  return p
}

// Bundle the TypeScript sources once, as the action itself is built (same plugins, minified).
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-bench-'))
const { build } = await import('esbuild')
const { builtinsByRequire, declarePure } = await import('../scripts/esbuild-plugins.mjs')
await build({
  entryPoints: [path.join(repo, 'bench/rollout-lib.ts')],
  outfile: path.join(out, 'index.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  minify: true,
  plugins: [builtinsByRequire, declarePure],
  // bundled CommonJS packages call require()
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning'
})
const lib = await import(path.join(out, 'index.js'))
// One apply in a fresh V8 (see part 2): connect, then time applyObjects and count its requests.
fs.writeFileSync(
  path.join(out, 'apply-worker.mjs'),
  `import { parentPort, workerData } from 'node:worker_threads'
const lib = await import(${JSON.stringify(path.join(out, 'index.js'))})
try {
  const kc = lib.loadKubeConfig({}, { KUBECONFIG: workerData.kubeconfig })
  await lib.connect(kc)
  const counter = lib.countRequests(kc)
  const t0 = performance.now()
  const applied = await lib.applyObjects(kc, workerData.documents, { namespace: workerData.namespace })
  const ms = performance.now() - t0
  parentPort.postMessage({ ms, requests: counter.read(), changes: applied.map(a => a.change) })
} catch (err) {
  parentPort.postMessage({ error: String(err?.stack ?? err) })
}
`
)
const kc = lib.loadKubeConfig({}, { KUBECONFIG: env.kubeconfig })
// core.info status lines would drown the numbers.
const quiet = { onStatus: () => {} }

const ns = `bench-${randomBytes(3).toString('hex')}`
await kubectl(['create', 'namespace', ns])
const image = tag => `${env.registry}/bench/web:${tag}`
const deployment = (name, tag) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: image(tag) }] } } }
})
const docs = objects => objects.map(object => ({ object, origin: { file: 'bench.yaml', line: 1 } }))
const target = d => ({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: d.metadata.name })
const seconds = ms => `${(ms / 1000).toFixed(2)}s`
const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
/** namespaces made per round, deleted at the end */
const extra = []
const results = []
const applyOnly = process.argv.includes('--apply-only')

try {
  // 1. Fifty Deployments: roll v1 → v2 and wait with kube-ship; v2 → v3 and wait with kubectl.
  let t
  if (!applyOnly) {
  const fifty = Array.from({ length: 50 }, (_, i) => deployment(`web-${i}`, 'v1'))
  await lib.applyObjects(kc, docs(fifty), { namespace: ns })
  await lib.waitForWorkloads(kc, fifty.map(target), { signal: AbortSignal.timeout(300_000), ...quiet })

  t = performance.now()
  await lib.applyObjects(kc, docs(fifty.map(d => deployment(d.metadata.name, 'v2'))), { namespace: ns })
  const ours = await lib.waitForWorkloads(kc, fifty.map(target), { signal: AbortSignal.timeout(300_000), ...quiet })
  const oursMs = performance.now() - t
  if (!ours.every(o => o.verdict.state === 'done')) throw new Error('kube-ship wait did not finish')

  const v3 = fifty.map(d => deployment(d.metadata.name, 'v3'))
  t = performance.now()
  await kubectl(['apply', '--server-side', '--field-manager', 'kube-ship', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: v3 }))
  for (const d of v3) await kubectl(['-n', ns, 'rollout', 'status', `deployment/${d.metadata.name}`, '--timeout=300s'])
  const kubectlMs = performance.now() - t
  results.push(['wait for 50 Deployments (apply + wait)', oursMs, kubectlMs, 'sequential kubectl rollout status'])
  }

  // 2. Two hundred objects applied into empty namespaces, then again unchanged, over several
  // rounds. kube-ship and kubectl alternate (and swap who goes first each round), so machine
  // load from other work hits both alike. Each kube-ship apply runs in a fresh worker (its own
  // V8, cold JIT, one connection opened first as the action's connection check does), as each
  // action run is a fresh process; kubectl is a fresh process each time anyway.
  const many = (namespace) =>
    Array.from({ length: 200 }, (_, i) =>
      i % 4 === 0
        ? { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace }, spec: { selector: { app: `a${i}` }, ports: [{ port: 80 }] } }
        : { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace }, data: { index: String(i), blob: 'x'.repeat(512) } }
    )
  const applyWorker = namespace =>
    new Promise((resolve, reject) => {
      const w = new Worker(path.join(out, 'apply-worker.mjs'), { workerData: { kubeconfig: env.kubeconfig, namespace, documents: docs(many(namespace)) } })
      w.once('message', m => void w.terminate().then(() => resolve(m)))
      w.once('error', reject)
    })
  const kubectlApply = async namespace => {
    const t0 = performance.now()
    await kubectl(['apply', '--server-side', '--field-manager', 'kube-ship', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: many(namespace) }))
    return performance.now() - t0
  }
  const rounds = Number(process.argv.find(a => a.startsWith('--rounds='))?.slice(9) ?? 5)
  const load = [os.loadavg()[0]]
  const timings = { create: { ours: [], kubectl: [] }, unchanged: { ours: [], kubectl: [] } }
  const requests = { create: new Set(), unchanged: new Set() }
  for (let round = 0; round < rounds; round++) {
    const mine = `${ns}-r${round}`
    const theirs = `${ns}-r${round}-kubectl`
    await kubectl(['create', 'namespace', mine])
    await kubectl(['create', 'namespace', theirs])
    extra.push(mine, theirs)
    for (const what of ['create', 'unchanged']) {
      const ours = async () => {
        const r = await applyWorker(mine)
        if (r.error) throw new Error(r.error)
        const want = what === 'create' ? 'created' : 'unchanged'
        if (r.changes.length !== 200 || !r.changes.every(c => c === want)) throw new Error(`apply did not answer ${want} for 200 objects`)
        timings[what].ours.push(r.ms)
        requests[what].add(r.requests)
      }
      const other = async () => timings[what].kubectl.push(await kubectlApply(theirs))
      for (const step of round % 2 === 0 ? [ours, other] : [other, ours]) await step()
    }
  }
  load.push(os.loadavg()[0])
  // kubectl's own count, from its request log (-v=6 prints one line per request), in a namespace of its own.
  const nsC = `${ns}-count`
  await kubectl(['create', 'namespace', nsC])
  const kubectlCount = async () => {
    const r = await kubectl(['-v=6', 'apply', '--server-side', '--field-manager', 'kube-ship', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: many(nsC) }))
    return r.stderr.split('\n').filter(l => /round_trippers.*\b(GET|PATCH|POST|PUT|DELETE) https?:/.test(l)).length
  }
  const kubectlRequests = [await kubectlCount(), await kubectlCount()]
  await kubectl(['delete', 'namespace', nsC, '--wait=false'])

  // 3. Latency from complete to verdict: an independent observer (kubectl get --watch) stamps the
  // moment the Deployment's status first satisfies the rollout rule; each waiter's verdict time is
  // compared with it. Samples alternate between kube-ship and kubectl.
  const complete = (o, generation) => {
    const s = o.status ?? {}
    return o.metadata.generation >= generation && s.observedGeneration >= o.metadata.generation && (s.updatedReplicas ?? 0) >= o.spec.replicas &&
      (s.replicas ?? 0) <= (s.updatedReplicas ?? 0) && (s.availableReplicas ?? 0) >= (s.updatedReplicas ?? 0)
  }
  // kubectl get --watch ends when the API server restarts (other suites inject that fault): restart it.
  const observe = (name, generation) =>
    new Promise(resolve => {
      let done = false
      const start = () => {
        const child = execFile('kubectl', ['--kubeconfig', env.kubeconfig, '-n', ns, 'get', 'deployment', name, '--watch', '--output-watch-events', '-o', 'json'], { maxBuffer: 64 << 20 })
        let buf = ''
        child.stdout.on('data', chunk => {
          buf += chunk
          // --output-watch-events prints one compact JSON event per line.
          for (let end; (end = buf.indexOf('\n')) >= 0; ) {
            const line = buf.slice(0, end).trim()
            buf = buf.slice(end + 1)
            if (!line) continue
            const event = JSON.parse(line)
            if (!done && event.object && complete(event.object, generation)) {
              done = true
              child.kill()
              resolve(performance.now())
            }
          }
        })
        child.on('exit', () => done || setTimeout(start, 200))
      }
      start()
    })
  const latencies = { ours: [], kubectl: [] }
  let generation = 0
  for (let i = 0; i < (applyOnly ? 0 : 6); i++) {
    const d = deployment('latency', `l${i}`)
    const who = i % 2 === 0 ? 'ours' : 'kubectl'
    const gen = ++generation
    const seen = observe('latency', gen)
    await new Promise(r => setTimeout(r, 300))
    await lib.applyObjects(kc, docs([d]), { namespace: ns })
    let verdictAt
    if (who === 'ours') {
      await lib.waitForWorkloads(kc, [target(d)], { signal: AbortSignal.timeout(120_000), diagnose: false, ...quiet })
      verdictAt = performance.now()
    } else {
      await kubectl(['-n', ns, 'rollout', 'status', 'deployment/latency', '--timeout=120s'])
      verdictAt = performance.now()
    }
    latencies[who].push(verdictAt - (await seen))
  }
  console.log('kube-ship vs kubectl on the local stack (ratio = kubectl / kube-ship, > 1 means kube-ship is faster)')
  for (const [what, a, b, other] of results) console.log(`${what} (one run): kube-ship ${seconds(a)}, ${other} ${seconds(b)}, ratio ${(b / a).toFixed(1)}x`)
  const spread = xs => `${seconds(median(xs))} (${seconds(Math.min(...xs))}-${seconds(Math.max(...xs))})`
  for (const what of ['create', 'unchanged']) {
    const { ours, kubectl: theirs } = timings[what]
    const ratios = ours.map((o, i) => theirs[i] / o)
    console.log(
      `apply 200 objects (${what}), median of ${rounds} alternating rounds (min-max): kube-ship ${spread(ours)}, kubectl apply --server-side ${spread(theirs)}, ` +
        `ratio ${(median(theirs) / median(ours)).toFixed(2)}x (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x)`
    )
  }
  console.log(`load average (1 min) ${load.map(l => l.toFixed(1)).join(' → ')} on ${os.availableParallelism()} cores`)
  console.log(`API requests for 200 objects (dry run included): kube-ship ${[...requests.create].join('/')} create / ${[...requests.unchanged].join('/')} unchanged; kubectl apply --server-side ${kubectlRequests[0]} / ${kubectlRequests[1]}`)
  // Both waiters usually answer within milliseconds of the observer, so a ratio of two
  // near-zero numbers says nothing: the latencies are printed as they are.
  const ms = x => `${x >= 0 ? '+' : ''}${x.toFixed(0)}ms`
  if (!applyOnly) console.log(
    `complete → verdict latency (median of 3, relative to an independent kubectl watch): kube-ship ${ms(median(latencies.ours))}, kubectl rollout status ${ms(median(latencies.kubectl))}`
  )
} finally {
  await kubectl(['delete', 'namespace', ns, ...extra, '--wait=false'])
  fs.rmSync(out, { recursive: true, force: true })
}
process.exit(0)
