import { describe, expect, it } from '@jest/globals'
import { evaluate, isWorkload, type State } from '../../src/kube/status/rules.js'
import type { KubeObject } from '../../src/manifests/types.js'
import { slimWorkload } from '../../src/kube/status/observe.js'
import { progressKey } from '../../src/kube/fastfail.js'

const obj = (apiVersion: string, kind: string, rest: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name: 'web', ...meta },
  ...rest
})

const deploy = (spec: Record<string, unknown>, status: Record<string, unknown>, generation = 2) =>
  obj('apps/v1', 'Deployment', { spec, status }, { generation })

describe('Deployment (kubectl viewer)', () => {
  it.each<[string, KubeObject, State, RegExp]>([
    ['generation not observed', deploy({ replicas: 2 }, { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }), 'waiting', /spec update to be observed/],
    [
      'deadline exceeded wins over counts',
      deploy({ replicas: 2 }, { observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }),
      'failed',
      /exceeded its progress deadline/
    ],
    ['updated below spec', deploy({ replicas: 3 }, { observedGeneration: 2, replicas: 3, updatedReplicas: 1 }), 'waiting', /1 out of 3 new replicas have been updated/],
    ['old replicas pending (surge)', deploy({ replicas: 2 }, { observedGeneration: 2, replicas: 3, updatedReplicas: 2 }), 'waiting', /1 old replicas are pending termination/],
    ['available below updated', deploy({ replicas: 2 }, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 }), 'waiting', /1 of 2 updated replicas are available/],
    ['complete', deploy({ replicas: 2 }, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }), 'done', /successfully rolled out/],
    ['replicas 0 done once observed (omitted zero fields)', deploy({ replicas: 0 }, { observedGeneration: 2 }), 'done', /successfully rolled out/],
    ['observed generation ahead is observed', deploy({ replicas: 1 }, { observedGeneration: 3, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }), 'done', /rolled out/],
    ['paused with pending change fails fast', deploy({ replicas: 2, paused: true }, { observedGeneration: 2, replicas: 2, updatedReplicas: 0 }), 'failed', /paused/],
    ['paused but complete is done', deploy({ replicas: 1, paused: true }, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }), 'done', /rolled out/]
  ])('%s', (_name, o, state, message) => {
    const v = evaluate(o)
    // what the wait keeps of the object says the same
    expect(evaluate(slimWorkload(o))).toEqual(v)
    expect(v.state).toBe(state)
    expect(v.message).toMatch(message)
  })
})

const sts = (strategy: unknown, status: Record<string, unknown>, replicas = 3) =>
  obj('apps/v1', 'StatefulSet', { spec: { replicas, updateStrategy: strategy }, status }, { generation: 4 })

describe('StatefulSet (kubectl viewer)', () => {
  it.each<[string, KubeObject, State, RegExp]>([
    ['OnDelete is not waited for', sts({ type: 'OnDelete' }, {}), 'done', /OnDelete/],
    ['observedGeneration missing', sts({ type: 'RollingUpdate', rollingUpdate: {} }, { readyReplicas: 3 }), 'waiting', /spec update to be observed/],
    ['not all ready', sts({ type: 'RollingUpdate', rollingUpdate: { partition: 0 } }, { observedGeneration: 4, readyReplicas: 1 }), 'waiting', /Waiting for 2 pods to be ready/],
    [
      'partition waits for replicas-partition updated',
      sts({ type: 'RollingUpdate', rollingUpdate: { partition: 1 } }, { observedGeneration: 4, readyReplicas: 3, updatedReplicas: 1 }),
      'waiting',
      /1 out of 2 new pods/
    ],
    [
      'partition satisfied',
      sts({ type: 'RollingUpdate', rollingUpdate: { partition: 1 } }, { observedGeneration: 4, readyReplicas: 3, updatedReplicas: 2 }),
      'done',
      /partitioned roll out complete: 2 new pods/
    ],
    [
      'explicit RollingUpdate without rollingUpdate compares revisions',
      sts({ type: 'RollingUpdate' }, { observedGeneration: 4, readyReplicas: 3, updatedReplicas: 3, currentRevision: 'a', updateRevision: 'b' }),
      'waiting',
      /revision b/
    ],
    [
      'revisions equal',
      sts({ type: 'RollingUpdate' }, { observedGeneration: 4, readyReplicas: 3, currentReplicas: 3, currentRevision: 'b', updateRevision: 'b' }),
      'done',
      /complete 3 pods at revision b/
    ]
  ])('%s', (_name, o, state, message) => {
    const v = evaluate(o)
    // what the wait keeps of the object says the same
    expect(evaluate(slimWorkload(o))).toEqual(v)
    expect(v.state).toBe(state)
    expect(v.message).toMatch(message)
  })
})

