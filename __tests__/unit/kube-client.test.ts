import { describe, expect, it } from '@jest/globals'
import { loadKubeConfig } from '../../src/kube/client.js'
import { DeployError } from '../../src/errors.js'
import { rollbackBudgetMs, waitTargets } from '../../src/strategies/rolling.js'
import type { Applied } from '../../src/kube/apply.js'

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
