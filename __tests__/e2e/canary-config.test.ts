// Canary and blue-green change nothing the gates have not passed, through the bundled action
// (dist/index.js) on the local stack: a new version that changes a ConfigMap its pods read, a
// Service annotation and another Deployment. While the canary / new colour runs, the stable pods
// still read the old ConfigMap (the object is untouched) and the new pods read a copy; an abort
// leaves every object of the release exactly as it was (resourceVersion); promotion updates the
// real objects. Two environments canarying one Deployment name leave each other's canary alone.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import type { TrafficRouterName } from '../../src/inputs.js'
import type { KubeObject } from '../../src/manifests/types.js'
import { errorLines, runAction, type ActionRun } from './action.js'
import { pushImage } from './helm-fixtures.js'
import { deleteNamespace, freshNamespace, kubectl, kubectlJson, kubectlResult, SIM_LABEL, stack, waitFor } from './stack.js'

const CANARY_OF = 'kube-ship.dev/canary-of'
const ENV = 'kube-ship.dev/environment'
const COLOR = 'kube-ship.dev/color'
const REPO = 'e2e/cfg-web'
let OLD = ''
let NEW = ''
let dir = ''
const repo = (): string => `${stack().registry}/${REPO}`

/** Answers 500 to requests with the canary header while failCanary is set (the health gate). */
let failCanary = false
const server = http.createServer((req, res) => {
  res.statusCode = failCanary && req.headers['x-canary'] ? 500 : 200
  res.end()
})
let healthUrl = ''

