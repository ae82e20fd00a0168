// Canary runs against the real control plane. No ingress controller or gateway runs here, so
// the tests read what one would: the canary Ingress annotations and the HTTPRoute rules at each
// step (onStep hook), and every change of them in order (a watch), down to their deletion.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { spawn, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { KubeConfig, Watch } from '@kubernetes/client-node'
import { DeployError } from '../../src/errors.js'
import { readSettings } from '../../src/inputs.js'
import type { KubeObject, Manifest } from '../../src/manifests/types.js'
import { newReport } from '../../src/report/model.js'
import { runCanary, type StepEvent } from '../../src/strategies/canary.js'
import type { PlanContext, PlanFacts } from '../../src/strategies/index.js'
import { deleteNamespace, freshNamespace, kubectl, kubectlJson, kubectlResult, SIM_LABEL, stack } from './stack.js'

const REPO = '127.0.0.1:5310/e2e/shop'
const OLD = `sha256:${'1'.repeat(64)}`
const NEW = `sha256:${'2'.repeat(64)}`
const NGINX = 'nginx.ingress.kubernetes.io'

function app(digest: string, podLabels: Record<string, string> = {}): KubeObject[] {
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web', ...podLabels } }, spec: { containers: [{ name: 'web', image: `${REPO}@${digest}`, ports: [{ containerPort: 8080 }] }] } }
      }
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }
  ]
}
const ingress: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'web', annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' } },
  spec: {
    ingressClassName: 'nginx',
    tls: [{ hosts: ['shop.example'], secretName: 'shop-tls' }],
    rules: [{ host: 'shop.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }] } }]
  }
}
const route: KubeObject = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'web' },
  spec: { parentRefs: [{ name: 'gw' }], hostnames: ['shop.example'], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'web', port: 80 }] }] }
}

/** Stands in for the app behind the Ingress: 500 to requests carrying the canary header when told to. */
let failCanary = false
const server = http.createServer((req, res) => {
  res.statusCode = failCanary && req.headers['x-canary'] ? 500 : 200
  res.end()
})
let healthUrl = ''

