import { describe, expect, it } from '@jest/globals'
import { loadKubeConfig } from '../../src/kube/client.js'
import { DeployError } from '../../src/errors.js'
import { rollbackBudgetMs, waitTargets } from '../../src/strategies/rolling.js'
import { type Applied, undoneByTemplate } from '../../src/kube/apply.js'
import { keptCopy } from '../../src/manifests/types.js'
import { changed, previousImage } from '../../src/kube/rollback.js'
import type { KubeObject } from '../../src/manifests/types.js'

const config = (server = 'https://127.0.0.1:6443') => `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "${server}", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: "s3cr3t-token-value"}
contexts:
- name: one
  context: {cluster: c, user: u, namespace: team-a}
- name: two
  context: {cluster: c, user: u}
current-context: one
`

function lineOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(DeployError)
    return (err as DeployError).line()
  }
  throw new Error('did not throw')
}

describe('loadKubeConfig', () => {
  it('loads the input text and its current context', () => {
    const kc = loadKubeConfig({ kubeconfig: config() })
    expect(kc.getCurrentContext()).toBe('one')
    expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443')
  })

  it('switches to context-name', () => {
    expect(loadKubeConfig({ kubeconfig: config(), contextName: 'two' }).getCurrentContext()).toBe('two')
  })

  it.each<[string, () => unknown, RegExp]>([
    ['text that does not parse', () => loadKubeConfig({ kubeconfig: 'clusters: [\n  token: s3cr3t-token-value\n :' }), /^input 'kubeconfig': the kubeconfig does not parse: /],
    ['a context that does not exist', () => loadKubeConfig({ kubeconfig: config(), contextName: 'prod' }), /^input 'context-name': context 'prod' is not in the kubeconfig \(it has: one, two\)$/],
    ['no contexts', () => loadKubeConfig({ kubeconfig: 'apiVersion: v1\nkind: Config\n' }), /has no context/],
    ['$KUBECONFIG naming nothing', () => loadKubeConfig({}, { KUBECONFIG: '/nonexistent/kubeconfig' }), /\$KUBECONFIG names no existing file/]
  ])('%s fails with one line and no secret', (_n, fn, line) => {
    const text = lineOf(fn)
    expect(text).toMatch(line)
    expect(text).not.toContain('s3cr3t')
    expect(text).not.toContain('\n')
  })
})

describe('rolling stage decisions', () => {
  it.each([
    [30_000, 60_000],
    [600_000, 300_000],
    [3_600_000, 300_000],
    [240_000, 120_000]
  ])('rollback budget for a %dms timeout is %dms', (timeout, budget) => expect(rollbackBudgetMs(timeout)).toBe(budget))

  it('waits for workloads and for whatever is not current yet', () => {
    const a = (apiVersion: string, kind: string, after: Record<string, unknown> = {}) =>
      ({ object: { apiVersion, kind, metadata: { name: kind.toLowerCase(), namespace: 'n' } }, after: { apiVersion, kind, metadata: { name: 'x' }, ...after } }) as unknown as Applied
    const targets = waitTargets([
      a('apps/v1', 'Deployment'),
      a('v1', 'ConfigMap'),
      a('batch/v1', 'Job'),
      a('example.com/v1', 'Widget', { status: { conditions: [{ type: 'Ready', status: 'False' }] } }),
      a('v1', 'Service', { spec: { type: 'ClusterIP', clusterIP: '10.0.0.1' } })
    ])
    expect(targets.map(t => t.kind)).toEqual(['Deployment', 'Job', 'Widget'])
  })
})

describe('what a run keeps of the objects it applied', () => {
  const LAST = 'kubectl.kubernetes.io/last-applied-configuration'
  const REVISION = 'deployment.kubernetes.io/revision'
  const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'registry/web@sha256:1' }] } }
  const deployment = (metadata: Record<string, unknown>): KubeObject =>
    ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'apps', ...metadata }, spec: { replicas: 2, template }, status: { replicas: 2 } }) as KubeObject

  it.each<[string, KubeObject, KubeObject]>([
    ['managedFields go', deployment({ resourceVersion: '7', managedFields: [{ manager: 'kube-ship' }] }), deployment({ resourceVersion: '7' })],
    [
      'the last-applied copy goes, other annotations stay',
      deployment({ annotations: { [LAST]: '{"big":1}', [REVISION]: '3' }, managedFields: [] }),
      deployment({ annotations: { [REVISION]: '3' } })
    ],
    ['the last-applied copy alone', deployment({ annotations: { [LAST]: '{}' } }), deployment({ annotations: {} })],
    ['nothing to drop', deployment({ uid: 'u', annotations: { a: 'b' } }), deployment({ uid: 'u', annotations: { a: 'b' } })]
  ])('keptCopy: %s', (_name, input, expected) => {
    const before = structuredClone(input)
    const kept = keptCopy(input)
    expect(kept).toEqual(expected)
    expect(input).toEqual(before)
    // shallow: spec and status are shared, not copied
    expect((kept as { spec?: unknown }).spec).toBe((input as { spec?: unknown }).spec)
  })

  it('keptCopy answers the object itself when there is nothing to drop', () => {
    const o = deployment({ uid: 'u' })
    expect(keptCopy(o)).toBe(o)
  })

  it.each<[string, string, boolean]>([
    ['apps/v1', 'Deployment', true],
    ['apps/v1', 'StatefulSet', true],
    ['apps/v1', 'DaemonSet', true],
    ['apps/v1', 'ReplicaSet', false],
    ['extensions/v1beta1', 'Deployment', false],
    ['batch/v1', 'Job', false],
    ['v1', 'ConfigMap', false]
  ])('undoneByTemplate %s %s: %s', (apiVersion, kind, expected) => {
    expect(undoneByTemplate({ apiVersion, kind })).toBe(expected)
  })

  it('rollback reads the same of a kept workload capture as of the whole one', () => {
    const whole = deployment({ resourceVersion: '7', annotations: { [LAST]: '{"x":1}', [REVISION]: '3' }, managedFields: [{ manager: 'kube-ship' }] })
    const kept = keptCopy(whole)
    const live = deployment({ resourceVersion: '9', annotations: { [REVISION]: '4' } })
    expect(changed(kept, live)).toBe(changed(whole, live))
    expect(changed(kept, whole)).toBe(false)
    const capture = (before: KubeObject) => [{ target: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'apps', name: 'web' }, resource: 'Deployment/apps/web', before }]
    expect(previousImage(capture(kept))).toBe('registry/web@sha256:1')
    expect(previousImage(capture(kept))).toBe(previousImage(capture(whole)))
  })
})