const namespaces: string[] = []
beforeAll(async () => {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  healthUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`
  OLD = await pushImage(REPO, 'v1', 'cfg-old')
  NEW = await pushImage(REPO, 'v2', 'cfg-new')
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-cfg-'))
})
afterAll(async () => {
  await new Promise<void>(resolve => server.close(() => resolve()))
  for (const ns of namespaces) await deleteNamespace(ns)
  fs.rmSync(dir, { recursive: true, force: true })
})

/** The release at a version: web reads web-config (envFrom and a volume), a Service, a worker, a route. */
function release(v: 'old' | 'new', digest: string, ns: string, router: TrafficRouterName, opts: { colour?: 'blue'; podLabels?: Record<string, string>; account?: string } = {}): KubeObject[] {
  const labels = { app: 'web', ...(opts.colour ? { [COLOR]: opts.colour } : {}), ...opts.podLabels }
  const web: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: opts.colour ? `web-${opts.colour}` : 'web', ...(opts.colour ? { labels: { [COLOR]: opts.colour } } : {}) },
    spec: {
      replicas: 1,
      selector: { matchLabels: opts.colour ? { app: 'web', [COLOR]: opts.colour } : { app: 'web' } },
      template: {
        metadata: { labels },
        spec: {
          ...(opts.account ? { serviceAccountName: opts.account } : {}),
          containers: [{ name: 'web', image: `${repo()}@${digest}`, ports: [{ containerPort: 8080 }], envFrom: [{ configMapRef: { name: 'web-config' } }], volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }],
          volumes: [{ name: 'cfg', configMap: { name: 'web-config' } }]
        }
      }
    }
  }
  const route: KubeObject =
    router === 'nginx'
      ? {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: 'web', annotations: { 'nginx.ingress.kubernetes.io/service-upstream': 'true' } },
          spec: { ingressClassName: 'nginx', rules: [{ http: { paths: [{ path: `/${ns}`, pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }] } }] }
        }
      : {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: { name: 'web' },
          spec: { parentRefs: [stack().router.gatewayRef], rules: [{ matches: [{ path: { type: 'PathPrefix', value: `/${ns}` } }], backendRefs: [{ name: 'web', port: 80 }] }] }
        }
  return [
    web,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config' }, data: { COLOR: v } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', annotations: { 'example.com/version': v } },
      spec: { selector: opts.colour ? { app: 'web', [COLOR]: opts.colour } : { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'worker' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'worker' } },
        template: { metadata: { labels: { app: 'worker' } }, spec: { containers: [{ name: 'worker', image: `${repo()}-worker@${OLD}`, env: [{ name: 'VERSION', value: v }] }] } }
      }
    },
    route,
    ...(opts.account ? [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: opts.account } }] : [])
  ]
}

/** A namespace where the old release runs (its route serves only /<namespace>). */
async function setup(prefix: string, release: (ns: string) => KubeObject[]): Promise<string> {
  const ns = await freshNamespace(prefix)
  namespaces.push(ns)
  const items = release(ns)
  await kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) })
  for (const d of items.filter(o => o.kind === 'Deployment')) await kubectl(['rollout', 'status', '-n', ns, `deployment/${d.metadata.name}`, '--timeout=120s'])
  return ns
}

/** Runs the bundled action on `documents` as the new version. */
function deploy(ns: string, documents: KubeObject[], inputs: Record<string, string>, opts: Parameters<typeof runAction>[1] = {}): Promise<ActionRun> {
  const file = path.join(dir, `${ns}-${Math.random().toString(36).slice(2)}.yaml`)
  fs.writeFileSync(file, documents.map(o => JSON.stringify(o)).join('\n---\n'))
  return runAction(
    { manifests: file, namespace: ns, image: repo(), digest: NEW, 'health-url': healthUrl, comment: 'never', 'github-deployment': 'false', timeout: '4m', ...inputs },
    { cwd: dir, ...opts, env: { KUBECONFIG: stack().kubeconfig, GITHUB_REPOSITORY: '', GITHUB_WORKSPACE: dir, ...opts.env } }
  )
}

const KINDS = 'deployments.apps,services,configmaps,secrets,serviceaccounts,ingresses.networking.k8s.io,httproutes.gateway.networking.k8s.io'
interface Snapshot {
  [key: string]: { rv: string; uid: string; content: string }
}
/** Every object of these kinds in the namespace (the release and anything a run adds), by kind/name. */
async function snapshot(ns: string): Promise<Snapshot> {
  const list = await kubectlJson<{ items: KubeObject[] }>(['get', '-n', ns, KINDS, '-o', 'json'])
  const out: Snapshot = {}
  for (const o of list.items) {
    const { resourceVersion, uid, managedFields: _m, generation: _g, ...metadata } = o.metadata as Record<string, string>
    const { status: _s, ...rest } = o as KubeObject & { status?: unknown }
    out[`${o.kind}/${o.metadata.name}`] = { rv: resourceVersion, uid, content: JSON.stringify({ ...rest, metadata }) }
  }
  return out
}

/**
 * The same objects, each unchanged: same uid and resourceVersion; an object the gateway-api
 * canary must edit and restore (the app's HTTPRoute) the same content.
 */
function expectUnchanged(after: Snapshot, before: Snapshot, restored: string[] = []): void {
  expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort())
  for (const [key, b] of Object.entries(before)) {
    const a = after[key]
    if (restored.includes(key)) expect({ key, uid: a.uid, content: a.content }).toEqual({ key, uid: b.uid, content: b.content })
    else expect({ key, uid: a.uid, rv: a.rv }).toEqual({ key, uid: b.uid, rv: b.rv })
  }
}

const get = (ns: string, what: string): Promise<any> => kubectlJson(['get', '-n', ns, what])
const canaryObjects = async (ns: string): Promise<string[]> =>
  (await kubectlResult(['get', '-n', ns, 'deployments.apps,services,ingresses.networking.k8s.io,configmaps,secrets', '-l', `${CANARY_OF}=web`, '-o', 'name'])).stdout.split('\n').filter(Boolean)

/**
 * Waits until `ready` answers true while the run is still going; a run that ends first fails the
 * test with its error lines (the state it was waiting for never came).
 */
async function whileRunning(what: string, run: Promise<ActionRun>, ready: () => Promise<boolean>): Promise<void> {
  let ended: ActionRun | undefined
  void run.then(r => (ended = r))
  await waitFor(
    what,
    async () => {
      if (await ready()) return true
      return ended ? 'ended' : false
    },
    120_000
  )
  if (ended && !(await ready())) throw new Error(`the run ended (code ${ended.code}) before ${what}: ${errorLines(ended.log).join(' | ') || ended.log.slice(-2000)}`)
}

const exists = async (ns: string, what: string): Promise<boolean> => (await kubectlResult(['get', '-n', ns, what])).code === 0

/** Until the canary pods are Ready (and the copy is there): the canary is at its first step. */
function canaryRunning(ns: string, run: Promise<ActionRun>, copy = true): Promise<void> {
  return whileRunning(`the canary of web in ${ns} to run`, run, async () => {
    const r = await kubectlResult(['get', '-n', ns, 'deployment', 'web-canary', '-o', 'jsonpath={.status.readyReplicas}'])
    return r.code === 0 && Number(r.stdout) >= 1 && (!copy || (await exists(ns, 'configmap/web-config-canary')))
  })
}

/** While the canary runs: stable reads the untouched ConfigMap, the canary its copy; nothing else moved. */
async function duringCanary(ns: string, before: Snapshot, environment: string): Promise<void> {
  const now = await snapshot(ns)
  for (const key of ['Deployment/web', 'ConfigMap/web-config', 'Service/web', 'Deployment/worker']) expect({ key, rv: now[key].rv }).toEqual({ key, rv: before[key].rv })
  const stable = await get(ns, 'deployment/web')
  expect(stable.spec.template.spec.containers[0].envFrom).toEqual([{ configMapRef: { name: 'web-config' } }])
  expect((await get(ns, 'configmap/web-config')).data).toEqual({ COLOR: 'old' })
  const canary = await get(ns, 'deployment/web-canary')
  expect(canary.spec.template.spec.containers[0].envFrom).toEqual([{ configMapRef: { name: 'web-config-canary' } }])
  expect(canary.spec.template.spec.volumes).toEqual([{ name: 'cfg', configMap: { name: 'web-config-canary', defaultMode: 420 } }])
  const copy = await get(ns, 'configmap/web-config-canary')
  expect(copy.data).toEqual({ COLOR: 'new' })
  expect(copy.metadata.labels).toMatchObject({ [CANARY_OF]: 'web', [ENV]: environment })
}

describe.each<TrafficRouterName>(['nginx', 'gateway-api'])('canary with traffic-router %s changes nothing before promotion', router => {
  const inputs = (environment: string, steps = '50:15s') => ({ strategy: 'canary', 'traffic-router': router, 'canary-steps': steps, environment })
  const restored = router === 'gateway-api' ? ['HTTPRoute/web'] : []

  it('a failed gate: every release object as before the run, the copies gone', async () => {
    const ns = await setup(`cfg-abort-${router === 'nginx' ? 'ng' : 'gw'}`, ns => release('old', OLD, ns, router))
    const before = await snapshot(ns)
    failCanary = true
    try {
      const run = deploy(ns, release('new', NEW, ns, router), inputs('cfg-a'))
      await canaryRunning(ns, run)
      await duringCanary(ns, before, 'cfg-a')
      const r = await run
      expect(r.code).toBe(1)
      expect(errorLines(r.log).join('\n')).toMatch(/canary aborted at 50%25: health gate/)
    } finally {
      failCanary = false
    }
    expectUnchanged(await snapshot(ns), before, restored)
    expect(await canaryObjects(ns)).toEqual([])
  })

  it('a cancelled run: every release object as before the run, the copies gone', async () => {
    const ns = await setup(`cfg-cancel-${router === 'nginx' ? 'ng' : 'gw'}`, ns => release('old', OLD, ns, router))
    const before = await snapshot(ns)
    const r = await deploy(ns, release('new', NEW, ns, router), inputs('cfg-a', '50:60s'), { cancel: { when: /Canary 50% .*pausing/ } })
    expect(r.code).not.toBe(0)
    expectUnchanged(await snapshot(ns), before, restored)
    expect(await canaryObjects(ns)).toEqual([])
  })

  it('promotion: the ConfigMap, the Service and the worker updated, the stable pods read the real ConfigMap, the copies gone', async () => {
    const ns = await setup(`cfg-promote-${router === 'nginx' ? 'ng' : 'gw'}`, ns => release('old', OLD, ns, router))
    const before = await snapshot(ns)
    const run = deploy(ns, release('new', NEW, ns, router), inputs('cfg-a', '50:5s'))
    await canaryRunning(ns, run)
    await duringCanary(ns, before, 'cfg-a')
    const r = await run
    expect({ code: r.code, errors: errorLines(r.log) }).toEqual({ code: 0, errors: [] })
    expect((await get(ns, 'configmap/web-config')).data).toEqual({ COLOR: 'new' })
    expect((await get(ns, 'service/web')).metadata.annotations['example.com/version']).toBe('new')
    expect((await get(ns, 'deployment/worker')).spec.template.spec.containers[0].env).toEqual([{ name: 'VERSION', value: 'new' }])
    const stable = await get(ns, 'deployment/web')
    expect(stable.spec.template.spec.containers[0].image).toBe(`${repo()}@${NEW}`)
    expect(stable.spec.template.spec.containers[0].envFrom).toEqual([{ configMapRef: { name: 'web-config' } }])
    expect(await canaryObjects(ns)).toEqual([])
  })
})

describe('two environments canarying one Deployment name in one namespace', () => {
  it("the second run's leftover removal leaves the first's live canary alone; the first promotes", async () => {
    const ns = await setup('cfg-envs', ns => release('old', OLD, ns, 'nginx'))
    const first = deploy(ns, release('new', NEW, ns, 'nginx'), { strategy: 'canary', 'canary-steps': '50:40s', environment: 'cfg-a' })
    await canaryRunning(ns, first, false)
    const theirs = await snapshot(ns)
    const second = await deploy(ns, release('new', NEW, ns, 'nginx'), { strategy: 'canary', 'canary-steps': '50:5s', environment: 'cfg-b' })
    expect(second.code).toBe(1)
    expect(second.log).not.toMatch(/Removed .*left by an earlier run/)
    expect(errorLines(second.log).join('\n')).toMatch(/web-canary is the canary of web for environment cfg-a; two environments cannot canary one Deployment at once/)
    // The first run's canary objects are the same objects, untouched.
    const now = await snapshot(ns)
    for (const key of ['Deployment/web-canary', 'Service/web-canary', 'Ingress/web-canary']) expect({ key, uid: now[key]?.uid }).toEqual({ key, uid: theirs[key].uid })
    const r = await first
    expect({ code: r.code, errors: errorLines(r.log) }).toEqual({ code: 0, errors: [] })
    expect(r.log).toMatch(/Canary promoted/)
  })
})

describe('blue-green changes nothing before the switch is verified', () => {
  const inputs = { strategy: 'blue-green', environment: 'cfg-bg' }

  it('a new colour that fails its pod gate: every object as before the run, its copies gone', async () => {
    const ns = await setup('cfg-bg-abort', ns => release('old', OLD, ns, 'nginx', { colour: 'blue' }))
    const before = await snapshot(ns)
    const run = deploy(ns, release('new', NEW, ns, 'nginx', { podLabels: { [SIM_LABEL]: 'crashloop' } }), inputs)
    // While the new colour starts: the live colour reads the untouched ConfigMap, the new one its copy.
    await whileRunning('the green colour with its copy', run, async () => (await exists(ns, 'deployment/web-green')) && (await exists(ns, 'configmap/web-config-green')))
    expect((await get(ns, 'deployment/web-green')).spec.template.spec.containers[0].envFrom).toEqual([{ configMapRef: { name: 'web-config-green' } }])
    expect((await get(ns, 'configmap/web-config')).data).toEqual({ COLOR: 'old' })
    const r = await run
    expect(r.code).toBe(1)
    expect(errorLines(r.log).join('\n')).toMatch(/blue-green green was not switched to/)
    expectUnchanged(await snapshot(ns), before)
  })

  it('a verified switch: the real objects updated; the new colour keeps its copy, the old one the real ConfigMap', async () => {
    const ns = await setup('cfg-bg-switch', ns => release('old', OLD, ns, 'nginx', { colour: 'blue' }))
    const r = await deploy(ns, release('new', NEW, ns, 'nginx'), inputs)
    expect({ code: r.code, errors: errorLines(r.log) }).toEqual({ code: 0, errors: [] })
    const service = await get(ns, 'service/web')
    expect(service.spec.selector).toEqual({ app: 'web', [COLOR]: 'green' })
    expect(service.metadata.annotations['example.com/version']).toBe('new')
    expect((await get(ns, 'configmap/web-config')).data).toEqual({ COLOR: 'new' })
    expect((await get(ns, 'deployment/worker')).spec.template.spec.containers[0].env).toEqual([{ name: 'VERSION', value: 'new' }])
    expect((await get(ns, 'deployment/web-green')).spec.template.spec.containers[0].envFrom).toEqual([{ configMapRef: { name: 'web-config-green' } }])
    expect((await get(ns, 'configmap/web-config-green')).data).toEqual({ COLOR: 'new' })
    expect((await get(ns, 'deployment/web-blue')).spec.replicas).toBe(0)
  })
})

describe('a killed run leaves early objects the next run removes; a promotion keeps them as release objects', () => {
  const EARLY_OF = 'kube-ship.dev/early-of'
  const labelsOf = async (ns: string, what: string): Promise<Record<string, string> | undefined> => {
    const r = await kubectlResult(['get', '-n', ns, what, '-o', 'json'])
    return r.code === 0 ? (JSON.parse(r.stdout).metadata.labels ?? {}) : undefined
  }
  const killed = async (ns: string, documents: KubeObject[], inputs: Record<string, string>, when: RegExp, environment: string): Promise<void> => {
    const r = await deploy(ns, documents, inputs, { cancel: { when, kill: true } })
    expect(r.code).toBe(137)
    // SIGKILL: no abort ran; the account the new template runs as was created early and stays, labelled.
    expect(await labelsOf(ns, 'serviceaccount/web-sa')).toMatchObject({ [EARLY_OF]: 'web', [ENV]: environment })
  }

  it('canary: killed, then an aborted run leaves everything as before; killed again, then a promoted run keeps the account without the early labels', async () => {
    const ns = await setup('cfg-kill-canary', ns => release('old', OLD, ns, 'nginx'))
    const before = await snapshot(ns)
    const next = release('new', NEW, ns, 'nginx', { account: 'web-sa' })
    const inputs = (steps: string) => ({ strategy: 'canary', 'canary-steps': steps, environment: 'cfg-k' })
    await killed(ns, next, inputs('50:60s'), /Canary 50% .*pausing/, 'cfg-k')
    failCanary = true
    let aborted: ActionRun
    try {
      aborted = await deploy(ns, next, inputs('50:5s'))
    } finally {
      failCanary = false
    }
    expect(aborted.code).toBe(1)
    expect(aborted.log).toMatch(new RegExp(`Removed ServiceAccount/${ns}/web-sa, left by an earlier run`))
    expect(errorLines(aborted.log).join('\n')).toMatch(/canary aborted at 50%25: health gate/)
    expectUnchanged(await snapshot(ns), before)
    expect(await canaryObjects(ns)).toEqual([])

    await killed(ns, next, inputs('50:60s'), /Canary 50% .*pausing/, 'cfg-k')
    const promoted = await deploy(ns, next, inputs('50:5s'))
    expect({ code: promoted.code, errors: errorLines(promoted.log) }).toEqual({ code: 0, errors: [] })
    // Server-side apply of the account's own document dropped the labels only the early apply set.
    const labels = await labelsOf(ns, 'serviceaccount/web-sa')
    expect(labels).toBeDefined()
    expect(Object.keys(labels!).filter(k => k === EARLY_OF || k === ENV)).toEqual([])
    expect((await get(ns, 'deployment/web')).spec.template.spec.serviceAccountName).toBe('web-sa')
    expect(await canaryObjects(ns)).toEqual([])
  })

  it('blue-green: killed, then a run that fails before the switch leaves everything as before; killed again, then a verified switch keeps the account without the early labels', async () => {
    const ns = await setup('cfg-kill-bg', ns => release('old', OLD, ns, 'nginx', { colour: 'blue' }))
    const before = await snapshot(ns)
    const inputs = { strategy: 'blue-green', environment: 'cfg-k' }
    // The new colour's first status line: its account and copy were applied before it.
    const waiting = new RegExp(`Deployment/${ns}/web-green: `)
    await killed(ns, release('new', NEW, ns, 'nginx', { account: 'web-sa' }), inputs, waiting, 'cfg-k')
    const failed = await deploy(ns, release('new', NEW, ns, 'nginx', { account: 'web-sa', podLabels: { [SIM_LABEL]: 'crashloop' } }), inputs)
    expect(failed.code).toBe(1)
    expect(failed.log).toMatch(new RegExp(`Removed ServiceAccount/${ns}/web-sa, left by an earlier run`))
    expect(errorLines(failed.log).join('\n')).toMatch(/blue-green green was not switched to/)
    expectUnchanged(await snapshot(ns), before)

    await killed(ns, release('new', NEW, ns, 'nginx', { account: 'web-sa' }), inputs, waiting, 'cfg-k')
    const switched = await deploy(ns, release('new', NEW, ns, 'nginx', { account: 'web-sa' }), inputs)
    expect({ code: switched.code, errors: errorLines(switched.log) }).toEqual({ code: 0, errors: [] })
    expect((await get(ns, 'service/web')).spec.selector).toEqual({ app: 'web', [COLOR]: 'green' })
    const labels = await labelsOf(ns, 'serviceaccount/web-sa')
    expect(labels).toBeDefined()
    expect(Object.keys(labels!).filter(k => k === EARLY_OF || k === ENV)).toEqual([])
    expect((await get(ns, 'deployment/web-green')).spec.template.spec.serviceAccountName).toBe('web-sa')
  })

  it('blue-green first deploy: a killed run leaves its new Service labelled early; the next run removes it, and its switch drops the labels', async () => {
    const ns = await freshNamespace('cfg-kill-bg-new')
    namespaces.push(ns)
    const documents = release('new', NEW, ns, 'nginx')
    const inputs = { strategy: 'blue-green', environment: 'cfg-k' }
    const r = await deploy(ns, documents, inputs, { cancel: { when: new RegExp(`Deployment/${ns}/web-blue: `), kill: true } })
    expect(r.code).toBe(137)
    expect(await labelsOf(ns, 'service/web')).toMatchObject({ [EARLY_OF]: 'web', [ENV]: 'cfg-k' })
    const next = await deploy(ns, documents, inputs)
    expect({ code: next.code, errors: errorLines(next.log) }).toEqual({ code: 0, errors: [] })
    expect(next.log).toMatch(new RegExp(`Removed Service/${ns}/web, left by an earlier run`))
    const service = await get(ns, 'service/web')
    expect(service.spec.selector).toEqual({ app: 'web', [COLOR]: 'blue' })
    expect(Object.keys(service.metadata.labels ?? {}).filter(k => k === EARLY_OF || k === ENV)).toEqual([])
  })
})
