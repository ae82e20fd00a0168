// Real requests through a real router: Traefik (its Ingress NGINX provider for the nginx router,
// its Gateway API provider for HTTPRoutes) in front of kwok pods on loopback IPs, answered by the
// stack's responder as the pod that served them (digest header). Canary weights, aborts,
// promotions, blue-green switches and rolling updates are measured as shares of requests and
// failed requests, each from a bounded request loop. Every test owns a namespace and routes only
// the path /<namespace>, so tests never share a route.
import { afterAll, describe, expect, it } from '@jest/globals'
import { KubeConfig } from '@kubernetes/client-node'
import { DeployError, describeError } from '../../src/errors.js'
import { readSettings, type TrafficRouterName } from '../../src/inputs.js'
import type { KubeObject, Manifest } from '../../src/manifests/types.js'
import { newReport } from '../../src/report/model.js'
import { runBlueGreenWith } from '../../src/strategies/blue-green.js'
import { runCanary, stageIO } from '../../src/strategies/canary.js'
import type { PlanContext, PlanFacts } from '../../src/strategies/index.js'
import { runRolling } from '../../src/strategies/rolling.js'
import { deleteNamespace, freshNamespace, kubectl, kubectlJson, SIM_HTTP, stack, waitFor } from './stack.js'
import { failedRequest, load, sample, share, tally, withinBinomial, type Answer } from './traffic.js'

const digest = (n: number): string => `sha256:${String(n).repeat(64)}`
const OLD = digest(1)
const NEW = digest(2)
const repo = (): string => `${stack().registry}/e2e/traffic`
/** Facts as deliver hands them to a plan, before it ran. */
const freshFacts = (): PlanFacts => ({ delivered: false, rolledBack: false })
/** requests per canary step: 4σ of a binomial(400, 0.2) is ±32 requests (8 points) */
const N = 400

const namespaces: string[] = []
afterAll(async () => {
  for (const ns of namespaces) await deleteNamespace(ns)
})

function app(d: string, podLabels: Record<string, string> = {}, replicas = 3): KubeObject[] {
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
          spec: { terminationGracePeriodSeconds: 10, containers: [{ name: 'web', image: `${repo()}@${d}`, ports: [{ containerPort: 8080 }] }] }
        }
      }
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }
  ]
}

/** The app's route for a router: an Ingress of class nginx, or an HTTPRoute on the stack's Gateway. */
function routeFor(router: TrafficRouterName, ns: string): KubeObject {
  if (router === 'nginx')
    return {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      // Through the Service's ClusterIP (the API server refuses loopback EndpointSlice addresses).
      metadata: { name: 'web', annotations: { 'nginx.ingress.kubernetes.io/service-upstream': 'true' } },
      spec: { ingressClassName: 'nginx', rules: [{ http: { paths: [{ path: `/${ns}`, pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }] } }] }
    }
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'web' },
    spec: { parentRefs: [stack().router.gatewayRef], rules: [{ matches: [{ path: { type: 'PathPrefix', value: `/${ns}` } }], backendRefs: [{ name: 'web', port: 80 }] }] }
  }
}

const base = (router: TrafficRouterName): string => (router === 'nginx' ? stack().router.nginx : stack().router.gateway)
const urlOf = (router: TrafficRouterName, ns: string): string => `${base(router)}/${ns}/`

/** A namespace where `d` serves through the router (the route answers with that digest). */
async function setup(router: TrafficRouterName, d = OLD, prefix = 'traffic'): Promise<string> {
  const ns = await freshNamespace(`${prefix}-${router === 'nginx' ? 'ng' : 'gw'}`)
  namespaces.push(ns)
  await kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...app(d), routeFor(router, ns)] }) })
  await kubectl(['rollout', 'status', '-n', ns, 'deployment/web', '--timeout=120s'])
  await servedOnlyBy(router, ns, d, 'the first version to be served through the router')
  return ns
}

/** Waits (bounded) until 40 requests in a row are answered 200 by `d`; returns how long it took. */
async function servedOnlyBy(router: TrafficRouterName, ns: string, d: string, what: string, timeoutMs = 30_000): Promise<number> {
  const start = Date.now()
  await waitFor(
    what,
    async () => {
      const answers = await sample(urlOf(router, ns), 40, { concurrency: 2, deadlineMs: 10_000 })
      return answers.length === 40 && answers.every(a => a.status === 200 && a.digest === d) ? true : (tally(answers) as never)
    },
    timeoutMs
  )
  return Date.now() - start
}

