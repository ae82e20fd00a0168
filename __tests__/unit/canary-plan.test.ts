import { describe, expect, it } from '@jest/globals'
import type { KubeObject, Manifest } from '../../src/manifests/types.js'
import { planCanary, canaryPodProblem, type CanaryPlanInput, type LiveState } from '../../src/strategies/canary-plan.js'
import { canaryRouteRules } from '../../src/traffic/rules.js'
import { errorLine as failure } from './error-line.js'

const DIGEST = 'sha256:' + 'a'.repeat(64)
const IMAGE = `127.0.0.1:5310/shop/web@${DIGEST}`

const deployment = (over: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', annotations: { 'deployment.kubernetes.io/revision': '3', team: 'shop' } },
  spec: {
    replicas: 4,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web', tier: 'front' } }, spec: { containers: [{ name: 'web', image: IMAGE }] } },
    ...over
  }
})
const service = (name = 'web', selector: Record<string, string> = { app: 'web' }): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name },
  spec: { selector, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }], clusterIP: '10.0.0.9' }
})
const ingress = (name = 'web', annotations: Record<string, string> = {}, rules?: unknown[]): KubeObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, annotations: { 'cert-manager.io/cluster-issuer': 'le', 'nginx.ingress.kubernetes.io/proxy-body-size': '8m', ...annotations } },
  spec: {
    ingressClassName: 'nginx',
    tls: [{ hosts: ['shop.example'], secretName: 'shop-tls' }],
    rules: rules ?? [
      {
        host: 'shop.example',
        http: {
          paths: [
            { path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } },
            { path: '/api', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: 80 } } } }
          ]
        }
      },
      { host: 'other.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: 80 } } } }] } }
    ]
  }
})
const route = (rules: unknown[]): KubeObject => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web' }, spec: { parentRefs: [{ name: 'gw' }], rules } })

const doc = (object: KubeObject, line = 1): Manifest => ({ object, origin: { file: 'k8s/app.yaml', line } })

function input(over: Partial<CanaryPlanInput> = {}, live: Partial<LiveState> = {}, settings: Partial<CanaryPlanInput['settings']> = {}): CanaryPlanInput {
  return {
    documents: [doc(deployment()), doc(service(), 20)],
    image: IMAGE,
    namespace: 'shop',
    live: { deployment: deployment(), services: [], ingresses: [ingress()], httpRoutes: [], ...live },
    settings: {
      canarySteps: [
        { weight: 10, pauseMs: 1000 },
        { weight: 50, pauseMs: 1000 }
      ],
      trafficRouter: 'nginx',
      canaryHeader: 'X-Canary',
      ...settings
    },
    budgetMs: 600_000,
    changes: new Map(),
    environment: 'production',
    ...over
  }
}


