// Every fast-fail rule against its look-alike on the local control plane: what must NOT fail
// (a surge on a full node pool, a pull that times out once, a crash right after start, a probe
// that fails twice while the app starts, 100 Deployments whose surge exceeds the pool) ends
// done; what must fail (a stalled rollout, a pod no node can ever hold) still fails early, with
// the reason. Full pools are extra kwok nodes made here, tainted so only this file's pods land
// on them, and deleted afterwards; the shared nodes are left alone.
import { afterAll, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { waitForWorkloads } from '../../src/kube/status/watch.js'
import { adminKc, deploy, restrictedKc } from './deliver-fixtures.js'
import { autoscalerSays, deployment, longestUnschedulable, pool, quiet, removePools, target, unschedulablePods } from './pools.js'
import { type SimBehavior, kubectl, kubectlJson, kubectlResult, stack, suiteNamespaces, waitFor } from './stack.js'

afterAll(removePools)

describe('fast-fail look-alikes end done', () => {
  const kc = adminKc()
  const fresh = suiteNamespaces()

  const seen: Record<string, RegExp> = {
    'slow-pull': /Failed Failed to pull image: dial tcp: i\/o timeout[^]*BackOff Back-off pulling image/,
    'crash-once': /BackOff Back-off restarting/,
    'probe-twice': /Unhealthy Readiness probe failed/,
    'config-late': /Failed Error: secret "db-credentials" not found/,
    'oom-once': /BackOff Back-off restarting failed container: OOMKilled/
  }
  it.each<[SimBehavior, string]>([
    ['slow-pull', 'ErrImagePull (a timeout) once and the ImagePullBackOff over it, then the pull succeeds'],
    ['crash-once', 'CrashLoopBackOff after one crash at start, then it runs'],
    ['probe-twice', 'the readiness probe fails twice while starting, then passes'],
    ['config-late', 'CreateContainerConfigError until an operator writes the Secret, then it starts'],
    ['oom-once', 'killed for memory once right after start, then it runs']
  ])('%s: %s', async behavior => {
    const ns = await fresh(`ff-${behavior}`)
    expect((await deploy(kc, ns, [deployment('web', 'v1')])).report.status).toBe('succeeded')
    const run = await deploy(kc, ns, [deployment('web', 'v2', { behavior })])
    expect(run.error).toBeUndefined()
    expect(run.report.status).toBe('succeeded')
    expect(run.report.workloads).toEqual([expect.objectContaining({ ok: true, message: 'deployment "web" successfully rolled out' })])
    // The look-alike really happened: the pods went through the state a rule looks at.
    const events = (await kubectlJson(['-n', ns, 'get', 'events'])).items.map((e: any) => `${e.reason} ${e.message}`).join('\n')
    expect(events).toMatch(seen[behavior])
    if (behavior === 'probe-twice') {
      const unhealthy = (await kubectlJson(['-n', ns, 'get', 'events', '--field-selector', 'reason=Unhealthy'])).items as any[]
      const perPod = new Map<string, number>()
      for (const e of unhealthy) perPod.set(e.involvedObject.name, (perPod.get(e.involvedObject.name) ?? 0) + (e.series?.count ?? e.count ?? 1))
      expect(Math.max(...perPod.values())).toBe(2)
    }
  })

  it('a surge waiting on a full pool for the capacity the rollout frees keeps waiting, longer than the stall window', async () => {
    const ns = await fresh('ff-surge')
    const id = await pool(1, 4)
    // 4 replicas fill the node; the default strategy surges 1 and lets 1 go unavailable, so each
    // new pod waits (Unschedulable) for an old one, which goes only once a new pod is Ready (8s).
    expect((await deploy(kc, ns, [deployment('web', 'v1', { replicas: 4, pool: id })])).report.status).toBe('succeeded')
    await kubectl(['apply', '--server-side', '--field-manager', 'kube-ship', '-n', ns, '-f', '-'], {
      input: JSON.stringify(deployment('web', 'v2', { replicas: 4, pool: id, readyDelay: '8s' }))
    })
    const [outcome] = await waitForWorkloads(kc, [target(ns, 'web')], { signal: AbortSignal.timeout(180_000), stallWindowMs: 3000, ...quiet })
    expect(outcome.verdict).toEqual({ state: 'done', message: 'deployment "web" successfully rolled out' })
    const scheduling = (await kubectlJson(['-n', ns, 'get', 'events', '--field-selector', 'reason=FailedScheduling'])).items
    expect(scheduling.length).toBeGreaterThan(0)
    expect(await longestUnschedulable(ns)).toBeGreaterThan(3)
  })

  it('100 Deployments whose surge exceeds their pool all end done (no false Unschedulable)', async () => {
    const ns = await fresh('ff-scale')
    // 100 pods on 130 slots: the surge wants 200, so most new pods wait for an old one to go.
    const id = await pool(2, 65)
    const all = (tag: string) => Array.from({ length: 100 }, (_, i) => deployment(`web-${i}`, tag, { replicas: 1, pool: id }))
    const first = await deploy(kc, ns, all('v1'), { timeout: '300s' })
    expect(first.error).toBeUndefined()
    const run = await deploy(kc, ns, all('v2'), { timeout: '300s' })
    expect(run.error).toBeUndefined()
    expect(run.report.workloads.filter(w => !w.ok)).toEqual([])
    expect(run.report.workloads).toHaveLength(100)
    expect((await kubectlJson(['-n', ns, 'get', 'events', '--field-selector', 'reason=FailedScheduling'])).items.length).toBeGreaterThan(0)
  })
})

describe('an autoscaler adding capacity is not a dead end', () => {
  const kc = adminKc()
  const fresh = suiteNamespaces()

  it('a stalled surge whose pod triggered a scale-up waits for the new node and ends done', async () => {
    const ns = await fresh('ff-scaleup')
    const id = await pool(1, 1)
    // One replica fills the only node and maxUnavailable rounds to 0: without a new node the
    // surge pod never starts, so the stall rule (3s here) would fail it.
    expect((await deploy(kc, ns, [deployment('web', 'v1', { replicas: 1, pool: id })])).report.status).toBe('succeeded')
    await kubectl(['apply', '--server-side', '--field-manager', 'kube-ship', '-n', ns, '-f', '-'], { input: JSON.stringify(deployment('web', 'v2', { replicas: 1, pool: id })) })
    const waiting = waitForWorkloads(kc, [target(ns, 'web')], { signal: AbortSignal.timeout(120_000), stallWindowMs: 3000, ...quiet })
    // The autoscaler's part: it sees the pod, asks its node group to grow, and the node joins
    // well after the stall window.
    const [pod] = await unschedulablePods(ns)
    await autoscalerSays(ns, pod, 'TriggeredScaleUp', `pod triggered scale-up: [{${id} 1->2 (max: 3)}]`)
    await new Promise(r => setTimeout(r, 8000))
    await pool(1, 1, id, 1)
    const [outcome] = await waiting
    expect(outcome.verdict).toEqual({ state: 'done', message: 'deployment "web" successfully rolled out' })
    expect(await longestUnschedulable(ns)).toBeGreaterThan(3)
  })

  it('a pod no current node can hold, for which the autoscaler is adding one, ends done; a failed scale-up still fails it', async () => {
    const ns = await fresh('ff-newpool')
    const id = `ff-${randomBytes(3).toString('hex')}`
    // The pool it selects does not exist yet: no node matches, the can-never-fit rule's case.
    await kubectl(['apply', '--server-side', '--field-manager', 'kube-ship', '-n', ns, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [deployment('web', 'v1', { replicas: 1, pool: id }), deployment('lost', 'v1', { replicas: 1, pool: `${id}-none` })] })
    })
    const pods = await unschedulablePods(ns, 2)
    const web = pods.find(p => p.name.startsWith('web-'))!
    const lost = pods.find(p => p.name.startsWith('lost-'))!
    await autoscalerSays(ns, web, 'TriggeredScaleUp', `pod triggered scale-up: [{${id} 0->1 (max: 3)}]`)
    await autoscalerSays(ns, lost, 'TriggeredScaleUp', `pod triggered scale-up: [{${id}-none 0->1 (max: 3)}]`)
    const waiting = waitForWorkloads(kc, [target(ns, 'web'), target(ns, 'lost')], { signal: AbortSignal.timeout(120_000), stallWindowMs: 3000, ...quiet })
    await new Promise(r => setTimeout(r, 5000))
    // The one node group comes up; the other's growth fails (a quota, a stock-out).
    await autoscalerSays(ns, lost, 'FailedScaleUp', `Node scale up in zones a associated with this pod failed: quota exceeded. Pod is at risk of not being scheduled.`)
    await pool(1, 2, id)
    const [ok, failed] = await waiting
    expect(ok.verdict).toEqual({ state: 'done', message: 'deployment "web" successfully rolled out' })
    expect(failed.verdict.state).toBe('failed')
    expect(failed.verdict.message).toMatch(/^Unschedulable: no node can ever hold the pod: \d+ nodes? didn't match the pod's nodeSelector/)
  })
})

