import { describe, expect, it } from '@jest/globals'
import { slimPod } from '../../src/kube/status/observe.js'
import { CRASH_RESTARTS, SETTLE_MS, formatEvents, hintFor, podProblem, probeProblem, PROBE_FAILURES } from '../../src/kube/diagnose.js'
import type { KubeObject } from '../../src/manifests/types.js'

const pod = (status: Record<string, unknown>, meta: Record<string, unknown> = {}): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'apps', ...meta }, status }) as KubeObject
const waitingIn = (reason: string, message = '', extra: Record<string, unknown> = {}) =>
  pod({ phase: 'Pending', containerStatuses: [{ name: 'web', image: 'reg/web:1', state: { waiting: { reason, message } }, ...extra }] })

describe('podProblem', () => {
  it.each<[string, KubeObject, string | undefined]>([
    ['ImagePullBackOff', waitingIn('ImagePullBackOff', 'Back-off pulling image "reg/web:1"'), 'ImagePullBackOff'],
    ['ImagePullBackOff naming a missing image', waitingIn('ImagePullBackOff', 'Back-off pulling image "reg/web:1": ErrImagePull: failed to resolve reference "reg/web:1": not found'), 'ImagePullBackOff'],
    ['ErrImagePull for a missing tag', waitingIn('ErrImagePull', 'rpc error: manifest unknown'), 'ErrImagePull'],
    ['ErrImagePull that may be a blip waits for the back-off', waitingIn('ErrImagePull', 'i/o timeout'), undefined],
    ['CreateContainerConfigError', waitingIn('CreateContainerConfigError', 'secret "db" not found'), 'CreateContainerConfigError'],
    [
      'CrashLoopBackOff',
      pod({ phase: 'Running', containerStatuses: [{ name: 'web', restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, reason: 'Error' } } }] }),
      'CrashLoopBackOff'
    ],
    ['OOMKilled again', pod({ phase: 'Running', containerStatuses: [{ name: 'web', restartCount: 2, state: { running: {} }, lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } } }] }), 'OOMKilled'],
    ['OOMKilled once (a start-up spike) is not yet a verdict', pod({ phase: 'Running', containerStatuses: [{ name: 'web', restartCount: 1, state: { running: {} }, lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } } }] }), undefined],
    ['killed for memory just now, not restarted yet', pod({ phase: 'Running', containerStatuses: [{ name: 'web', restartCount: 0, state: { terminated: { reason: 'OOMKilled', exitCode: 137 } } }] }), undefined],
    ['CreateContainerError', waitingIn('CreateContainerError', 'context deadline exceeded'), 'CreateContainerError'],
    ['InvalidImageName', waitingIn('InvalidImageName', 'couldn\'t parse image reference "reg/Web"'), 'InvalidImageName'],
    ['init container crash', pod({ phase: 'Pending', initContainerStatuses: [{ name: 'migrate', restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } } }] }), 'CrashLoopBackOff'],
    ['ContainerCreating is normal', waitingIn('ContainerCreating'), undefined],
    ['running and ready', pod({ phase: 'Running', containerStatuses: [{ name: 'web', ready: true, state: { running: {} } }] }), undefined],
    ['terminating pods are ignored', { ...waitingIn('ImagePullBackOff'), metadata: { name: 'x', deletionTimestamp: 'now' } } as KubeObject, undefined],
    ['unschedulable is judged apart (fastfail)', pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] }, { creationTimestamp: '2000-01-01T00:00:00Z' }), undefined],
    [
      'a crash right after start is not yet a loop',
      pod({ phase: 'Running', containerStatuses: [{ name: 'web', restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } } }] }),
      undefined
    ],
    [
      'the second restart is',
      pod({ phase: 'Running', containerStatuses: [{ name: 'web', restartCount: CRASH_RESTARTS, state: { waiting: { reason: 'CrashLoopBackOff' } } }] }),
      'CrashLoopBackOff'
    ],
    ['a pull that timed out may succeed on retry', waitingIn('ErrImagePull', 'failed to pull image "reg/web:1": dial tcp: i/o timeout'), undefined],
    ['unauthorized pulls will not', waitingIn('ErrImagePull', 'pull access denied, repository does not exist or may require authorization'), 'ErrImagePull']
  ])('%s', (_n, p, reason) => {
    expect(podProblem(p)?.reason).toBe(reason)
    // what the wait caches of the pod says the same
    expect(podProblem(slimPod(p))).toEqual(podProblem(p))
  })

  // What can clear by itself must last before the wait calls it (observe.PodBook times it).
  it.each<[string, KubeObject, number | undefined]>([
    ['a pull back-off over a timeout', waitingIn('ImagePullBackOff', 'Back-off pulling image "reg/web:1": ErrImagePull: dial tcp 10.0.0.1:443: i/o timeout'), SETTLE_MS.pull],
    ['a pull back-off that names no cause (before Kubernetes 1.32)', waitingIn('ImagePullBackOff', 'Back-off pulling image "reg/web:1"'), SETTLE_MS.pull],
    ['a pull back-off over a missing tag', waitingIn('ImagePullBackOff', 'Back-off pulling image "reg/web:1": ErrImagePull: rpc error: manifest unknown'), undefined],
    ['a pull back-off over refused credentials', waitingIn('ImagePullBackOff', 'Back-off pulling image "reg/web:1": ErrImagePull: pull access denied'), undefined],
    ['a Secret an operator has not written yet', waitingIn('CreateContainerConfigError', 'secret "db" not found'), SETTLE_MS.config],
    ['a runtime that timed out creating the container', waitingIn('CreateContainerError', 'context deadline exceeded'), SETTLE_MS.config],
    ['a crash loop', pod({ phase: 'Running', containerStatuses: [{ name: 'web', restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } }] }), undefined],
    ['an invalid image name', waitingIn('InvalidImageName', 'bad'), undefined]
  ])('lasts before a verdict: %s', (_n, p, settle) => expect(podProblem(p)?.settleMs).toBe(settle))

  it('crash loop message says restarts and the last exit', () => {
    const p = pod({ phase: 'Running', containerStatuses: [{ name: 'web', restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, reason: 'Error' } } }] })
    expect(podProblem(slimPod(p))).toEqual(podProblem(p))
    expect(podProblem(p)).toEqual({ reason: 'CrashLoopBackOff', message: 'container web keeps crashing: restarted 4 times (last exit code 1, Error)', container: 'web', restarted: true })
  })
})