describe('planCanary (nginx)', () => {
  const plan = planCanary(input())

  it('keeps the stable Deployment and the rest of the release for promotion', () => {
    expect(plan.stable.object.metadata.name).toBe('web')
    expect(plan.later.map(d => d.object.kind)).toEqual(['Service'])
    expect(plan.copies).toEqual([])
    expect(plan.namespace).toBe('shop')
    expect(plan.stableService).toBe('web')
  })

  it('builds a canary Deployment the stable Service does not select', () => {
    const d = plan.canary.deployment as any
    expect(d.metadata.name).toBe('web-canary')
    expect(d.metadata.namespace).toBe('shop')
    expect(d.metadata.labels).toMatchObject({ 'kube-ship.dev/canary-of': 'web', 'kube-ship.dev/track': 'canary' })
    expect(d.metadata.annotations).toEqual({ team: 'shop' })
    expect(d.spec.selector.matchLabels).toEqual({ app: 'web-canary', 'kube-ship.dev/track': 'canary' })
    expect(d.spec.template.metadata.labels).toEqual({ app: 'web-canary', tier: 'front', 'kube-ship.dev/track': 'canary' })
    expect(d.spec.template.spec.containers[0].image).toBe(IMAGE)
    expect(d.spec.replicas).toBe(1)
  })

  it('builds a ClusterIP canary Service selecting only canary pods, same ports', () => {
    expect(plan.canary.service.metadata.name).toBe('web-canary')
    expect(plan.canary.service.spec).toEqual({
      type: 'ClusterIP',
      selector: { app: 'web-canary', 'kube-ship.dev/track': 'canary' },
      ports: [{ name: 'http', port: 80, targetPort: 8080 }]
    })
  })

  it('builds a canary Ingress with only the stable paths, re-pointed, and only canary annotations', () => {
    expect(plan.canary.ingress).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {
        name: 'web-canary',
        namespace: 'shop',
        labels: { 'app.kubernetes.io/managed-by': 'kube-ship', 'kube-ship.dev/canary-of': 'web', 'kube-ship.dev/environment': 'production' },
        annotations: {
          'nginx.ingress.kubernetes.io/canary': 'true',
          'nginx.ingress.kubernetes.io/canary-weight': '0',
          'nginx.ingress.kubernetes.io/canary-by-header': 'X-Canary'
        }
      },
      spec: {
        ingressClassName: 'nginx',
        rules: [{ host: 'shop.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web-canary', port: { name: 'http' } } } }] } }]
      }
    })
    expect(plan.header).toEqual({ name: 'X-Canary', value: 'always' })
  })

  it('copies the legacy class annotation', () => {
    const p = planCanary(input({}, { ingresses: [ingress('web', { 'kubernetes.io/ingress.class': 'nginx' })] }))
    expect(p.canary.ingress!.metadata.annotations!['kubernetes.io/ingress.class']).toBe('nginx')
  })

  it.each([
    [1, [10, 50], [1, 1]],
    [4, [10, 50], [1, 2]],
    [10, [10, 25, 90], [1, 3, 9]],
    [0, [50], [1]]
  ])('stable %i replicas, weights %j -> canary replicas %j', (replicas, weights, expected) => {
    const p = planCanary(input({}, { deployment: deployment({ replicas }) }, { canarySteps: weights.map(weight => ({ weight, pauseMs: 0 })) }))
    expect(p.steps.map(s => s.replicas)).toEqual(expected)
  })

  it('uses the rendered replicas on a first canary', () => {
    const p = planCanary(input({}, { deployment: undefined }))
    expect(p.steps.map(s => s.replicas)).toEqual([1, 2])
  })

  it('renames In expressions on a selected key', () => {
    const d = deployment({ selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] } })
    const p = planCanary(input({ documents: [doc(d), doc(service())] }))
    expect((p.canary.deployment.spec as any).selector).toEqual({
      matchLabels: { 'kube-ship.dev/track': 'canary' },
      matchExpressions: [{ key: 'app', operator: 'In', values: ['web-canary'] }]
    })
  })

  it('finds the Service in the cluster when the manifests have none', () => {
    const p = planCanary(input({ documents: [doc(deployment())] }, { services: [service('other', { app: 'other' }), service()] }))
    expect(p.stableService).toBe('web')
  })

  it('picks the Service the named Ingress routes to when two select the pods', () => {
    const p = planCanary(input({ documents: [doc(deployment()), doc(service()), doc(service('web-admin'))] }, {}, { ingress: 'web' }))
    expect(p.stableService).toBe('web')
  })

  it('ignores our own leftover canary Ingress when checking for a second canary', () => {
    const canary = ingress('web-canary', { 'nginx.ingress.kubernetes.io/canary': 'true' })
    const leftover = { ...canary, metadata: { ...canary.metadata, labels: { 'kube-ship.dev/canary-of': 'web', 'kube-ship.dev/environment': 'production' } } }
    expect(planCanary(input({}, { ingresses: [ingress(), leftover] })).canary.ingress).toBeDefined()
  })
})