function context(ns: string, d: string, inputs: Record<string, string>, documents: KubeObject[], strategy: string): PlanContext {
  const settings = readSettings(name => ({ namespace: ns, image: repo(), digest: d, strategy, timeout: '4m', ...inputs })[name] ?? '')
  const kc = new KubeConfig()
  kc.loadFromFile(stack().kubeconfig)
  const report = newReport({ environment: 'e2e', mode: 'deploy', strategy: strategy as 'canary', image: { ref: repo(), digest: d, tags: [], built: false } })
  const manifests: Manifest[] = documents.map((object, i) => ({ object, origin: { file: 'app.yaml', line: 1 + i * 20 } }))
  return { kc, settings, documents: manifests, report, signal: AbortSignal.timeout(240_000) }
}

/**
 * Until Traefik routes by the weight just set: its API shows a weighted service of this
 * namespace whose canary child has `weight` (throttleDuration 0, yet the update is asynchronous).
 */
async function routerHasWeight(ns: string, weight: number): Promise<void> {
  await waitFor(
    `Traefik to route ${weight}% to the canary of ${ns}`,
    async () => {
      const raw = (await (await fetch(`${stack().router.api}/rawdata`)).json()) as { services?: Record<string, { weighted?: { services?: { name: string; weight?: number }[] } }> }
      return Object.entries(raw.services ?? {}).some(
        ([name, s]) => name.includes(ns) && (s.weighted?.services ?? []).some(c => c.name.includes('canary') && (c.weight ?? 1) === weight) && (s.weighted?.services?.length ?? 0) > 1
      )
    },
    20_000
  )
}

/** Router failures: no answer, or a 5xx the app did not send (502/503/504 mean no upstream). */
const routerFailure = (a: Answer): boolean => a.status === 0 || (a.status >= 502 && a.status <= 504)

