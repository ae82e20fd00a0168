import { describe, expect, it } from '@jest/globals'
import {
  AUTOSCALER_GRACE_MS,
  STALL_WINDOW_MS,
  autoscalerWord,
  inFlight,
  neverFits,
  nodeRefusal,
  podRequests,
  progressKey,
  quantity,
  scheduleProblem,
  schedulerSaysNeverFits
} from '../../src/kube/fastfail.js'
import { PodBook, slimPod } from '../../src/kube/status/observe.js'
import { type EventLike, SETTLE_MS } from '../../src/kube/diagnose.js'
import type { KubeObject } from '../../src/manifests/types.js'

const T0 = Date.parse('2026-01-01T00:00:00Z')
const iso = (ms: number): string => new Date(ms).toISOString()

const node = (name: string, opts: { cpu?: string; memory?: string; pods?: string; labels?: Record<string, string>; taints?: unknown[]; extra?: Record<string, string> } = {}): KubeObject =>
  ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...opts.labels } },
    spec: { taints: opts.taints },
    status: { allocatable: { cpu: opts.cpu ?? '4', memory: opts.memory ?? '16Gi', pods: opts.pods ?? '110', ...opts.extra } }
  }) as KubeObject

const pendingPod = (spec: Record<string, unknown> = {}, opts: { since?: number; message?: string; name?: string } = {}): KubeObject =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: opts.name ?? 'web-1', namespace: 'apps', uid: `uid-${opts.name ?? 'web-1'}`, creationTimestamp: iso(opts.since ?? T0) },
    spec: { containers: [{ name: 'web', image: 'reg/web:1', resources: { requests: { cpu: '500m', memory: '256Mi' } } }], ...spec },
    status: {
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          lastTransitionTime: iso(opts.since ?? T0),
          message: opts.message ?? '0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.'
        }
      ]
    }
  }) as KubeObject

const runningPod = (name: string, ready: boolean): KubeObject =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'apps', uid: `uid-${name}` },
    spec: { nodeName: 'n1', containers: [{ name: 'web', image: 'reg/web:1' }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] }
  }) as KubeObject

describe('quantities and requests', () => {
  it.each([
    ['500m', 0.5],
    ['2', 2],
    ['1.5', 1.5],
    ['128Mi', 128 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1k', 1000],
    ['1e3', 1000],
    ['bogus', NaN]
  ])('%s', (q, n) => expect(quantity(q)).toBe(n))

  it('takes the larger of the containers and an init container, with sidecars and overhead', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: {
        containers: [{ name: 'a', resources: { requests: { cpu: '1' } } }, { name: 'b', resources: { requests: { cpu: '500m', memory: '1Gi' } } }],
        initContainers: [
          { name: 'sidecar', restartPolicy: 'Always', resources: { requests: { cpu: '100m' } } },
          { name: 'migrate', resources: { requests: { cpu: '3' } } }
        ],
        overhead: { memory: '64Mi' }
      }
    } as unknown as KubeObject
    const r = podRequests(pod)
    expect(r.get('cpu')).toBeCloseTo(3.1)
    expect(r.get('memory')).toBe(2 ** 30 + 64 * 2 ** 20)
  })
})