describe('planCanary bad input, before any traffic moves', () => {
  const other = ingress('someone-canary', { 'nginx.ingress.kubernetes.io/canary': 'True' })
  it.each<[string, CanaryPlanInput, RegExp]>([
    ['named Ingress missing', input({}, {}, { ingress: 'nope' }), /^input 'ingress': Ingress shop\/nope does not exist/],
    [
      'named Ingress without a rule for the Service',
      input({}, { ingresses: [ingress('web', {}, [{ host: 'x', http: { paths: [{ path: '/', backend: { service: { name: 'api', port: { number: 80 } } } }] } }])] }, { ingress: 'web' }),
      /^input 'ingress': Ingress shop\/web has no rule for Service web/
    ],
    ['named Ingress is a canary', input({}, { ingresses: [other] }, { ingress: 'someone-canary' }), /is itself a canary Ingress/],
    ['no Ingress routes to the Service', input({}, { ingresses: [] }), /^input 'ingress': no Ingress in shop routes to Service web/],
    ['two Ingresses route to the Service', input({}, { ingresses: [ingress('a'), ingress('b')] }), /Ingresses a, b all route to Service web; name one in 'ingress'/],
    ['second canary on the host/path', input({}, { ingresses: [ingress(), other] }), /Ingress shop\/someone-canary is already a canary for host shop.example path \//],
    [
      'pauses longer than the deadline',
      input({ budgetMs: 90_000 }, {}, { canarySteps: [{ weight: 10, pauseMs: 60_000 }, { weight: 20, pauseMs: 60_000 }] }),
      /^input 'canary-steps': the pauses add up to 2m but only 1m30s is left before the timeout/
    ],
    [
      'a foreign object has the canary Service name',
      input({}, { services: [service('web-canary', { app: 'other' })] }),
      /^Service\/shop\/web-canary: Service shop\/web-canary exists and is not a canary of web; the canary would overwrite it \(rename or delete it\)$/
    ],
    [
      'a foreign Deployment has the canary name',
      input({}, { canaryDeployment: { ...deployment(), metadata: { name: 'web-canary' } } }),
      /^Deployment\/shop\/web-canary: Deployment shop\/web-canary exists and is not a canary of web/
    ],
    ['a foreign Ingress has the canary name', input({}, { ingresses: [ingress(), ingress('web-canary', {}, [])] }), /^Ingress\/shop\/web-canary: .* is not a canary of web/],
    ['no Deployment runs the image', input({ image: `127.0.0.1:5310/shop/other@${DIGEST}` }), /^input 'strategy': no Deployment in the manifests runs/],
    [
      'two Deployments run the image',
      input({ documents: [doc(deployment()), doc({ ...deployment(), metadata: { name: 'web2' } }), doc(service())] }),
      /2 Deployments run .* \(web, web2\)/
    ],
    ['no Service selects the pods', input({ documents: [doc(deployment()), doc(service('web', { app: 'x' }))] }), /^k8s\/app.yaml:1: no Service selects the pods of Deployment web/],
    ['HTTPRoute missing', input({}, {}, { trafficRouter: 'gateway-api', httpRoute: 'nope' }), /^input 'http-route': HTTPRoute shop\/nope does not exist/],
    ['no HTTPRoute for the Service', input({}, {}, { trafficRouter: 'gateway-api' }), /^input 'http-route': no HTTPRoute in shop has a backendRef to Service web/],
    [
      'HTTPRoute already split',
      input({}, { httpRoutes: [route([{ backendRefs: [{ name: 'web', port: 80 }, { name: 'web-v2', port: 80 }] }])] }, { trafficRouter: 'gateway-api' }),
      /rule 1 already splits traffic/
    ]
  ])('%s', (_name, bad, expected) => {
    expect(failure(() => planCanary(bad))).toMatch(expected)
  })
})

describe('gateway-api plan and rules', () => {
  const rules = [
    { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'web', port: 80 }] },
    { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: 'api', port: 80 }] }
  ]
  const plan = planCanary(input({}, { ingresses: [], httpRoutes: [route(rules)] }, { trafficRouter: 'gateway-api' }))

  it('records the route and its original rules, no canary Ingress', () => {
    expect(plan.route).toEqual({ name: 'web', rules })
    expect(plan.canary.ingress).toBeUndefined()
  })

  it.each([0, 10, 50])('weight %i: header rule first, then the split', weight => {
    expect(canaryRouteRules(rules, 'web', 'web-canary', 'shop', weight, plan.header)).toEqual([
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ type: 'Exact', name: 'X-Canary', value: 'always' }] }],
        backendRefs: [{ name: 'web-canary', port: 80, weight: 1 }]
      },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' } }],
        backendRefs: [
          { name: 'web', port: 80, weight: 100 - weight },
          { name: 'web-canary', port: 80, weight }
        ]
      },
      rules[1]
    ])
  })

  it('gives a rule without matches the default match, and a named rule a new name', () => {
    const out = canaryRouteRules([{ name: 'main', backendRefs: [{ name: 'web', port: 80 }] }], 'web', 'web-canary', 'shop', 5, plan.header)
    expect(out[0]).toEqual({
      name: 'main-canary',
      matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ type: 'Exact', name: 'X-Canary', value: 'always' }] }],
      backendRefs: [{ name: 'web-canary', port: 80, weight: 1 }]
    })
    expect(out[1].name).toBe('main')
  })
})