beforeAll(async () => {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  healthUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`
})
afterAll(() => new Promise<void>(resolve => server.close(() => resolve())))

const namespaces: string[] = []
afterAll(async () => {
  for (const ns of namespaces) await deleteNamespace(ns)
})

async function setup(extra: KubeObject[]): Promise<string> {
  const ns = await freshNamespace('canary')
  namespaces.push(ns)
  await kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...app(OLD), ...extra] }) })
  await kubectl(['rollout', 'status', '-n', ns, 'deployment/web', '--timeout=120s'])
  return ns
}

function context(ns: string, inputs: Record<string, string>, documents: KubeObject[], signal: AbortSignal, kubeconfig = stack().kubeconfig): PlanContext {
  const settings = readSettings(name => ({ namespace: ns, image: REPO, digest: NEW, strategy: 'canary', timeout: '4m', 'health-url': healthUrl, ...inputs })[name] ?? '')
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfig)
  const report = newReport({ environment: 'e2e', mode: 'deploy', strategy: 'canary', image: { ref: REPO, digest: NEW, tags: [], built: false } })
  const manifests: Manifest[] = documents.map((object, i) => ({ object, origin: { file: 'app.yaml', line: 1 + i * 20 } }))
  return { kc, settings, documents: manifests, report, signal }
}

/** Facts as deliver hands them to a plan, before it ran. */
const freshFacts = (): PlanFacts => ({ delivered: false, rolledBack: false })

interface Seen {
  type: string
  annotations: Record<string, string>
}

/**
 * Every change of one Ingress, in order, as a controller's informer would see it. A watch the
 * server ends is resumed from the last resourceVersion, so no change is missed.
 */
async function watchIngress(ns: string, name: string): Promise<{ events: Seen[]; stop: () => void }> {
  const kc = new KubeConfig()
  kc.loadFromFile(stack().kubeconfig)
  const events: Seen[] = []
  const path = `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`
  let rv = (await kubectlJson(['get', '-n', ns, 'ingresses'])).metadata.resourceVersion as string
  let stopped = false
  let current: AbortController | undefined
  const start = async (): Promise<void> => {
    if (stopped) return
    current = await new Watch(kc).watch(
      path,
      { fieldSelector: `metadata.name=${name}`, resourceVersion: rv, allowWatchBookmarks: true },
      (type: string, obj: KubeObject) => {
        rv = String(obj.metadata.resourceVersion ?? rv)
        if (type !== 'BOOKMARK') events.push({ type, annotations: { ...obj.metadata.annotations } })
      },
      () => void setTimeout(() => void start().catch(() => setTimeout(() => void start(), 500)), 100)
    )
  }
  await start()
  return {
    events,
    stop: () => {
      stopped = true
      current?.abort()
    }
  }
}

async function stableState(ns: string): Promise<{ generation: number; template: unknown }> {
  const d = await kubectlJson(['get', '-n', ns, 'deployment', 'web'])
  return { generation: d.metadata.generation, template: d.spec.template }
}

async function canaryObjects(ns: string, app = 'web'): Promise<string[]> {
  const r = await kubectlResult(['get', '-n', ns, 'deployment,service,ingress', '-l', `kube-ship.dev/canary-of=${app}`, '-o', 'name'])
  return r.stdout.split('\n').filter(Boolean)
}

async function failureOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(DeployError)
    return (err as DeployError).line()
  }
  throw new Error('the canary did not fail')
}

/** The last annotations an informer saw before the canary Ingress was deleted. */
function beforeDeletion(events: Seen[]): Record<string, string> {
  const i = events.findIndex(e => e.type === 'DELETED')
  expect(i).toBeGreaterThan(0)
  return events[i - 1].annotations
}

describe('canary with ingress-nginx', () => {
  it('steps 10% then 50%, then promotes: stable rolled, weight 0, canary objects gone', async () => {
    const ns = await setup([ingress])
    const before = await stableState(ns)
    const watch = await watchIngress(ns, 'web-canary')
    const seen: { weight: string; header: string; canaryReplicas: number; canaryReady: number; stable: unknown; ingress: any; service: any }[] = []
    const ctx = context(ns, { 'canary-steps': '10:1s,50:1s' }, [...app(NEW), ingress], new AbortController().signal)
    const facts = freshFacts()
    await runCanary(ctx, facts, {
      onStep: async () => {
        const ing = await kubectlJson(['get', '-n', ns, 'ingress', 'web-canary'])
        const dep = await kubectlJson(['get', '-n', ns, 'deployment', 'web-canary'])
        const svc = await kubectlJson(['get', '-n', ns, 'service', 'web-canary'])
        seen.push({
          weight: ing.metadata.annotations[`${NGINX}/canary-weight`],
          header: ing.metadata.annotations[`${NGINX}/canary-by-header`],
          canaryReplicas: dep.spec.replicas,
          canaryReady: dep.status.readyReplicas,
          stable: await stableState(ns),
          ingress: ing,
          service: svc
        })
      }
    })
    watch.stop()

    expect(seen.map(s => [s.weight, s.header, s.canaryReplicas, s.canaryReady])).toEqual([
      ['10', 'X-Canary', 1, 1],
      ['50', 'X-Canary', 2, 2]
    ])
    // The stable Deployment does not move while the canary runs.
    for (const s of seen) expect(s.stable).toEqual(before)
    const ing = seen[0].ingress
    expect(ing.metadata.annotations[`${NGINX}/canary`]).toBe('true')
    expect(ing.metadata.annotations['cert-manager.io/cluster-issuer']).toBeUndefined()
    expect(ing.spec).toEqual({
      ingressClassName: 'nginx',
      rules: [{ host: 'shop.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web-canary', port: { name: 'http' } } } }] } }]
    })
    expect(seen[0].service.spec.selector).toEqual({ app: 'web-canary', 'kube-ship.dev/track': 'canary' })
    // The stable Service never selects canary pods.
    const pods = await kubectlJson(['get', '-n', ns, 'pods', '-l', 'app=web'])
    expect(pods.items.every((p: any) => !p.metadata.labels['kube-ship.dev/track'])).toBe(true)

    const after = await kubectlJson(['get', '-n', ns, 'deployment', 'web'])
    expect(after.spec.template.spec.containers[0].image).toBe(`${REPO}@${NEW}`)
    expect(after.status.updatedReplicas).toBe(3)
    expect(beforeDeletion(watch.events)[`${NGINX}/canary-weight`]).toBe('0')
    expect(await canaryObjects(ns)).toEqual([])
    const c = ctx.report.canary
    expect(c).toMatchObject({ router: 'nginx', outcome: 'promoted', finalWeight: 0 })
    expect(facts).toEqual({ delivered: true, rolledBack: false })
    expect(c.steps.map(s => [s.weight, s.ok])).toEqual([
      [10, true],
      [50, true]
    ])
    expect(c.steps[1].note).toContain('(X-Canary: always)')
    expect(ctx.report.health).toEqual([expect.objectContaining({ url: healthUrl, ok: true, status: 200 })])
    expect(ctx.report.resources).toEqual(
      expect.arrayContaining([
        { kind: 'Deployment', namespace: ns, name: 'web-canary', change: 'deleted' },
        { kind: 'Service', namespace: ns, name: 'web-canary', change: 'deleted' },
        { kind: 'Ingress', namespace: ns, name: 'web-canary', change: 'deleted' }
      ])
    )
  })

  it('aborts on crashing canary pods: stable untouched, no canary objects', async () => {
    const ns = await setup([ingress])
    const before = await stableState(ns)
    const ctx = context(ns, { 'canary-steps': '10:1s,50:1s' }, [...app(NEW, { [SIM_LABEL]: 'crashloop' }), ingress], new AbortController().signal)
    const facts = freshFacts()
    const line = await failureOf(runCanary(ctx, facts))
    expect(line).toMatch(/^Deployment\/canary-\w+\/web: canary aborted at 10%: .*web-canary.*(CrashLoopBackOff|crash)/)
    // Nothing of the release changed, so nothing was rolled back: the run failed.
    expect(facts).toEqual({ delivered: false, rolledBack: false })
    expect(await stableState(ns)).toEqual(before)
    expect(await canaryObjects(ns)).toEqual([])
    expect(ctx.report.canary).toMatchObject({ outcome: 'aborted', finalWeight: 0 })
    expect(ctx.report.canary.steps).toEqual([expect.objectContaining({ weight: 10, ok: false })])
  })

  it('aborts when the canary fails the health gate: weight 0 before the canary Ingress goes', async () => {
    const ns = await setup([ingress])
    const before = await stableState(ns)
    const watch = await watchIngress(ns, 'web-canary')
    failCanary = true
    try {
      const ctx = context(ns, { 'canary-steps': '10:1s,50:1s' }, [...app(NEW), ingress], new AbortController().signal)
      const line = await failureOf(runCanary(ctx, freshFacts()))
      expect(line).toContain(`canary aborted at 10%: health gate ${healthUrl} with X-Canary: always`)
      expect(ctx.report.health).toEqual([expect.objectContaining({ url: healthUrl, ok: false, status: 500 })])
      expect(ctx.report.canary).toMatchObject({ outcome: 'aborted', finalWeight: 0 })
    } finally {
      failCanary = false
      watch.stop()
    }
    const weights = watch.events.filter(e => e.type !== 'DELETED').map(e => e.annotations[`${NGINX}/canary-weight`])
    expect(weights.filter((w, i) => w !== weights[i - 1])).toEqual(['0', '10', '0'])
    expect(beforeDeletion(watch.events)[`${NGINX}/canary-by-header`]).toBeUndefined()
    expect(await stableState(ns)).toEqual(before)
    expect(await canaryObjects(ns)).toEqual([])
  })

  it('cancelled mid-step: weight 0, canary objects gone, stable untouched; a leftover is cleaned by the next run', async () => {
    const ns = await setup([ingress])
    const before = await stableState(ns)
    const watch = await watchIngress(ns, 'web-canary')
    const cancel = new AbortController()
    const ctx = context(ns, { 'canary-steps': '10:1s,50:5m', timeout: '10m' }, [...app(NEW), ingress], cancel.signal)
    const line = await failureOf(
      runCanary(ctx, freshFacts(), {
        onStep: (e: StepEvent) => {
          if (e.step.weight === 50) setTimeout(() => cancel.abort(new Error('cancelled')), 200)
        }
      })
    )
    watch.stop()
    expect(line).toContain('canary aborted at 50%: the run was cancelled')
    expect(beforeDeletion(watch.events)[`${NGINX}/canary-weight`]).toBe('0')
    expect(await stableState(ns)).toEqual(before)
    expect(await canaryObjects(ns)).toEqual([])

    // A run killed outright leaves its objects; the next run removes them before anything else.
    await kubectl(['create', 'service', 'clusterip', 'web-canary', '-n', ns, '--tcp=80:8080'])
    await kubectl(['label', 'service', 'web-canary', '-n', ns, 'kube-ship.dev/canary-of=web'])
    const next = context(ns, { 'canary-steps': '10:1s', 'canary-pause': '1s' }, [...app(NEW), ingress], new AbortController().signal)
    await runCanary(next, freshFacts())
    expect(next.report.canary.outcome).toBe('promoted')
    expect(await canaryObjects(ns)).toEqual([])
  })

  it('refuses a second canary on the same host/path before any traffic moves', async () => {
    const other = { ...ingress, metadata: { name: 'someone-else', annotations: { [`${NGINX}/canary`]: 'true', [`${NGINX}/canary-weight`]: '5' } } }
    const ns = await setup([ingress, other])
    const before = await stableState(ns)
    const ctx = context(ns, { 'canary-steps': '10:1s' }, [...app(NEW), ingress], new AbortController().signal)
    const line = await failureOf(runCanary(ctx, freshFacts()))
    expect(line).toBe(
      `input 'ingress': Ingress ${ns}/someone-else is already a canary for host shop.example path /; ingress-nginx allows one canary per host/path (wait for the other rollout to finish or delete that canary Ingress)`
    )
    expect(await canaryObjects(ns)).toEqual([])
    expect(await stableState(ns)).toEqual(before)
  })
})

describe('canary with the least-privilege Role', () => {
  it('runs to promotion with the deployer ServiceAccount of the documented Role', async () => {
    const { restrictedKubeconfig, restrictedNamespace: ns } = stack()
    // team-a is shared with other tests: an app name and host of its own.
    const name = `shop-${Math.random().toString(36).slice(2, 8)}`
    const own = (objects: KubeObject[]): KubeObject[] => JSON.parse(JSON.stringify(objects).replaceAll('"web', `"${name}`).replaceAll('shop.example', `${name}.example`))
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: own([...app(OLD), ingress]) }) })
    try {
      await kubectl(['rollout', 'status', '-n', ns, `deployment/${name}`, '--timeout=120s'])
      const ctx = context(ns, { 'canary-steps': '20:1s' }, own([...app(NEW), ingress]), new AbortController().signal, restrictedKubeconfig)
      await runCanary(ctx, freshFacts())
      expect(ctx.report.canary).toMatchObject({ outcome: 'promoted', finalWeight: 0 })
      expect((await kubectlJson(['get', '-n', ns, 'deployment', name])).spec.template.spec.containers[0].image).toBe(`${REPO}@${NEW}`)
      expect(await canaryObjects(ns, name)).toEqual([])
    } finally {
      await kubectl(['delete', '-n', ns, `deployment/${name}`, `service/${name}`, `ingress/${name}`, '--ignore-not-found', '--wait=false'])
    }
  })
})