describe('a pod that no node can ever hold', () => {
  const gpuPod = pendingPod({ containers: [{ name: 'web', resources: { requests: { 'nvidia.com/gpu': '1' } } }] })
  it.each<[string, KubeObject, KubeObject[], RegExp | undefined]>([
    ['fits a node', pendingPod(), [node('n1')], undefined],
    ['requests above every node', pendingPod({ containers: [{ name: 'web', resources: { requests: { cpu: '64' } } }] }), [node('n1'), node('n2', { cpu: '32' })], /2 nodes too small for the pod's requests \(cpu\)/],
    ['one big enough node is enough', pendingPod({ containers: [{ name: 'web', resources: { requests: { cpu: '16' } } }] }), [node('n1'), node('n2', { cpu: '32' })], undefined],
    ['an extended resource no node has', gpuPod, [node('n1')], /requests \(nvidia.com\/gpu\)/],
    ['nodeSelector nobody matches', pendingPod({ nodeSelector: { disk: 'ssd' } }), [node('n1'), node('n2', { labels: { disk: 'hdd' } })], /nodeSelector/],
    ['nodeSelector one node matches', pendingPod({ nodeSelector: { disk: 'ssd' } }), [node('n1'), node('n2', { labels: { disk: 'ssd' } })], undefined],
    [
      'required node affinity nobody matches',
      pendingPod({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z9'] }] }] } } } }),
      [node('n1', { labels: { zone: 'z1' } })],
      /node affinity/
    ],
    [
      'affinity terms are ORed',
      pendingPod({
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z9'] }] }, { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }]
            }
          }
        }
      }),
      [node('n1', { labels: { zone: 'z1' } })],
      undefined
    ],
    ['an untolerated taint on every node', pendingPod(), [node('n1', { taints: [{ key: 'team', value: 'a', effect: 'NoSchedule' }] })], /untolerated taint \{team=a:NoSchedule\}/],
    ['a tolerated taint', pendingPod({ tolerations: [{ key: 'team', operator: 'Equal', value: 'a', effect: 'NoSchedule' }] }), [node('n1', { taints: [{ key: 'team', value: 'a', effect: 'NoSchedule' }] })], undefined],
    ['tolerate everything', pendingPod({ tolerations: [{ operator: 'Exists' }] }), [node('n1', { taints: [{ key: 'team', value: 'a', effect: 'NoExecute' }] })], undefined],
    ['PreferNoSchedule does not refuse', pendingPod(), [node('n1', { taints: [{ key: 'team', effect: 'PreferNoSchedule' }] })], undefined],
    // The node lifecycle controller lifts these by itself: a NotReady or cordoned node may take the pod later.
    ['not-ready and cordon taints pass', pendingPod(), [node('n1', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] })], undefined],
    ['a full node (pods allocatable fine) is not "never"', pendingPod(), [node('n1', { pods: '1' })], undefined],
    ['no nodes known decides nothing', pendingPod({ containers: [{ name: 'web', resources: { requests: { cpu: '64' } } }] }), [], undefined]
  ])('%s', (_n, pod, nodes, expected) => {
    const why = neverFits(pod, nodes)
    expect(neverFits(slimPod(pod), nodes)).toBe(why)
    if (expected) expect(why).toMatch(expected)
    else expect(why).toBeUndefined()
  })

  it('answers for the node list it is given, the same pod asked again', () => {
    const pod = pendingPod({ containers: [{ name: 'web', resources: { requests: { cpu: '8' } } }] })
    const small = [node('n1', { cpu: '1' })]
    const large = [node('n1', { cpu: '16' })]
    expect(neverFits(pod, small)).toMatch(/too small/)
    expect(neverFits(pod, large)).toBeUndefined()
    expect(neverFits(pod, small)).toMatch(/too small/)
  })

  it('names each node reason once, with its count', () => {
    const pod = pendingPod({ nodeSelector: { disk: 'ssd' } })
    expect(neverFits(pod, [node('a'), node('b'), node('c', { labels: { disk: 'ssd' }, taints: [{ key: 'gpu', effect: 'NoSchedule' }] })])).toBe(
      "no node can ever hold the pod: 2 nodes didn't match the pod's nodeSelector, 1 node had untolerated taint {gpu:NoSchedule}"
    )
    expect(nodeRefusal(pod, node('d', { labels: { disk: 'ssd' } }))).toBeUndefined()
  })

  it.each([
    ['exceeds allocatable', '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.', true],
    ['selector and taints', "0/4 nodes are available: 1 node(s) had untolerated taint {team: a}, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.", true],
    // kube-scheduler 1.36 as the stack runs it
    ['1.36 wording', '0/7 nodes are available: 3 Insufficient cpu, 4 node(s) had untolerated taint(s). no new claims to deallocate, preemption: 0/7 nodes are available: 7 Preemption is not helpful for scheduling.', true],
    ['full: victims could be evicted', '0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.', false],
    ['partly resolvable', '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.', false],
    ['an unbound claim may bind soon', '0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.', false],
    ['no message', undefined, false]
  ])('the scheduler message alone (nodes unreadable): %s', (_n, message, expected) => expect(schedulerSaysNeverFits(message)).toBe(expected))
})

