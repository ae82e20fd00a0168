// Rollout failures on the local control plane and what the action does about them: pods that
// cannot start end the wait early with a diagnostic and the workload is rolled back; a progress
// deadline fails the wait; a failed health gate rolls back a rollout that finished. (The API
// server restart mid-wait is in rollout.fault.test.ts, which runs alone.)
import { afterAll, describe, expect, it } from '@jest/globals'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { adminKc, daemonSet, deploy, deployment, image, statefulSet } from './deliver-fixtures.js'
import { kubectl, kubectlJson, suiteNamespaces, waitFor } from './stack.js'
import { probeHealth } from '../../src/health/http.js'

const templateImage = async (ns: string, kind: string, name: string): Promise<string> =>
  (await kubectlJson(['-n', ns, 'get', kind, name])).spec.template.spec.containers[0].image

describe('rollout: fail fast, diagnose, roll back', () => {
  const kc = adminKc()
  const fresh = suiteNamespaces()

  it('ImagePullBackOff ends the wait early with events and a hint, then the previous image is restored', async () => {
    const ns = await fresh('rollout-pull')
    expect((await deploy(kc, ns, [deployment('web', 'v1')])).report.status).toBe('succeeded')

    // progressDeadlineSeconds stays at its 600s default: only the pod diagnosis can end this early.
    const run = await deploy(kc, ns, [deployment('web', 'v2', { behavior: 'image-pull-backoff' })])
    expect(run.error).toMatch(new RegExp(`^Deployment/${ns}/web: (ImagePullBackOff|ErrImagePull): .*\\(check the image tag or digest exists`))
    expect(run.report.status).toBe('rolled-back')
    expect(run.report.previousImage).toBe(image('v1'))
    const [d] = run.report.diagnostics
    expect(d.resource).toMatch(new RegExp(`^Deployment/${ns}/web \\(pod web-`))
    expect(['ImagePullBackOff', 'ErrImagePull']).toContain(d.reason)
    expect(d.events.join('\n')).toMatch(/pull/i)
    expect(d.logTail).toEqual([])
    expect(run.report.rollback).toEqual([{ resource: `Deployment/${ns}/web`, action: 'restored', image: image('v1') }])
    expect(await templateImage(ns, 'deployment', 'web')).toBe(image('v1'))
    // The restore reused the old ReplicaSet (rollout undo), and its rollout was waited for.
    const live = await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])
    expect(live.status.availableReplicas).toBe(2)
    expect(live.status.updatedReplicas).toBe(2)
    const sets = (await kubectlJson(['-n', ns, 'get', 'replicasets', '-l', 'app=web'])).items
    expect(sets).toHaveLength(2)

    // The next deploy takes the template back from the rollback quietly and succeeds.
    const next = await deploy(kc, ns, [deployment('web', 'v3')])
    expect(next.report.status).toBe('succeeded')
    expect(await templateImage(ns, 'deployment', 'web')).toBe(image('v3'))
  })

  it('a crash-looping StatefulSet and DaemonSet are restored (broken StatefulSet pods replaced)', async () => {
    const ns = await fresh('rollout-crash')
    const good = [statefulSet('db', 'v1'), daemonSet('agent', 'v1')]
    expect((await deploy(kc, ns, good)).report.status).toBe('succeeded')
    const run = await deploy(kc, ns, [statefulSet('db', 'v2', { behavior: 'crashloop' }), daemonSet('agent', 'v2', { behavior: 'crashloop' })])
    expect(run.report.status).toBe('rolled-back')
    expect(run.error).toMatch(/CrashLoopBackOff: container web keeps crashing/)
    expect(run.report.diagnostics.map(d => d.reason)).toContain('CrashLoopBackOff')
    expect(run.report.diagnostics[0].hint).toMatch(/environment/)
    expect(run.report.rollback.map(r => `${r.resource}=${r.action}`)).toEqual([`DaemonSet/${ns}/agent=restored`, `StatefulSet/${ns}/db=restored`])
    expect(await templateImage(ns, 'statefulset', 'db')).toBe(image('v1'))
    expect(await templateImage(ns, 'daemonset', 'agent')).toBe(image('v1'))
    const db = await kubectlJson(['-n', ns, 'get', 'statefulset', 'db'])
    expect(db.status.readyReplicas).toBe(2)
    expect(db.status.currentRevision).toBe(db.status.updateRevision)
  })

  it('a progress deadline fails the wait, and a Deployment this run created is deleted', async () => {
    const ns = await fresh('rollout-deadline')
    const slow = deployment('slow', 'v1', { behavior: 'not-ready', spec: { progressDeadlineSeconds: 5 } })
    const run = await deploy(kc, ns, [slow])
    expect(run.error).toBe(`Deployment/${ns}/slow: deployment "slow" exceeded its progress deadline (the pods run but never pass their readiness probe)`)
    expect(run.report.workloads[0]).toMatchObject({ ok: false, message: 'deployment "slow" exceeded its progress deadline' })
    expect(run.report.diagnostics[0]).toMatchObject({ reason: 'NotReady', message: 'pod is Running and not ready' })
    expect(run.report.rollback).toEqual([{ resource: `Deployment/${ns}/slow`, action: 'deleted', message: 'created by this run' }])
    expect(run.report.status).toBe('rolled-back')
    await waitFor('slow to be gone', async () => (await kubectlJson(['-n', ns, 'get', 'deployments'])).items.length === 0)
  })

  it('repeated probe failures end the wait with the probe message', async () => {
    const ns = await fresh('rollout-probe')
    const running = deploy(kc, ns, [deployment('probe', 'v1', { behavior: 'not-ready', replicas: 1 })], { 'rollback-on-failure': 'false' })
    const pod = await waitFor('the probe pod to run', async () => (await kubectlJson(['-n', ns, 'get', 'pods', '-l', 'app=probe'])).items.find((p: any) => p.status.phase === 'Running'))
    // kwok has no kubelet to probe anything, so the events a kubelet would record are posted as it would.
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: 'probe-' },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, namespace: ns, uid: pod.metadata.uid },
      reason: 'Unhealthy',
      message: 'Readiness probe failed: HTTP probe failed with statuscode: 503',
      type: 'Warning',
      count: 3,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: 'kubelet' }
    }
    await kubectl(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(event) })
    const run = await running
    expect(run.report.workloads[0]).toMatchObject({ ok: false, message: 'ProbeFailure: probe failed 3 times: Readiness probe failed: HTTP probe failed with statuscode: 503' })
    expect(run.report.diagnostics[0]).toMatchObject({ reason: 'ProbeFailure', resource: `Deployment/${ns}/probe (pod ${pod.metadata.name})` })
    expect(run.report.diagnostics[0].hint).toMatch(/initialDelaySeconds/)
  })

  // Container states kwok does not simulate are written to a running pod's status the way a
  // kubelet would report them (kwok's stages leave a Running pod alone).
  it.each([
    // The second kill for memory is the verdict (one can be a start-up spike).
    ['OOMKilled', { state: { running: { startedAt: '2026-01-01T00:00:00Z' } }, lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } }, restartCount: 2 }, /limits.memory/],
    // A missing Secret can be one an operator writes moments later: it fails once it has lasted 30 s.
    ['CreateContainerConfigError', { state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "db" not found' } }, restartCount: 0 }, /ConfigMap, Secret or key/]
  ])('%s ends the wait with its hint', async (reason, containerState, hint) => {
    const ns = await fresh(`rollout-${reason.toLowerCase()}`)
    const running = deploy(kc, ns, [deployment('app', 'v1', { behavior: 'not-ready', replicas: 1 })], { 'rollback-on-failure': 'false' })
    const pod = await waitFor('the pod to run', async () => (await kubectlJson(['-n', ns, 'get', 'pods', '-l', 'app=app'])).items.find((p: any) => p.status.phase === 'Running'))
    const status = { status: { containerStatuses: [{ name: 'web', image: image('v1'), imageID: '', ready: false, ...containerState }] } }
    await kubectl(['-n', ns, 'patch', 'pod', pod.metadata.name, '--subresource=status', '--type=strategic', '-p', JSON.stringify(status)])
    const run = await running
    expect(run.report.workloads[0].ok).toBe(false)
    expect(run.report.diagnostics[0].reason).toBe(reason)
    expect(run.report.diagnostics[0].hint).toMatch(hint)
    expect(run.error).toMatch(new RegExp(`^Deployment/${ns}/app: ${reason}: `))
  })

  describe('health gates', () => {
    let server: Server
    let answer = 200
    const seen: Record<string, string | undefined>[] = []
    const url = (): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`

    it('probes with extra headers and honours the expected status', async () => {
      server = createServer((req, res) => {
        seen.push({ canary: req.headers['x-canary'] as string | undefined })
        res.writeHead(answer).end()
      })
      await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
      const [ok] = await probeHealth([{ url: url() }], { signal: AbortSignal.timeout(10_000), headers: { 'X-Canary': 'always' } })
      expect(ok).toMatchObject({ ok: true, status: 200, attempts: 1 })
      expect(seen.at(-1)).toEqual({ canary: 'always' })
      answer = 503
      const [expected503] = await probeHealth([{ url: url(), status: 503 }], { signal: AbortSignal.timeout(10_000) })
      expect(expected503.ok).toBe(true)
      const closed = createServer()
      await new Promise<void>(r => closed.listen(0, '127.0.0.1', r))
      const port = (closed.address() as AddressInfo).port
      await new Promise(r => closed.close(r))
      const [refused] = await probeHealth([{ url: `http://127.0.0.1:${port}/none` }], { signal: AbortSignal.timeout(10_000), attempts: 2, initialDelayMs: 10 })
      expect(refused).toMatchObject({ ok: false, attempts: 2 })
      expect(refused.message).toMatch(/no answer: ECONNREFUSED \(after 2 attempts\)/)
    })

    it('a failing gate after a finished rollout rolls the Deployment back', async () => {
      const ns = await fresh('rollout-health')
      answer = 200
      const first = await deploy(kc, ns, [deployment('web', 'v1')], { 'health-url': url() })
      expect(first.report.status).toBe('succeeded')
      expect(first.report.health).toEqual([expect.objectContaining({ url: url(), ok: true, status: 200 })])

      answer = 503
      const run = await deploy(kc, ns, [deployment('web', 'v2')], { 'health-url': url() })
      expect(run.report.workloads[0].ok).toBe(true)
      expect(run.report.health[0]).toMatchObject({ ok: false, status: 503, attempts: 6 })
      expect(run.error).toBe(`health check ${url()} failed: expected 2xx, got 503 (after 6 attempts) (the rollout finished but the service does not answer as expected)`)
      expect(run.report.status).toBe('rolled-back')
      expect(await templateImage(ns, 'deployment', 'web')).toBe(image('v1'))
    })

    afterAll(async () => {
      await new Promise(r => server?.close(r))
    })
  })
})
