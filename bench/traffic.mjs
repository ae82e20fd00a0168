// Requests through the stack's real router (Traefik on 127.0.0.1) while kube-ship deploys, for
// both traffic routers side by side (nginx: Ingress NGINX provider; gateway-api: HTTPRoute
// weights). test/stack/up.sh must be up. One run each, per router:
//   1. rolling update (maxUnavailable 0) by kube-ship, and the same by kubectl apply + rollout
//      status: failed requests under constant load (goal 0)
//   2. canary promote (steps 10/25/50 %): the share of 400 requests served by the new digest at
//      each step against the plan, and failed requests through the promotion (goal 0)
//   3. canary abort (the run is cancelled during the 50 % step): failed requests (goal 0), and
//      the time from the abort decision to the last request the router sent to the canary
//   4. blue-green switch (a first run from a rolling Deployment, then a later run): requests the
//      new colour served before its switch (goal 0) and failed requests (goal 0)
// "Failed" is a user's view: no answer, or a 5xx (every version here answers 200). Every request
// loop is bounded in count and in time; every target is a 127.0.0.0/8 address.
//   scripts/node24 bench/traffic.mjs [nginx|gateway-api ...]
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'

const repo = path.resolve(import.meta.dirname, '..')
const state = process.env.KUBE_SHIP_STATE ?? '/tmp/kube-ship-stack'
const env = JSON.parse(fs.readFileSync(path.join(state, 'env.json'), 'utf8'))
const run = promisify(execFile)
const kubectl = (args, input) => {
  const p = run('kubectl', ['--kubeconfig', env.kubeconfig, ...args], { maxBuffer: 64 << 20 })
  if (input !== undefined) p.child.stdin.end(input)
  return p
}
const routers = process.argv.length > 2 ? process.argv.slice(2) : ['nginx', 'gateway-api']
for (const url of [env.router.nginx, env.router.gateway, env.router.api])
  if (!/^http:\/\/127\.\d+\.\d+\.\d+:\d+(\/|$)/.test(url)) throw new Error(`not a loopback router address: ${url}`)

// Bundle the TypeScript sources once (esbuild, as the action itself is built).
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-bench-'))
const { build } = await import('esbuild')
await build({
  entryPoints: [path.join(repo, 'bench/traffic-lib.ts')],
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

// The strategies' core.info/warning lines go to a log file, so stdout holds only the figures.
const logFile = path.join(os.tmpdir(), `kube-ship-bench-traffic-${process.pid}.log`)
const log = fs.openSync(logFile, 'w')
const print = process.stdout.write.bind(process.stdout)
process.stdout.write = chunk => (fs.writeSync(log, String(chunk)), true)
const say = line => print(`${line}\n`)

const id = randomBytes(3).toString('hex')
const image = `${env.registry}/bench/traffic`
const digest = n => `sha256:${String(n).repeat(64)}`
const N = 400

function app(d, podLabels = {}, replicas = 3) {
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas,
        selector: { matchLabels: { app: 'web' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels: { app: 'web', ...podLabels } },
          spec: { terminationGracePeriodSeconds: 10, containers: [{ name: 'web', image: `${image}@${d}`, ports: [{ containerPort: 8080 }] }] }
        }
      }
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }
  ]
}

// The same routes as __tests__/e2e/traffic.test.ts: one path per namespace.
function routeFor(router, ns) {
  if (router === 'nginx')
    return {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web', annotations: { 'nginx.ingress.kubernetes.io/service-upstream': 'true' } },
      spec: { ingressClassName: 'nginx', rules: [{ http: { paths: [{ path: `/${ns}`, pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }] } }] }
    }
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'web' },
    spec: { parentRefs: [env.router.gatewayRef], rules: [{ matches: [{ path: { type: 'PathPrefix', value: `/${ns}` } }], backendRefs: [{ name: 'web', port: 80 }] }] }
  }
}

function context(ns, d, strategy, inputs, objects, signal = AbortSignal.timeout(240_000)) {
  const settings = lib.readSettings(name => ({ namespace: ns, image, digest: d, strategy, timeout: '4m', ...inputs })[name] ?? '')
  const kc = new lib.KubeConfig()
  kc.loadFromFile(env.kubeconfig)
  const report = lib.newReport({ environment: 'bench', mode: 'deploy', strategy, image: { ref: image, digest: d, tags: [], built: false } })
  const documents = objects.map((object, i) => ({ object, origin: { file: 'app.yaml', line: 1 + i * 20 } }))
  return { kc, settings, documents, report, signal }
}