describe('scheduleProblem: Unschedulable fails only a stalled rollout or a pod that can never fit', () => {
  const still = { lastProgressAt: T0, inFlight: false }
  const big = pendingPod({ containers: [{ name: 'web', resources: { requests: { cpu: '64' } } }] })
  it.each<[string, KubeObject, Parameters<typeof scheduleProblem>[1], RegExp | undefined]>([
    ['a surge on a full cluster, old pods still terminating', pendingPod(), { now: T0 + 10 * STALL_WINDOW_MS, nodes: [node('n1')], progress: { lastProgressAt: T0, inFlight: true } }, undefined],
    ['a surge on a full cluster, something became Ready a moment ago', pendingPod(), { now: T0 + STALL_WINDOW_MS * 3, nodes: [node('n1')], progress: { lastProgressAt: T0 + STALL_WINDOW_MS * 3 - 1000, inFlight: false } }, undefined],
    ['unschedulable for less than the window', pendingPod(), { now: T0 + STALL_WINDOW_MS - 1, nodes: [node('n1')], progress: still }, undefined],
    // The old 30s rule failed here; nothing says the rollout has stopped yet.
    ['unschedulable for 31s while the rollout moved 10s ago', pendingPod(), { now: T0 + 31_000, progress: { lastProgressAt: T0 + 21_000, inFlight: false } }, undefined],
    ['stalled: nothing moved for the whole window', pendingPod(), { now: T0 + STALL_WINDOW_MS, nodes: [node('n1')], progress: still }, /made no progress for 120s with this pod unschedulable: 0\/3 nodes/],
    ['a shorter window when asked', pendingPod(), { now: T0 + 10_000, progress: still, windowMs: 10_000 }, /no progress for 10s/],
    ['the window counts from the pod turning unschedulable', pendingPod({}, { since: T0 + 100_000 }), { now: T0 + STALL_WINDOW_MS + 50_000, progress: still }, undefined],
    ['can never fit, no autoscaler: at once, progress or not', big, { now: T0 + 1, nodes: [node('n1'), node('n2')], progress: { lastProgressAt: T0, inFlight: true }, autoscaling: 'none' }, /^no node can ever hold the pod: 2 nodes too small for the pod's requests \(cpu\) \(scheduler: 0\/3 nodes are available: 3 Too many pods\. preemption: 0\/3 nodes are available: 3 No preemption victims found for incoming pod\.\)$/],
    [
      'can never fit by the scheduler message when nodes are unreadable',
      pendingPod({}, { message: '0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.' }),
      { now: T0 + 1, nodes: 'unreadable', progress: { lastProgressAt: T0, inFlight: true }, autoscaling: 'none' },
      /^no node can ever hold the pod \(scheduler: 0\/3 nodes are available: 3 Insufficient memory/
    ],
    ['nodes not listed yet: no never-fit verdict from the message', pendingPod({}, { message: '0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.' }), { now: T0 + 1, progress: still, autoscaling: 'none' }, undefined],
    ['can never fit on today\'s nodes, but the autoscaler is adding one for it', big, { now: T0 + 1, nodes: [node('n1')], progress: still, autoscaling: 'none', word: 'coming' }, undefined],
    ['stalled for the whole window, but the autoscaler is adding a node', pendingPod(), { now: T0 + STALL_WINDOW_MS * 2, nodes: [node('n1')], progress: still, word: 'coming' }, undefined],
    // Where an autoscaler may run, today's nodes are not the last word until it had its scans.
    ['can never fit, an autoscaler runs and has not spoken yet', big, { now: T0 + AUTOSCALER_GRACE_MS - 1, nodes: [node('n1')], progress: still, autoscaling: 'present' }, undefined],
    ['can never fit, an autoscaler may run (cannot tell) and has not spoken yet', big, { now: T0 + AUTOSCALER_GRACE_MS - 1, nodes: [node('n1')], progress: still, autoscaling: 'unknown' }, undefined],
    ['can never fit, not known yet whether an autoscaler runs (nor what it said), long after any grace', big, { now: T0 + 10 * AUTOSCALER_GRACE_MS, nodes: [node('n1')], progress: still }, undefined],
    ['can never fit, not known yet whether an autoscaler runs, but one already said no', big, { now: T0 + 1, nodes: [node('n1')], progress: still, word: 'refused' }, /^no node can ever hold the pod: .*\)$/],
    ['can never fit, the autoscaler silent for its whole grace', big, { now: T0 + AUTOSCALER_GRACE_MS, nodes: [node('n1')], progress: still, autoscaling: 'present' }, /^no node can ever hold the pod: 1 node too small .*\); no autoscaler offered a node in 30s$/],
    ['a shorter grace when asked', big, { now: T0 + 5_000, nodes: [node('n1')], progress: still, autoscaling: 'unknown', graceMs: 5_000 }, /no autoscaler offered a node in 5s$/],
    ['the grace counts from the pod turning unschedulable', pendingPod(big.spec as Record<string, unknown>, { since: T0 + 20_000 }), { now: T0 + AUTOSCALER_GRACE_MS + 1_000, nodes: [node('n1')], progress: still, autoscaling: 'present' }, undefined],
    ['can never fit, the autoscaler already said no: at once', big, { now: T0 + 1, nodes: [node('n1')], progress: still, autoscaling: 'present', word: 'refused' }, /^no node can ever hold the pod: 1 node too small .*\)$/],
    ['can never fit by the message, an autoscaler may run: waits', pendingPod({}, { message: '0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.' }), { now: T0 + 1, nodes: 'unreadable', progress: still, autoscaling: 'unknown' }, undefined],
    ['fits somewhere (a surge), an autoscaler runs: the stall rule alone decides', pendingPod(), { now: T0 + AUTOSCALER_GRACE_MS * 2, nodes: [node('n1')], progress: still, autoscaling: 'present' }, undefined],
    ['scheduled pods are not judged here', { ...pendingPod(), spec: { nodeName: 'n1', containers: [] } } as KubeObject, { now: T0 + 10 * STALL_WINDOW_MS, progress: still }, undefined]
  ])('%s', (_n, pod, facts, expected) => {
    const p = scheduleProblem(pod, facts)
    expect(scheduleProblem(slimPod(pod), facts)).toEqual(p)
    if (expected) {
      expect(p?.reason).toBe('Unschedulable')
      expect(p?.message).toMatch(expected)
    } else expect(p).toBeUndefined()
  })
})