describe.each<TrafficRouterName>(['nginx', 'gateway-api'])('traffic through Traefik, router %s', router => {
  it('canary: each step serves its weight (4σ), the header reaches only the canary, promotion fails no request', async () => {
    const ns = await setup(router, OLD, 'canary')
    const route = routeFor(router, ns)
    const traffic = load(urlOf(router, ns), { concurrency: 2, maxMs: 200_000 })
    const steps: { weight: number; n: number; canary: number; header: Record<string, number> }[] = []
    const ctx = context(ns, NEW, { 'canary-steps': '20:1s,50:1s', 'traffic-router': router }, [...app(NEW), ...(router === 'nginx' ? [route] : [])], 'canary')
    try {
      await runCanary(ctx, freshFacts(), {
        onStep: async ({ step }) => {
          await routerHasWeight(ns, step.weight)
          const answers = await sample(urlOf(router, ns), N, { concurrency: 4, deadlineMs: 60_000 })
          const header = await sample(urlOf(router, ns), 100, { concurrency: 4, deadlineMs: 30_000, headers: { 'X-Canary': 'always' } })
          steps.push({ weight: step.weight, n: answers.length, canary: answers.filter(a => a.digest === NEW).length, header: tally(header) })
          expect(tally(answers.filter(a => a.digest !== NEW && a.digest !== OLD))).toEqual({})
        }
      })
    } finally {
      await traffic.stop()
    }
    expect(ctx.report.canary.outcome).toBe('promoted')
    // The measured split, for the README's figures.
    process.stdout.write(`${router}: ${steps.map(s => `step ${s.weight}%: ${((100 * s.canary) / s.n).toFixed(1)}% of ${s.n}`).join(', ')}; ${traffic.answers.length} requests under load\n`)
    expect(steps.map(s => [s.weight, s.n, s.header])).toEqual([
      [20, N, { [NEW]: 100 }],
      [50, N, { [NEW]: 100 }]
    ])
    for (const s of steps) expect({ weight: s.weight, canary: s.canary, within4Sigma: withinBinomial(s.canary, s.n, s.weight / 100) }).toEqual({ weight: s.weight, canary: s.canary, within4Sigma: true })
    // Promotion rolled the stable Deployment to the new digest: after the old pods' grace, only it answers.
    await servedOnlyBy(router, ns, NEW, 'only the new digest after promotion', 30_000)
    const after = await sample(urlOf(router, ns), 200, { concurrency: 4 })
    expect(tally(after)).toEqual({ [NEW]: 200 })
    // Not one request failed from the first step to the end of the promotion.
    expect(tally(traffic.answers.filter(failedRequest))).toEqual({})
    expect(traffic.answers.length).toBeGreaterThan(50)
  })

  it('canary abort: a canary answering 500 fails the health gate through the router; then 0% reach it', async () => {
    const ns = await setup(router, OLD, 'abort')
    const route = routeFor(router, ns)
    const traffic = load(urlOf(router, ns), { concurrency: 2, maxMs: 200_000 })
    const health = `${base(router)}/${ns}/healthz`
    const ctx = context(ns, NEW, { 'canary-steps': '20:1s,50:1s', 'traffic-router': router, 'health-url': health }, [...app(NEW, { [SIM_HTTP]: '500' }), ...(router === 'nginx' ? [route] : [])], 'canary')
    let aborted = 0
    try {
      await expect(runCanary(ctx, freshFacts())).rejects.toThrow(DeployError)
      aborted = Date.now()
      // Bound: within 10 s of the action returning, 40 requests in a row reach only stable.
      await servedOnlyBy(router, ns, OLD, 'only stable after the abort', 10_000)
    } finally {
      await traffic.stop()
    }
    // At the first step: a weight counts once the router routes by it, so the 20% step's probe
    // already reaches the canary.
    expect(ctx.report.error).toMatch(new RegExp(`canary aborted at 20%: health gate ${health} with X-Canary: always: expected 2xx, got 500`))
    expect(ctx.report.canary).toMatchObject({ outcome: 'aborted', finalWeight: 0 })
    expect(tally(await sample(urlOf(router, ns), 200, { concurrency: 4 }))).toEqual({ [OLD]: 200 })
    // The canary's 500s were real answers through the router (it was at 20%); nothing else failed,
    // and after the action returned no request reached the canary once stable held the route.
    const late = traffic.answers.filter(a => traffic.started + a.at > aborted + 10_000)
    expect(tally(late.filter(a => a.digest !== OLD))).toEqual({})
    expect(tally(traffic.answers.filter(routerFailure))).toEqual({})
    expect(traffic.answers.some(a => a.status === 500 && a.digest === NEW)).toBe(true)
  })

  it('blue-green: no request reaches a colour before its switch, all after, none fail; a failed gate switches back', async () => {
    const ns = await setup(router, OLD, 'bluegreen')
    const url = urlOf(router, ns)
    const runs: { digest: string; switchedAt?: number; preSwitchEnd: number; preSwitch: Record<string, number> }[] = []
    const traffic = load(url, { concurrency: 2, maxMs: 400_000 })
    const deploy = async (d: string, labels: Record<string, string> = {}, health?: string): Promise<PlanContext> => {
      const run: (typeof runs)[number] = { digest: d, preSwitch: {}, preSwitchEnd: 0 }
      runs.push(run)
      const ctx = context(ns, d, health ? { 'health-url': health } : {}, app(d, labels), 'blue-green')
      const io = stageIO(ctx)
      await runBlueGreenWith(ctx, {
        apply: io.apply,
        preview: io.preview,
        async waitReady(objects, signal) {
          const results = await io.waitReady(objects, signal)
          // The new colour is Ready and unverified: the router must not send it anything yet.
          run.preSwitch = tally(await sample(url, 100, { concurrency: 4 }))
          run.preSwitchEnd = Date.now() - traffic.started
          return results
        },
        probe(headers, signal) {
          run.switchedAt = Date.now() - traffic.started
          return io.probe(headers, signal)
        }
      }, freshFacts())
      return ctx
    }
    const before = (d: string, at: number): Answer[] => traffic.answers.filter(a => a.digest === d && a.at < at)
    try {
      // First run (a rolling deploy serves), then a later run (blue serves).
      for (const d of [digest(3), digest(4)]) {
        await deploy(d)
        await servedOnlyBy(router, ns, d, `only ${d} after its switch`, 20_000)
      }
      // A colour answering 500 fails the health gate through the router and is switched back.
      const third = await deploy(digest(5), { [SIM_HTTP]: '500' }, `${base(router)}/${ns}/healthz`).then(
        () => undefined,
        (err: unknown) => err
      )
      expect(third).toBeInstanceOf(DeployError)
      await servedOnlyBy(router, ns, digest(4), 'the previous colour after the switch back', 20_000)
    } finally {
      await traffic.stop()
    }
    expect(runs.map(r => r.preSwitch)).toEqual([{ [OLD]: 100 }, { [digest(3)]: 100 }, { [digest(4)]: 100 }])
    // Up to the last moment the test can observe before the switch patch (the pod check and the
    // patch itself come after it; the switch time is only known once the patch has returned).
    for (const r of runs) expect({ digest: r.digest, beforeSwitch: before(r.digest, r.preSwitchEnd).length }).toEqual({ digest: r.digest, beforeSwitch: 0 })
    expect(tally(traffic.answers.filter(routerFailure))).toEqual({})
    // Every 5xx came from the broken colour while it was switched to, none from a switch itself.
    expect(tally(traffic.answers.filter(a => a.status >= 500 && a.digest !== digest(5)))).toEqual({})
  })

  it('rolling (maxUnavailable 0) under constant load: no request fails, then only the new digest answers', async () => {
    const ns = await setup(router, OLD, 'rolling')
    const traffic = load(urlOf(router, ns), { concurrency: 2, maxMs: 200_000 })
    try {
      await runRolling(context(ns, NEW, {}, app(NEW), 'rolling'), freshFacts())
      await servedOnlyBy(router, ns, NEW, 'only the new digest after the rollout', 30_000)
    } finally {
      await traffic.stop()
    }
    expect(tally(traffic.answers.filter(failedRequest))).toEqual({})
    expect(share(traffic.answers, NEW)).toBeGreaterThan(0)
  })

  it('rolling to a crashing version under constant load, rolled back: 0 failed requests, the old digest answers throughout', async () => {
    const ns = await setup(router, OLD, 'crash')
    const traffic = load(urlOf(router, ns), { concurrency: 2, maxMs: 200_000 })
    let outcome: unknown
    const facts = freshFacts()
    try {
      // The surge pod never turns Ready (CrashLoopBackOff); maxUnavailable 0 keeps the old pods
      // serving until the rollback has taken the new ReplicaSet down again.
      outcome = await runRolling(context(ns, NEW, {}, app(NEW, { 'sim.kube-ship.dev/behavior': 'crashloop' }), 'rolling'), facts).catch((err: unknown) => err)
      await servedOnlyBy(router, ns, OLD, 'only the old digest after the rollback', 30_000)
    } finally {
      await traffic.stop()
    }
    expect(describeError(outcome)).toMatch(/CrashLoopBackOff/)
    expect(facts).toEqual({ delivered: false, rolledBack: true })
    const live = await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])
    expect(live.spec.template.spec.containers[0].image).toBe(`${repo()}@${OLD}`)
    // The figure the data-plane issue asks to state: failed requests during a rolled-back rollout.
    expect(tally(traffic.answers.filter(failedRequest))).toEqual({})
    expect(share(traffic.answers, NEW)).toBe(0)
    expect(traffic.answers.length).toBeGreaterThan(50)
  })
})