describe('probe failures from events', () => {
  const unhealthy = (count: number, message = 'Readiness probe failed: HTTP probe failed with statuscode: 500') => ({ reason: 'Unhealthy', count, message, lastTimestamp: '2026-01-01T00:00:00Z' })
  it.each([
    ['below the threshold', [unhealthy(PROBE_FAILURES - 1)], undefined],
    ['at the threshold', [unhealthy(PROBE_FAILURES)], 'ProbeFailure'],
    ['summed across events', [unhealthy(1), unhealthy(2)], 'ProbeFailure'],
    ['other reasons do not count', [{ reason: 'Pulled', count: 10 }], undefined]
  ])('%s', (_n, events, reason) => expect(probeProblem(events)?.reason).toBe(reason))

  it('a pod that is Ready now got past its start-up probe failures', () => {
    const readyPod = pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] })
    const starting = pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] })
    expect(probeProblem([unhealthy(5)], readyPod)).toBeUndefined()
    expect(probeProblem([unhealthy(5)], starting)?.reason).toBe('ProbeFailure')
  })
})

describe('events and hints', () => {
  it('keeps the newest events, oldest first, with repeat counts', () => {
    const events = [
      { type: 'Normal', reason: 'Scheduled', message: 'assigned', lastTimestamp: '2026-01-01T00:00:01Z' },
      { type: 'Warning', reason: 'Failed', message: 'Failed to pull image', count: 3, lastTimestamp: '2026-01-01T00:00:03Z' },
      { type: 'Normal', reason: 'Pulling', message: 'pulling', lastTimestamp: '2026-01-01T00:00:02Z' }
    ]
    expect(formatEvents(events, 2)).toEqual(['Normal Pulling: pulling', 'Warning Failed: Failed to pull image (x3)'])
  })

  it.each([
    ['ImagePullBackOff', /registry|tag/],
    ['ErrImagePull', /registry|tag/],
    ['CrashLoopBackOff', /environment|port/],
    ['CreateContainerConfigError', /ConfigMap|Secret/],
    ['OOMKilled', /limits.memory/],
    ['ProbeFailure', /initialDelaySeconds/],
    ['Unschedulable', /requests/]
  ])('hint for %s', (reason, hint) => expect(hintFor(reason)).toMatch(hint))
})