describe('autoscalerWord: the autoscaler\'s newest word on the pod', () => {
  const ev = (reason: string, at: number, extra: Record<string, unknown> = {}): EventLike => ({ reason, lastTimestamp: new Date(T0 + at).toISOString().replace(/\.\d+Z$/, 'Z'), ...extra })
  const karpenter = (at: number): EventLike =>
    ev('FailedScheduling', at, { source: { component: 'karpenter' }, message: 'Failed to schedule pod, incompatible with nodepool "default", incompatible requirements, key pool, pool In [gpu] not in pool In [general]' })
  it.each<[string, EventLike[], 'coming' | 'refused' | undefined]>([
    ['no autoscaler event', [ev('Unhealthy', 0)], undefined],
    ['a scale-up triggered for it', [ev('TriggeredScaleUp', 0, { message: 'pod triggered scale-up: [{pool-a 1->2 (max: 10)}]' })], 'coming'],
    ['triggered, then the scale-up failed', [ev('TriggeredScaleUp', 0), ev('FailedScaleUp', 20_000)], 'refused'],
    ['no group would help, then a later loop found one', [ev('NotTriggerScaleUp', 0), ev('TriggeredScaleUp', 10_000)], 'coming'],
    ['triggered, then no longer helping', [ev('TriggeredScaleUp', 0), ev('NotTriggerScaleUp', 10_000)], 'refused'],
    ['the order the watch delivered them does not matter', [ev('FailedScaleUp', 20_000), ev('TriggeredScaleUp', 0)], 'refused'],
    ['a failure in the same second answers that scale-up', [ev('TriggeredScaleUp', 5_000), ev('FailedScaleUp', 5_000)], 'refused'],
    ['same second, failure listed first', [ev('FailedScaleUp', 5_000), ev('TriggeredScaleUp', 5_000)], 'refused'],
    ['an event with only eventTime (events.k8s.io)', [{ reason: 'TriggeredScaleUp', eventTime: iso(T0) }], 'coming'],
    ['Karpenter nominated a node claim for it', [ev('Nominated', 0, { source: { component: 'karpenter' }, message: 'Pod should schedule on: nodeclaim/default-x7k2q' })], 'coming'],
    ['Karpenter found no node pool that can hold it', [karpenter(0)], 'refused'],
    ['Karpenter refused, then nominated once a pool changed', [karpenter(0), ev('Nominated', 10_000)], 'coming'],
    ['Karpenter refusal reported through events.k8s.io (reportingComponent)', [{ ...karpenter(0), source: undefined, reportingComponent: 'karpenter' }], 'refused'],
    ['the scheduler\'s own FailedScheduling is no autoscaler\'s word', [ev('FailedScheduling', 0, { source: { component: 'default-scheduler' }, message: '0/3 nodes are available: 3 Insufficient cpu.' })], undefined],
    ['a FailedScheduling of unknown origin is not a refusal', [ev('FailedScheduling', 0, { message: 'Failed to schedule pod, no instance type' })], undefined]
  ])('%s', (_n, events, expected) => expect(autoscalerWord(events)).toBe(expected))
})