/**
 * A real Prometheus (Debian's, installed by test/stack/up.sh) scraping a small exporter on
 * 127.0.0.1 whose series the tests set: the metrics gate queries it as it would in a cluster.
 */
describe('canary metrics gate with Prometheus', () => {
  const series = new Map<string, number>()
  const exporter = http.createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/plain; version=0.0.4')
    res.end(['# TYPE app_error_ratio gauge', ...[...series].map(([labels, v]) => `app_error_ratio{${labels}} ${v}`), ''].join('\n'))
  })
  let prometheus: ChildProcess | undefined
  let prometheusUrl = ''
  let dir = ''

  const freePort = async (): Promise<number> => {
    const probe = http.createServer()
    await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise<void>(resolve => probe.close(() => resolve()))
    return port
  }

  /** Until Prometheus has scraped the series the test just set. */
  const scraped = async (query: string, value: number): Promise<void> => {
    for (let i = 0; i < 120; i++) {
      const r = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`).catch(() => undefined)
      const body = (await r?.json().catch(() => undefined)) as any
      if (Number(body?.data?.result?.[0]?.value?.[1]) === value) return
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    throw new Error(`Prometheus at ${prometheusUrl} never returned ${value} for ${query}`)
  }

  beforeAll(async () => {
    if (!fs.existsSync('/usr/bin/prometheus')) throw new Error('/usr/bin/prometheus is missing: test/stack/up.sh installs the Debian prometheus package')
    await new Promise<void>(resolve => exporter.listen(0, '127.0.0.1', resolve))
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-prom-'))
    const config = `global: {scrape_interval: 1s}\nscrape_configs:\n- job_name: app\n  static_configs: [{targets: ['127.0.0.1:${(exporter.address() as AddressInfo).port}']}]\n`
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), config)
    const port = await freePort()
    prometheusUrl = `http://127.0.0.1:${port}`
    prometheus = spawn('/usr/bin/prometheus', [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' })
    // A worker killed mid-test must not leave Prometheus running.
    process.once('exit', () => prometheus?.kill())
  })
  afterAll(async () => {
    prometheus?.kill()
    await new Promise<void>(resolve => exporter.close(() => resolve()))
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })

  const gate = 'app_error_ratio{namespace="$namespace",deployment="$canary"} < 0.1'

  it('promotes while the canary error ratio stays under the threshold', async () => {
    const ns = await setup([ingress])
    series.set(`namespace="${ns}",deployment="web-canary"`, 0.02)
    await scraped(`app_error_ratio{namespace="${ns}"}`, 0.02)
    const ctx = context(ns, { 'canary-steps': '10:1s', 'canary-metrics': gate, 'prometheus-url': prometheusUrl }, [...app(NEW), ingress], new AbortController().signal)
    await runCanary(ctx, freshFacts())
    expect(ctx.report.canary.outcome).toBe('promoted')
    expect(ctx.report.canary.steps[0].note).toContain(`app_error_ratio{namespace="${ns}",deployment="web-canary"} = 0.02`)
  })

  it.each([
    ['a canary over the threshold', 0.5, '0.5 not < 0.1'],
    ['a canary with no data', undefined, 'no data']
  ])('aborts for %s, stable untouched', async (_name, value, message) => {
    const ns = await setup([ingress])
    const before = await stableState(ns)
    if (value !== undefined) {
      series.set(`namespace="${ns}",deployment="web-canary"`, value)
      await scraped(`app_error_ratio{namespace="${ns}"}`, value)
    }
    const ctx = context(ns, { 'canary-steps': '10:1s,50:1s', 'canary-metrics': gate, 'prometheus-url': prometheusUrl }, [...app(NEW), ingress], new AbortController().signal)
    const line = await failureOf(runCanary(ctx, freshFacts()))
    expect(line).toContain(`canary aborted at 10%: metric gate app_error_ratio{namespace="${ns}",deployment="web-canary"} < 0.1`.replace(' < 0.1', `: ${message}`))
    expect(ctx.report.canary).toMatchObject({ outcome: 'aborted', finalWeight: 0 })
    expect(await stableState(ns)).toEqual(before)
    expect(await canaryObjects(ns)).toEqual([])
  })
})