/** Bounded: until 40 requests in a row are answered 200 by `d`. */
async function servedOnlyBy(url, d, timeoutMs = 40_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const answers = await lib.sample(url, 40, { concurrency: 2, deadlineMs: 10_000 })
    if (answers.length === 40 && answers.every(a => a.status === 200 && a.digest === d)) return
    if (Date.now() > deadline) throw new Error(`${url} not served only by ${d} within ${timeoutMs / 1000}s: ${JSON.stringify(lib.tally(answers))}`)
    await new Promise(r => setTimeout(r, 250))
  }
}

const failed = answers => answers.filter(lib.failedRequest).length
const pct = x => `${(100 * x).toFixed(1)} %`
const results = []
const namespaces = []

async function bench(router) {
  const ns = `bench-traffic-${id}-${router === 'nginx' ? 'ng' : 'gw'}`
  namespaces.push(ns)
  const url = `${router === 'nginx' ? env.router.nginx : env.router.gateway}/${ns}/`
  const route = routeFor(router, ns)
  const r = { router }
  results.push(r)
  await kubectl(['create', 'namespace', ns])
  await kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...app(digest(1)), route] }))
  await kubectl(['rollout', 'status', '-n', ns, 'deployment/web', '--timeout=120s'])
  await servedOnlyBy(url, digest(1))

  // 1. Rolling, kube-ship then kubectl, under the same load.
  let load = lib.stampedLoad(url, { maxMs: 200_000 })
  await lib.runRolling(context(ns, digest(2), 'rolling', {}, app(digest(2))))
  await servedOnlyBy(url, digest(2))
  let answers = await load.stop()
  r.rolling = { failed: failed(answers), n: answers.length }
  load = lib.stampedLoad(url, { maxMs: 200_000 })
  await kubectl(['apply', '--server-side', '--field-manager', 'kube-ship', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: app(digest(3)) }))
  await kubectl(['rollout', 'status', '-n', ns, 'deployment/web', '--timeout=120s'])
  await servedOnlyBy(url, digest(3))
  answers = await load.stop()
  r.kubectlRolling = { failed: failed(answers), n: answers.length }

  // 1b. Rolling to a version that crashes (CrashLoopBackOff), rolled back by kube-ship.
  load = lib.stampedLoad(url, { maxMs: 200_000 })
  const crashed = await lib
    .runRolling(context(ns, digest(8), 'rolling', {}, app(digest(8), { 'sim.kube-ship.dev/behavior': 'crashloop' })))
    .then(
      () => false,
      () => true
    )
  await servedOnlyBy(url, digest(3))
  answers = await load.stop()
  if (!crashed) throw new Error('the crashing version was not rolled back')
  r.rolledBack = { failed: failed(answers), n: answers.length, crashed: answers.filter(a => a.digest === digest(8)).length }

  // 2. Canary promote: the measured share per step, then failed requests through the promotion.
  const canaryDocs = d => [...app(d), ...(router === 'nginx' ? [route] : [])]
  const steps = []
  load = lib.stampedLoad(url, { maxMs: 300_000 })
  let ctx = context(ns, digest(4), 'canary', { 'canary-steps': '10:1s,25:1s,50:1s', 'traffic-router': router }, canaryDocs(digest(4)))
  await lib.runCanaryWith(ctx, lib.stageIO(ctx), {
    onStep: async ({ step }) => {
      await lib.routerHasWeight(env.router.api, ns, step.weight)
      const s = await lib.sample(url, N, { concurrency: 4, deadlineMs: 60_000 })
      steps.push({ plan: step.weight, n: s.length, canary: s.filter(a => a.digest === digest(4)).length })
    }
  })
  await servedOnlyBy(url, digest(4))
  answers = await load.stop()
  if (ctx.report.canary.outcome !== 'promoted') throw new Error(`canary not promoted: ${ctx.report.error}`)
  r.promote = { failed: failed(answers), n: answers.length, steps }

  // 3. Canary abort: cancelled one second into the 50 % step's pause (the decision); from then
  // on the router must stop sending requests to the canary.
  const cancel = new AbortController()
  let decision = 0
  load = lib.stampedLoad(url, { maxMs: 300_000 })
  ctx = context(ns, digest(5), 'canary', { 'canary-steps': '20:1s,50:60s', 'traffic-router': router }, canaryDocs(digest(5)), AbortSignal.any([cancel.signal, AbortSignal.timeout(240_000)]))
  const aborted = await lib
    .runCanaryWith(ctx, lib.stageIO(ctx), {
      onStep: async ({ step }) => {
        await lib.routerHasWeight(env.router.api, ns, step.weight)
        if (step.weight === 50)
          setTimeout(() => {
            decision = Date.now() - load.started
            cancel.abort()
          }, 1000)
      }
    })
    .then(
      () => false,
      () => true
    )
  const returned = Date.now() - load.started
  // Keep the load 5 s past the action's return: a late canary answer would show here.
  await new Promise(res => setTimeout(res, 5000))
  answers = await load.stop()
  if (!aborted || ctx.report.canary.outcome !== 'aborted') throw new Error(`canary not aborted: ${ctx.report.canary.outcome}`)
  await servedOnlyBy(url, digest(4), 10_000)
  const toCanary = answers.filter(a => a.digest === digest(5))
  const lastCanary = Math.max(...toCanary.map(a => a.sentAt))
  const lastAnswer = Math.max(...toCanary.map(a => a.at))
  r.abort = {
    failed: failed(answers),
    n: answers.length,
    canaryBefore: toCanary.filter(a => a.sentAt < decision).length,
    canaryAfter: toCanary.filter(a => a.sentAt >= decision).length,
    lastSentMs: lastCanary - decision,
    lastAnswerMs: lastAnswer - decision,
    returnedMs: returned - decision
  }

  // 4. Blue-green: a first run (the rolling Deployment becomes a colour), then a later run.
  const switches = []
  load = lib.stampedLoad(url, { maxMs: 300_000 })
  for (const d of [digest(6), digest(7)]) {
    ctx = context(ns, d, 'blue-green', {}, app(d))
    const io = lib.stageIO(ctx)
    const s = { digest: d }
    switches.push(s)
    await lib.runBlueGreenWith(ctx, {
      apply: io.apply,
      async waitReady(objects, signal) {
        const res = await io.waitReady(objects, signal)
        // Ready, not yet switched to: it must not be served.
        s.preSwitch = (await lib.sample(url, 100, { concurrency: 4, deadlineMs: 30_000 })).filter(a => a.digest === d).length
        s.preSwitchEnd = Date.now() - load.started
        return res
      },
      probe: io.probe
    })
    await servedOnlyBy(url, d)
  }
  answers = await load.stop()
  r.blueGreen = {
    failed: failed(answers),
    n: answers.length,
    preSwitch: switches.map(s => s.preSwitch + answers.filter(a => a.digest === s.digest && a.sentAt < s.preSwitchEnd).length)
  }
}

