// "No node can ever hold the pod" where an autoscaler runs: today's nodes are not the last word,
// so the wait gives the autoscaler its grace to answer for the pod. cluster-autoscaler is found
// by its status ConfigMap in kube-system, Karpenter by its served API group; both are
// cluster-wide, and while they exist every other file's can-never-fit test would wait the grace
// too, so this file runs alone (scripts/test). The autoscalers' own words are the events they
// write on pods, written here as they write them; nodes are kwok nodes made for each test.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import type { Verdict } from '../../src/kube/status/rules.js'
import { waitForWorkloads } from '../../src/kube/status/watch.js'
import { adminKc } from './deliver-fixtures.js'
import { autoscalerSays, deployment, pool, removePools, target, unschedulablePods } from './pools.js'
import { kubectl, kubectlResult, suiteNamespaces, waitFor } from './stack.js'

const pause = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms))

afterAll(removePools)

/** Two Deployments whose pools have no node yet (the can-never-fit case), applied as the action would. */
async function twoStranded(ns: string): Promise<{ id: string; web: { name: string; uid: string }; lost: { name: string; uid: string } }> {
  const id = `as-${randomBytes(3).toString('hex')}`
  await kubectl(['apply', '--server-side', '--field-manager', 'kube-ship', '-n', ns, '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [deployment('web', 'v1', { replicas: 1, pool: id }), deployment('lost', 'v1', { replicas: 1, pool: `${id}-none` })] })
  })
  const pods = await unschedulablePods(ns, 2)
  return { id, web: pods.find(p => p.name.startsWith('web-'))!, lost: pods.find(p => p.name.startsWith('lost-'))! }
}

/** The verdicts as they are reached, by workload name. */
function verdicts(): { onStatus: (resource: string, v: Verdict) => void; final: Map<string, Verdict> } {
  const final = new Map<string, Verdict>()
  return { final, onStatus: (resource, v) => v.state !== 'waiting' && final.set(resource.split('/').pop()!, v) }
}

describe('cluster-autoscaler runs (its status ConfigMap is in kube-system)', () => {
  const kc = adminKc()
  const fresh = suiteNamespaces()
  const status = ['-n', 'kube-system', 'configmap', 'cluster-autoscaler-status']

  beforeAll(async () => {
    await kubectl(['-n', 'kube-system', 'create', 'configmap', 'cluster-autoscaler-status', '--from-literal=status=Cluster-wide: Health: Healthy'])
  })
  afterAll(async () => {
    await kubectl(['delete', ...status, '--ignore-not-found'])
  })

  it('a pod no current node holds waits past the grace once a scale-up is triggered and ends done; a pod it stays silent about fails when the grace ends', async () => {
    const ns = await fresh('as-ca')
    const { id, web } = await twoStranded(ns)
    const seen = verdicts()
    const waiting = waitForWorkloads(kc, [target(ns, 'web'), target(ns, 'lost')], { signal: AbortSignal.timeout(120_000), autoscalerGraceMs: 10_000, onStatus: seen.onStatus })
    await autoscalerSays(ns, web, 'TriggeredScaleUp', `pod triggered scale-up: [{${id} 0->1 (max: 3)}]`)
    // Past the grace: the silent one has its verdict, the one a node is coming for still waits.
    await waitFor('the silent pod failed', async () => seen.final.get('lost'), 60_000)
    expect(seen.final.get('lost')?.message).toMatch(/^Unschedulable: no node can ever hold the pod: \d+ nodes? didn't match the pod's nodeSelector .*\); no autoscaler offered a node in \d+s$/)
    await pause(3000)
    expect(seen.final.has('web')).toBe(false)
    await pool(1, 2, id)
    const [ok, lost] = await waiting
    expect(ok.verdict).toEqual({ state: 'done', message: 'deployment "web" successfully rolled out' })
    expect(lost.verdict.reason).toBe('Unschedulable')
  })
})

describe('Karpenter runs (the karpenter.sh group is served)', () => {
  const kc = adminKc()
  const fresh = suiteNamespaces()
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'nodepools.karpenter.sh' },
    spec: {
      group: 'karpenter.sh',
      scope: 'Cluster',
      names: { plural: 'nodepools', singular: 'nodepool', kind: 'NodePool', listKind: 'NodePoolList' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }]
    }
  }

  beforeAll(async () => {
    await kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(crd) })
    await waitFor('karpenter.sh served', async () => (await kubectlResult(['get', '--raw', '/apis/karpenter.sh'])).code === 0)
  })
  afterAll(async () => {
    await kubectl(['delete', 'crd', crd.metadata.name, '--ignore-not-found'])
  })

  it('a pod Karpenter nominated a node claim for waits past the grace and ends done; one no node pool can hold fails on Karpenter\'s word', async () => {
    const ns = await fresh('as-karpenter')
    const { id, web, lost } = await twoStranded(ns)
    await autoscalerSays(ns, web, 'Nominated', 'Pod should schedule on: nodeclaim/default-x7k2q', 'karpenter')
    await autoscalerSays(ns, lost, 'FailedScheduling', `Failed to schedule pod, incompatible with nodepool "default", incompatible requirements, key ${id}`, 'karpenter')
    // A grace already over when the wait starts: only the nomination keeps "web" waiting, and
    // only Karpenter's words (watched once it is found) tell "lost" apart from a silent autoscaler.
    const waiting = waitForWorkloads(kc, [target(ns, 'web'), target(ns, 'lost')], { signal: AbortSignal.timeout(90_000), autoscalerGraceMs: 1, onStatus: () => {} })
    await pause(5000)
    await pool(1, 2, id)
    const [ok, failed] = await waiting
    expect(ok.verdict).toEqual({ state: 'done', message: 'deployment "web" successfully rolled out' })
    expect(failed.verdict.reason).toBe('Unschedulable')
    expect(failed.verdict.message).toMatch(/^Unschedulable: no node can ever hold the pod: \d+ nodes? didn't match the pod's nodeSelector.*\)$/)
    expect(failed.verdict.message).not.toMatch(/no autoscaler offered/)
  })
})