describe('canaryPodProblem', () => {
  const pod = (status: unknown): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status })
  const ready = { type: 'Ready', status: 'True' }
  it.each<[string, unknown, string | undefined]>([
    ['healthy', { phase: 'Running', conditions: [ready], containerStatuses: [{ name: 'c', restartCount: 0, state: { running: {} } }] }, undefined],
    ['crash loop', { phase: 'Running', containerStatuses: [{ name: 'c', restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } }] }, 'pod p: container c keeps crashing: restarted 3 times'],
    ['restarted, now ready', { phase: 'Running', conditions: [ready], containerStatuses: [{ name: 'c', restartCount: 1, state: { running: {} } }] }, 'pod p: container c restarted 1 times'],
    ['pull failure', { phase: 'Pending', containerStatuses: [{ name: 'c', image: 'x', state: { waiting: { reason: 'ImagePullBackOff' } } }] }, 'pod p: ImagePullBackOff for image x'],
    ['pulling, not ready yet', { phase: 'Pending', containerStatuses: [{ name: 'c', state: { waiting: { reason: 'ContainerCreating' } } }] }, 'pod p is not Ready (Pending)'],
    ['not ready', { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] }, 'pod p is not Ready (Running)']
  ])('%s', (_name, status, expected) => {
    expect(canaryPodProblem([pod(status)])).toBe(expected)
  })
})

describe('planCanary: nothing of the release changes before promotion', () => {
  const withConfig = deployment({
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: IMAGE, envFrom: [{ configMapRef: { name: 'web-env' } }] }], volumes: [{ name: 'c', configMap: { name: 'static' } }] }
    }
  })
  const cm = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' } })
  const documents = [doc(withConfig), doc(service(), 20), doc(cm('web-env'), 30), doc(cm('static'), 40)]
  const changes = new Map<string, 'configured' | 'unchanged'>([
    ['apps/Deployment/shop/web', 'configured'],
    ['/Service/shop/web', 'unchanged'],
    ['/ConfigMap/shop/web-env', 'configured'],
    ['/ConfigMap/shop/static', 'unchanged']
  ])
  const plan = planCanary(input({ documents, changes, environment: 'staging' }))

  it('the canary names a copy of the changed ConfigMap and the unchanged one as it is', () => {
    const spec = (plan.canary.deployment.spec as { template: { spec: { containers: { envFrom: unknown[] }[]; volumes: unknown[] } } }).template.spec
    expect(spec.containers[0].envFrom).toEqual([{ configMapRef: { name: 'web-env-canary' } }])
    expect(spec.volumes).toEqual([{ name: 'c', configMap: { name: 'static' } }])
    expect(plan.copies.map(c => [c.object.metadata.name, c.object.metadata.labels])).toEqual([
      ['web-env-canary', { 'kube-ship.dev/canary-of': 'web', 'kube-ship.dev/environment': 'staging' }]
    ])
  })

  it('the stable Deployment keeps the real names; the changed ConfigMap waits for promotion', () => {
    expect(JSON.stringify(plan.stable.object)).not.toContain('-canary')
    expect(plan.later.map(m => m.object.metadata.name)).toEqual(['web-env'])
  })

  it('every canary object names the environment', () => {
    for (const o of [plan.canary.deployment, plan.canary.service, plan.canary.ingress!]) expect(o.metadata.labels?.['kube-ship.dev/environment']).toBe('staging')
  })

  it("refuses to overwrite another environment's live canary, naming it", () => {
    const theirs = { ...plan.canary.deployment, metadata: { ...plan.canary.deployment.metadata, labels: { 'kube-ship.dev/canary-of': 'web', 'kube-ship.dev/environment': 'production' } } }
    expect(failure(() => planCanary(input({ documents, changes, environment: 'staging' }, { canaryDeployment: theirs })))).toMatch(
      /Deployment\/shop\/web-canary is the canary of web for environment production; two environments cannot canary one Deployment at once/
    )
  })
})