try {
  for (const router of routers) await bench(router)
} finally {
  for (const ns of namespaces) await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined)
  fs.rmSync(out, { recursive: true, force: true })
  fs.closeSync(log)
}

say(`Requests through Traefik on the local stack, one run per router (strategy logs: ${logFile})`)
for (const r of results) {
  say(`${r.router}:`)
  say(`  rolling (maxUnavailable 0): kube-ship ${r.rolling.failed} failed of ${r.rolling.n}; kubectl apply + rollout status ${r.kubectlRolling.failed} failed of ${r.kubectlRolling.n}`)
  say(`  rolling to a crashing version, rolled back: ${r.rolledBack.failed} failed of ${r.rolledBack.n}; served by the crashing version: ${r.rolledBack.crashed}`)
  say(`  canary promote: ${r.promote.failed} failed of ${r.promote.n}; per step (plan → measured of ${N}): ${r.promote.steps.map(s => `${s.plan} % → ${pct(s.canary / s.n)}`).join(', ')}`)
  say(
    `  canary abort: ${r.abort.failed} failed of ${r.abort.n}; last request routed to the canary ${r.abort.canaryAfter ? `${r.abort.lastSentMs} ms after the abort decision (answered +${r.abort.lastAnswerMs} ms; ${r.abort.canaryAfter} sent after it)` : 'before the abort decision'}; the action returned ${(r.abort.returnedMs / 1000).toFixed(2)} s after it`
  )
  say(`  blue-green switch (first run, later run): ${r.blueGreen.failed} failed of ${r.blueGreen.n}; served by the new colour before its switch: ${r.blueGreen.preSwitch.join(', ')}`)
}
process.exit(0)