describe('canary with Gateway API', () => {
  it('splits the HTTPRoute per step with a header rule, then restores it', async () => {
    const ns = await setup([route])
    const original = (await kubectlJson(['get', '-n', ns, 'httproute', 'web'])).spec.rules
    const seen: any[] = []
    const ctx = context(ns, { 'canary-steps': '10:1s,50:1s', 'traffic-router': 'gateway-api' }, [...app(NEW)], new AbortController().signal)
    await runCanary(ctx, freshFacts(), {
      onStep: async () => {
        seen.push((await kubectlJson(['get', '-n', ns, 'httproute', 'web'])).spec.rules)
      }
    })
    expect(seen.map(rules => rules.map((r: any) => r.backendRefs.map((b: any) => `${b.name}=${b.weight}`)))).toEqual([
      [['web-canary=1'], ['web=90', 'web-canary=10']],
      [['web-canary=1'], ['web=50', 'web-canary=50']]
    ])
    expect(seen[0][0].matches).toEqual([{ path: { type: 'PathPrefix', value: '/' }, headers: [{ type: 'Exact', name: 'X-Canary', value: 'always' }] }])
    const after = await kubectlJson(['get', '-n', ns, 'httproute', 'web'])
    expect(after.spec.rules).toEqual(original)
    expect(after.metadata.annotations?.['kube-ship.dev/original-rules']).toBeUndefined()
    expect(ctx.report.canary).toMatchObject({ router: 'gateway-api', outcome: 'promoted', finalWeight: 0 })
    expect(await canaryObjects(ns)).toEqual([])
  })
})