describe('fast-fail real failures still end the wait early', () => {
  const kc = adminKc()
  const fresh = suiteNamespaces()

  it('a rollout stalled on a full pool fails Unschedulable once nothing has moved for the window', async () => {
    const ns = await fresh('ff-stall')
    const id = await pool(1, 1)
    // One replica fills the node; maxUnavailable rounds to 0, so the surge pod can never start.
    expect((await deploy(kc, ns, [deployment('web', 'v1', { replicas: 1, pool: id })])).report.status).toBe('succeeded')
    await kubectl(['apply', '--server-side', '--field-manager', 'kube-ship', '-n', ns, '-f', '-'], { input: JSON.stringify(deployment('web', 'v2', { replicas: 1, pool: id })) })
    const [outcome] = await waitForWorkloads(kc, [target(ns, 'web')], { signal: AbortSignal.timeout(120_000), stallWindowMs: 3000, ...quiet })
    expect(outcome.verdict.state).toBe('failed')
    expect(outcome.verdict.reason).toBe('Unschedulable')
    expect(outcome.verdict.message).toMatch(/^Unschedulable: the rollout made no progress for \d+s with this pod unschedulable: 0\/\d+ nodes are available/)
    expect(outcome.diagnostic).toMatchObject({ reason: 'Unschedulable', hint: expect.stringMatching(/requests/) })
  })

  it('a pod no node can ever hold fails at once, named by its requests, and is rolled back', async () => {
    const ns = await fresh('ff-never')
    const run = await deploy(kc, ns, [deployment('big', 'v1', { replicas: 1, requests: { cpu: '1000' } })])
    expect(run.report.status).toBe('rolled-back')
    expect(run.error).toMatch(new RegExp(`^Deployment/${ns}/big: Unschedulable: no node can ever hold the pod: .*\\d+ nodes? too small for the pod's requests \\(cpu\\)`))
    expect(run.report.diagnostics[0]).toMatchObject({ reason: 'Unschedulable', resource: expect.stringMatching(new RegExp(`^Deployment/${ns}/big \\(pod big-`)) })
  })

  // This identity can neither read nodes nor rule an autoscaler out: the scheduler's message
  // decides, once an autoscaler has had its grace to offer a node.
  it('a nodeSelector no node matches fails after the autoscaler grace for an identity that cannot read nodes (the scheduler says so)', async () => {
    const ns = stack().restrictedNamespace
    const name = `nosel-${randomBytes(3).toString('hex')}`
    const d = deployment(name, 'v1', { replicas: 1 })
    ;(d.spec as any).template.spec.nodeSelector = { 'kube-ship.dev/no-such-pool': 'x' }
    const run = await deploy(restrictedKc(), ns, [d])
    expect(run.error).toMatch(new RegExp(`^Deployment/${ns}/${name}: Unschedulable: no node can ever hold the pod \\(scheduler: 0/\\d+ nodes are available: .*node affinity/selector.*\\); no autoscaler offered a node in \\d+s \\(no node fits`))
    expect(run.report.status).toBe('rolled-back')
  })
  it('the same identity, allowed to read the autoscaler status ConfigMap in kube-system, rules an autoscaler out and fails at once', async () => {
    const ns = stack().restrictedNamespace
    const name = `nosel-${randomBytes(3).toString('hex')}`
    const access = `kube-ship-autoscaler-status-${randomBytes(3).toString('hex')}`
    // The optional rule the README offers: get on that one ConfigMap, by name.
    await kubectl(['-n', 'kube-system', 'create', 'role', access, '--verb=get', '--resource=configmaps', '--resource-name=cluster-autoscaler-status'])
    await kubectl(['-n', 'kube-system', 'create', 'rolebinding', access, `--role=${access}`, `--serviceaccount=${ns}:kube-ship-deployer`])
    try {
      await waitFor('the status ConfigMap readable (absent) by the deployer', async () =>
        (await kubectlResult(['-n', 'kube-system', 'get', 'configmap', 'cluster-autoscaler-status', '--ignore-not-found'], { kubeconfig: stack().restrictedKubeconfig })).code === 0
      )
      const d = deployment(name, 'v1', { replicas: 1 })
      ;(d.spec as any).template.spec.nodeSelector = { 'kube-ship.dev/no-such-pool': 'x' }
      const run = await deploy(restrictedKc(), ns, [d])
      expect(run.error).toMatch(new RegExp(`^Deployment/${ns}/${name}: Unschedulable: no node can ever hold the pod \\(scheduler: 0/\\d+ nodes are available: .*node affinity/selector.*\\) \\(no node fits`))
      expect(run.error).not.toMatch(/no autoscaler offered/)
      expect(run.report.status).toBe('rolled-back')
    } finally {
      await kubectl(['-n', 'kube-system', 'delete', 'role,rolebinding', access, '--ignore-not-found'])
    }
  })
})