describe('progress observations', () => {
  it.each([
    ['starting on a node', runningPod('a', false), true],
    ['ready', runningPod('a', true), false],
    ['terminating', { ...runningPod('a', true), metadata: { name: 'a', deletionTimestamp: iso(T0) } } as KubeObject, true],
    ['unscheduled', pendingPod(), false]
  ])('in flight: %s', (_n, pod, expected) => expect(inFlight(pod)).toBe(expected))

  it('the status counts of a rollout', () => {
    const d = (status: Record<string, number>) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, status }) as KubeObject
    expect(progressKey(d({ replicas: 2, updatedReplicas: 1 }))).toBe(progressKey(d({ updatedReplicas: 1, replicas: 2 })))
    expect(progressKey(d({ replicas: 2, readyReplicas: 1 }))).not.toBe(progressKey(d({ replicas: 2, readyReplicas: 2 })))
  })
})

describe('PodBook: each update judges only the pod it concerns', () => {
  it('a surge keeps waiting while others become Ready, and fails once everything stops', () => {
    const book = new PodBook(T0, { windowMs: 10_000 })
    book.setNodes([node('n1')])
    expect(book.pod(pendingPod(), T0)).toBeUndefined()
    expect(book.hasPending()).toBe(true)
    // Another pod of the run starts, then becomes Ready: the clock restarts from there.
    expect(book.pod(runningPod('other', false), T0 + 5_000)).toBeUndefined()
    expect(book.recheck(undefined, T0 + 20_000)).toEqual([])
    expect(book.pod(runningPod('other', true), T0 + 20_000)).toBeUndefined()
    expect(book.recheck(undefined, T0 + 29_000)).toEqual([])
    const [stalled] = book.recheck(undefined, T0 + 30_000)
    expect(stalled.problem.message).toMatch(/no progress for 10s/)
    // An old pod going away is progress too.
    book.podDeleted(runningPod('old', true), T0 + 31_000)
    expect(book.recheck('apps', T0 + 35_000)).toEqual([])
  })

  it('probe events count once each at their latest count, for the pod they name, and a Ready pod is past them', () => {
    const book = new PodBook(T0)
    const starting = runningPod('web-1', false)
    book.pod(starting, T0)
    const ev = (name: string, count: number) => ({
      metadata: { name, namespace: 'apps' },
      involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'apps', uid: 'uid-web-1' },
      reason: 'Unhealthy',
      message: 'Readiness probe failed: 503',
      count
    })
    // The same event updated twice is two failures, not 1 + 2.
    expect(book.event('ADDED', ev('e1', 1), T0)).toBeUndefined()
    expect(book.event('MODIFIED', ev('e1', 2), T0)).toBeUndefined()
    expect(book.pod(runningPod('web-1', true), T0)).toBeUndefined()
    expect(book.event('MODIFIED', ev('e1', 3), T0)).toBeUndefined()
    book.pod(starting, T0)
    expect(book.event('MODIFIED', ev('e1', 3), T0)?.problem.reason).toBe('ProbeFailure')
    // Events of an earlier pod with the same name do not count against the new one.
    expect(book.pod({ ...starting, metadata: { ...starting.metadata, uid: 'uid-new' } } as KubeObject, T0)).toBeUndefined()
  })

  it('a pod the autoscaler is adding a node for keeps waiting until the scale-up fails', () => {
    const book = new PodBook(T0, { windowMs: 10_000 })
    book.setNodes([node('n1', { cpu: '1' })])
    const big = pendingPod({ containers: [{ name: 'web', resources: { requests: { cpu: '8' } } }] })
    const ev = (name: string, reason: string, at: number) => ({
      metadata: { name, namespace: 'apps', managedFields: [{ manager: 'cluster-autoscaler' }] },
      involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'apps', uid: 'uid-web-1' },
      source: { component: 'cluster-autoscaler' },
      reason,
      message: `${reason} for pod`,
      lastTimestamp: iso(T0 + at)
    })
    expect(book.event('ADDED', ev('e1', 'TriggeredScaleUp', 0), T0)).toBeUndefined()
    expect(book.pod(big, T0)).toBeUndefined()
    expect(book.recheck(undefined, T0 + 60_000)).toEqual([])
    // An event of an earlier pod of that name is not this pod's.
    const other = { ...ev('e0', 'FailedScaleUp', 70_000), involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'apps', uid: 'uid-old' } }
    expect(book.event('ADDED', other, T0 + 70_000)).toBeUndefined()
    const failed = book.event('ADDED', ev('e2', 'FailedScaleUp', 80_000), T0 + 80_000)
    expect(failed?.problem.message).toMatch(/^no node can ever hold the pod/)
  })

  it('where an autoscaler may run, a pod no node holds waits its grace, then fails; a refusal ends the wait at once', () => {
    const book = new PodBook(T0, { graceMs: 30_000 })
    book.setNodes([node('n1', { cpu: '1' })])
    const spec = { containers: [{ name: 'web', resources: { requests: { cpu: '8' } } }] }
    // Not known yet whether an autoscaler runs: no verdict.
    expect(book.pod(pendingPod(spec), T0)).toBeUndefined()
    book.setAutoscaling('present')
    expect(book.recheck(undefined, T0 + 29_000)).toEqual([])
    const [silent] = book.recheck(undefined, T0 + 30_000)
    expect(silent.problem.message).toMatch(/^no node can ever hold the pod: 1 node too small for the pod's requests \(cpu\) .*; no autoscaler offered a node in 30s$/)
    // Karpenter's own FailedScheduling for another pod, well inside that pod's grace.
    expect(book.pod(pendingPod(spec, { name: 'web-2', since: T0 + 30_000 }), T0 + 30_000)).toBeUndefined()
    const refusal = {
      metadata: { name: 'k1', namespace: 'apps' },
      involvedObject: { kind: 'Pod', name: 'web-2', namespace: 'apps', uid: 'uid-web-2' },
      source: { component: 'karpenter' },
      reason: 'FailedScheduling',
      message: 'Failed to schedule pod, incompatible with nodepool "default"',
      lastTimestamp: iso(T0 + 31_000)
    }
    expect(book.event('ADDED', refusal, T0 + 31_000)?.problem.message).toMatch(/^no node can ever hold the pod: .*\)$/)
  })

  it('a node update that changes nothing the fit reads keeps the node list; one that does is judged anew', () => {
    const book = new PodBook(T0)
    book.setAutoscaling('none')
    book.setNodes([node('n1', { cpu: '1' })])
    const big = pendingPod({ containers: [{ name: 'web', resources: { requests: { cpu: '8' } } }] })
    const nodesOf = (): unknown => (book as unknown as { nodes: unknown }).nodes
    const listed = nodesOf()
    const heartbeat = { ...node('n1', { cpu: '1' }), status: { allocatable: { cpu: '1', memory: '16Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: iso(T0) }] } } as KubeObject
    book.setNode('MODIFIED', heartbeat)
    expect(nodesOf()).toBe(listed)
    // The node grows: the remembered "never fits" must not outlive the list it was worked out for.
    book.setNode('MODIFIED', node('n1', { cpu: '16' }))
    expect(book.pod(big, T0)).toBeUndefined()
    book.setNode('MODIFIED', node('n1', { cpu: '1' }))
    expect(book.recheck(undefined, T0 + 1)[0]?.problem.message).toMatch(/^no node can ever hold the pod/)
  })

  it('a problem that can clear by itself is a verdict only once it has lasted, and counts again after it cleared', () => {
    const book = new PodBook(T0)
    const configError = (message: string) =>
      ({ ...runningPod('web-1', false), status: { phase: 'Pending', containerStatuses: [{ name: 'web', state: { waiting: { reason: 'CreateContainerConfigError', message } } }] } }) as KubeObject
    expect(book.pod(configError('secret "db" not found'), T0)).toBeUndefined()
    expect(book.hasPending()).toBe(true)
    expect(book.recheck(undefined, T0 + SETTLE_MS.config - 1)).toEqual([])
    // The Secret appeared: the pod starts, and a later error starts the count again.
    expect(book.pod(runningPod('web-1', false), T0 + SETTLE_MS.config - 1)).toBeUndefined()
    expect(book.hasPending()).toBe(false)
    expect(book.pod(configError('secret "db" not found'), T0 + SETTLE_MS.config)).toBeUndefined()
    expect(book.recheck(undefined, T0 + 2 * SETTLE_MS.config - 1)).toEqual([])
    // A new message for the same reason is the same problem lasting.
    expect(book.pod(configError('couldn\'t find key password in Secret apps/db'), T0 + 2 * SETTLE_MS.config - 1)).toBeUndefined()
    const [lasted] = book.recheck(undefined, T0 + 2 * SETTLE_MS.config)
    expect(lasted.problem).toMatchObject({ reason: 'CreateContainerConfigError', message: "couldn't find key password in Secret apps/db (for 30s)" })
  })

  it('keeps only the event fields the rules read', () => {
    const book = new PodBook(T0)
    book.pod(runningPod('web-1', false), T0)
    const e = { metadata: { name: 'e', namespace: 'apps', managedFields: [{ manager: 'kubelet' }] }, involvedObject: { kind: 'Pod', name: 'web-1', uid: 'uid-web-1' }, reason: 'Unhealthy', message: 'probe', count: 1, source: { component: 'kubelet', host: 'n1' } }
    book.event('ADDED', e, T0)
    expect(JSON.stringify((book as unknown as { events: Map<string, Map<string, unknown>> }).events.get('apps/web-1')?.get('e'))).not.toMatch(/managedFields|kubelet/)
  })

  it('caches pods without managedFields or env', () => {
    const book = new PodBook(T0)
    const pod = runningPod('p', true) as KubeObject & { spec: Record<string, any> }
    pod.metadata = { ...pod.metadata, managedFields: [{ manager: 'x' }] } as KubeObject['metadata']
    pod.spec.containers = [{ name: 'web', image: 'i', env: [{ name: 'A', value: 'secret' }] }]
    book.pod(pod, T0)
    const cached = JSON.stringify([...book.pods.values()])
    expect(cached).not.toMatch(/managedFields|secret/)
  })
})