const ds = (strategy: unknown, status: Record<string, unknown>) => obj('apps/v1', 'DaemonSet', { spec: { updateStrategy: strategy }, status }, { generation: 2 })

describe('DaemonSet (kubectl viewer)', () => {
  it.each<[string, KubeObject, State, RegExp]>([
    ['OnDelete', ds({ type: 'OnDelete' }, {}), 'done', /OnDelete/],
    ['not observed', ds({ type: 'RollingUpdate' }, { observedGeneration: 1 }), 'waiting', /observed/],
    ['updating', ds({ type: 'RollingUpdate' }, { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 1 }), 'waiting', /1 out of 3 new pods/],
    [
      'not available',
      ds({ type: 'RollingUpdate' }, { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 }),
      'waiting',
      /2 of 3 updated pods are available/
    ],
    ['done', ds(undefined, { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 }), 'done', /successfully rolled out/]
  ])('%s', (_name, o, state, message) => {
    const v = evaluate(o)
    // what the wait keeps of the object says the same
    expect(evaluate(slimWorkload(o))).toEqual(v)
    expect(v.state).toBe(state)
    expect(v.message).toMatch(message)
  })
})

const cond = (type: string, status: string, extra: Record<string, unknown> = {}) => ({ type, status, ...extra })

describe('other kinds (kstatus, Jobs wait for completion)', () => {
  it.each<[string, KubeObject, State]>([
    ['Job complete', obj('batch/v1', 'Job', { status: { conditions: [cond('Complete', 'True')] } }), 'done'],
    ['Job failed', obj('batch/v1', 'Job', { status: { conditions: [cond('Failed', 'True', { reason: 'BackoffLimitExceeded' })] } }), 'failed'],
    ['Job running is not done (unlike kstatus)', obj('batch/v1', 'Job', { status: { active: 1, startTime: 'x' } }), 'waiting'],
    ['Job suspended', obj('batch/v1', 'Job', { spec: { suspend: true } }), 'done'],
    ['PVC pending', obj('v1', 'PersistentVolumeClaim', { status: { phase: 'Pending' } }), 'waiting'],
    ['PVC bound', obj('v1', 'PersistentVolumeClaim', { status: { phase: 'Bound' } }), 'done'],
    ['Service ClusterIP', obj('v1', 'Service', { spec: { type: 'ClusterIP', clusterIP: '10.0.0.1' } }), 'done'],
    ['Service LoadBalancer without IP', obj('v1', 'Service', { spec: { type: 'LoadBalancer' } }), 'waiting'],
    ['ConfigMap', obj('v1', 'ConfigMap', { data: {} }), 'done'],
    ['CR Ready True', obj('example.com/v1', 'Widget', { status: { conditions: [cond('Ready', 'True')] } }), 'done'],
    ['CR Ready False', obj('example.com/v1', 'Widget', { status: { conditions: [cond('Ready', 'False')] } }), 'waiting'],
    ['CR Stalled', obj('example.com/v1', 'Widget', { status: { conditions: [cond('Stalled', 'True')] } }), 'failed'],
    ['CR Reconciling', obj('example.com/v1', 'Widget', { status: { conditions: [cond('Reconciling', 'True'), cond('Ready', 'True')] } }), 'waiting'],
    ['CR generation not observed (kstatus !=)', { ...obj('example.com/v1', 'Widget', { status: { observedGeneration: 1 } }, { generation: 2 }) }, 'waiting'],
    ['CR without status', obj('example.com/v1', 'Widget'), 'done'],
    ['terminating', obj('example.com/v1', 'Widget', {}, { deletionTimestamp: '2026-01-01T00:00:00Z' }), 'waiting'],
    ['CRD established', obj('apiextensions.k8s.io/v1', 'CustomResourceDefinition', { status: { conditions: [cond('Established', 'True')] } }), 'done'],
    ['CRD installing', obj('apiextensions.k8s.io/v1', 'CustomResourceDefinition', { status: { conditions: [cond('Established', 'False', { reason: 'Installing' })] } }), 'waiting'],
    ['CRD names rejected', obj('apiextensions.k8s.io/v1', 'CustomResourceDefinition', { status: { conditions: [cond('NamesAccepted', 'False')] } }), 'failed'],
    ['Pod crashlooping', obj('v1', 'Pod', { status: { phase: 'Running', containerStatuses: [{ name: 'a', restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } }] } }), 'failed'],
    ['Pod that crashed once at start', obj('v1', 'Pod', { status: { phase: 'Running', containerStatuses: [{ name: 'a', restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } } }] } }), 'waiting'],
    ['Pod in ImagePullBackOff over a missing image', obj('v1', 'Pod', { status: { phase: 'Pending', containerStatuses: [{ name: 'a', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "r/a:1": ErrImagePull: not found' } } }] } }), 'failed'],
    // The pod watch times these (observe.PodBook): they can clear by themselves.
    ['Pod in ImagePullBackOff that names no cause', obj('v1', 'Pod', { status: { phase: 'Pending', containerStatuses: [{ name: 'a', state: { waiting: { reason: 'ImagePullBackOff' } } }] } }), 'waiting'],
    ['Pod waiting for a Secret', obj('v1', 'Pod', { status: { phase: 'Pending', containerStatuses: [{ name: 'a', state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "db" not found' } } }] } }), 'waiting'],
    ['Pod ready', obj('v1', 'Pod', { status: { phase: 'Running', conditions: [cond('Ready', 'True')] } }), 'done'],
    ['ReplicaSet short of ready', obj('apps/v1', 'ReplicaSet', { spec: { replicas: 2 }, status: { fullyLabeledReplicas: 2, availableReplicas: 2, readyReplicas: 1 } }), 'waiting']
  ])('%s', (_name, o, state) => {
    expect(evaluate(o).state).toBe(state)
    expect(evaluate(slimWorkload(o))).toEqual(evaluate(o))
  })

  it('an unschedulable bare pod waits: the pod watch judges scheduling against the rollout progress', () => {
    const p = obj(
      'v1',
      'Pod',
      { status: { phase: 'Pending', conditions: [cond('PodScheduled', 'False', { reason: 'Unschedulable', message: '0/3 nodes are available' })] } },
      { creationTimestamp: '2000-01-01T00:00:00Z' }
    )
    expect(evaluate(p)).toEqual({ state: 'waiting', message: 'pod is unschedulable: 0/3 nodes are available' })
  })
})

describe('isWorkload', () => {
  it.each([
    ['apps/v1', 'Deployment', true],
    ['apps/v1', 'StatefulSet', true],
    ['apps/v1', 'DaemonSet', true],
    ['batch/v1', 'Job', true],
    ['batch/v1', 'CronJob', false],
    ['v1', 'Service', false],
    ['example.com/v1', 'Deployment', false]
  ])('%s %s → %s', (apiVersion, kind, expected) => {
    expect(isWorkload({ apiVersion, kind })).toBe(expected)
  })
})

describe('slimWorkload: what the wait keeps of a waited object', () => {
  const full = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'apps',
      uid: 'u1',
      generation: 3,
      annotations: { 'deployment.kubernetes.io/revision': '3', 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"x"}', team: 'a' },
      managedFields: [{ manager: 'kube-ship', fieldsV1: { 'f:spec': {} } }]
    },
    spec: {
      replicas: 3,
      paused: false,
      strategy: { type: 'RollingUpdate' },
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'i', env: [{ name: 'TOKEN', value: 'secret' }] }] } }
    },
    status: { observedGeneration: 3, replicas: 4, updatedReplicas: 2, readyReplicas: 3, availableReplicas: 3, conditions: [{ type: 'Progressing', status: 'True' }] }
  } as unknown as KubeObject
  it('drops the pod template, managedFields and the last-applied copy; keeps what the rules and the owner match read', () => {
    const slim = slimWorkload(full)
    expect(JSON.stringify(slim)).not.toMatch(/managedFields|last-applied|template|secret/)
    expect(slim.metadata).toEqual({ name: 'web', namespace: 'apps', uid: 'u1', generation: 3, annotations: { 'deployment.kubernetes.io/revision': '3', team: 'a' } })
    expect(evaluate(slim)).toEqual(evaluate(full))
    expect(progressKey(slim)).toBe(progressKey(full))
    expect((slim as { status?: unknown }).status).toEqual((full as { status?: unknown }).status)
    // the object it came from is left as it was
    expect(JSON.stringify(full)).toMatch(/managedFields/)
  })
  it.each([
    ['StatefulSet', { replicas: 2, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } }, template: {}, volumeClaimTemplates: [{}] }, { observedGeneration: 1, readyReplicas: 2, updatedReplicas: 1 }],
    ['DaemonSet', { updateStrategy: { type: 'OnDelete' }, template: {} }, {}]
  ])('%s keeps its strategy and counts', (kind, spec, status) => {
    const o = { apiVersion: 'apps/v1', kind, metadata: { name: 'x', generation: 1 }, spec, status } as unknown as KubeObject
    expect(evaluate(slimWorkload(o))).toEqual(evaluate(o))
    expect(Object.keys((slimWorkload(o) as unknown as { spec: object }).spec)).not.toContain('template')
  })
})