describe('canary-metrics gate on Traefik counters', () => {
  it('aborts a canary whose 5xx ratio (traefik_service_requests_total, real PromQL) is over the threshold', async () => {
    const router: TrafficRouterName = 'nginx'
    const ns = await setup(router, OLD, 'metrics')
    const traffic = load(urlOf(router, ns), { concurrency: 2, maxMs: 200_000 })
    const sel = 'service=~"$namespace-.*canary.*"'
    const gate = `sum(rate(traefik_service_requests_total{${sel},code=~"5.."}[10s])) / sum(rate(traefik_service_requests_total{${sel}}[10s])) < 0.1`
    const ctx = context(
      ns,
      NEW,
      { 'canary-steps': '20:8s,50:1s', 'canary-metrics': gate, 'prometheus-url': stack().prometheusUrl },
      [...app(NEW, { [SIM_HTTP]: '500' }), routeFor(router, ns)],
      'canary'
    )
    try {
      await expect(runCanary(ctx, freshFacts())).rejects.toThrow(DeployError)
    } finally {
      await traffic.stop()
    }
    // A ratio, not "no data": Prometheus saw the canary's 500s through Traefik.
    expect(ctx.report.error).toMatch(/canary aborted at 20%: metric gate .*: 1 not < 0\.1/)
    expect(ctx.report.canary).toMatchObject({ outcome: 'aborted', finalWeight: 0 })
  })
})
