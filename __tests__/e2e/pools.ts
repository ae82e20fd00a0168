// Node pools and workloads for the fast-fail tests: extra kwok nodes made per test, tainted so
// only that test's pods land on them, and what an autoscaler writes on a pod.
import { randomBytes } from 'node:crypto'
import type { KubeObject } from '../../src/manifests/types.js'
import type { WaitTarget } from '../../src/kube/status/watch.js'
import { image } from './deliver-fixtures.js'
import { SIM_LABEL, type SimBehavior, kubectl, kubectlJson, waitFor } from './stack.js'

export const POOL_KEY = 'kube-ship.dev/pool'
const madeNodes: string[] = []

/** Deletes the pool nodes this file made (call from afterAll). */
export async function removePools(): Promise<void> {
  if (madeNodes.length) await kubectl(['delete', 'node', ...madeNodes.splice(0), '--ignore-not-found', '--wait=false'])
}

/** Kwok nodes holding at most `pods` pods each, tainted and labelled for one pool id (a new one unless given). */
export async function pool(count: number, pods: number, id = `ff-${randomBytes(3).toString('hex')}`, first = 0): Promise<string> {
  const nodes = Array.from({ length: count }, (_, j) => first + j).map(i => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: `${id}-${i}`,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { type: 'kwok-pool', [POOL_KEY]: id, 'kubernetes.io/hostname': `${id}-${i}`, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' }
    },
    spec: { taints: [{ key: POOL_KEY, value: id, effect: 'NoSchedule' }] },
    status: { allocatable: { cpu: '32', memory: '128Gi', pods: String(pods) }, capacity: { cpu: '32', memory: '128Gi', pods: String(pods) } }
  }))
  madeNodes.push(...nodes.map(n => n.metadata.name))
  await kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: nodes }) })
  await waitFor(`${count} pool nodes Ready`, async () => {
    const list = await kubectlJson(['get', 'nodes', '-l', `${POOL_KEY}=${id}`])
    return list.items.filter((n: any) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')).length === first + count
  })
  return id
}

export interface Opts {
  replicas?: number
  behavior?: SimBehavior
  pool?: string
  readyDelay?: string
  requests?: Record<string, string>
  namespace?: string
}

export function deployment(name: string, tag: string, o: Opts = {}): KubeObject {
  const labels: Record<string, string> = { app: name }
  if (o.behavior) labels[SIM_LABEL] = o.behavior
  const spec: Record<string, unknown> = { containers: [{ name: 'web', image: image(tag), ...(o.requests ? { resources: { requests: o.requests } } : {}) }] }
  if (o.pool) {
    spec.nodeSelector = { [POOL_KEY]: o.pool }
    spec.tolerations = [{ key: POOL_KEY, operator: 'Equal', value: o.pool, effect: 'NoSchedule' }]
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, ...(o.namespace ? { namespace: o.namespace } : {}) },
    spec: {
      replicas: o.replicas ?? 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels, ...(o.readyDelay ? { annotations: { 'sim.kube-ship.dev/ready-delay': o.readyDelay } } : {}) }, spec }
    }
  }
}

export const target = (ns: string, name: string): WaitTarget => ({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name })
export const quiet = { onStatus: () => {} }

/** Seconds the slowest pod of the namespace waited from creation to being scheduled. */
export async function longestUnschedulable(ns: string): Promise<number> {
  const pods = (await kubectlJson(['-n', ns, 'get', 'pods'])).items as any[]
  return Math.max(
    0,
    ...pods.map(p => {
      const scheduled = p.status?.conditions?.find((c: any) => c.type === 'PodScheduled' && c.status === 'True')
      return scheduled ? (Date.parse(scheduled.lastTransitionTime) - Date.parse(p.metadata.creationTimestamp)) / 1000 : 0
    })
  )
}

/** Pods of the namespace the scheduler has marked Unschedulable (name, uid), once there are `n`. */
export async function unschedulablePods(ns: string, n = 1): Promise<{ name: string; uid: string }[]> {
  let found: { name: string; uid: string }[] = []
  await waitFor(`${n} Unschedulable pod(s) in ${ns}`, async () => {
    const pods = (await kubectlJson(['-n', ns, 'get', 'pods'])).items as any[]
    found = pods
      .filter(p => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c: any) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'))
      .map(p => ({ name: p.metadata.name, uid: p.metadata.uid }))
    return found.length >= n
  })
  return found
}

/** What an autoscaler records on a pod it acted for (core/v1 Event, as cluster-autoscaler and Karpenter write them). */
export async function autoscalerSays(ns: string, pod: { name: string; uid: string }, reason: string, message: string, component = 'cluster-autoscaler'): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const event = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${pod.name}.${randomBytes(4).toString('hex')}`, namespace: ns },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: ns, name: pod.name, uid: pod.uid },
    reason,
    message,
    type: reason.startsWith('Failed') ? 'Warning' : 'Normal',
    source: { component },
    reportingComponent: component,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1
  }
  await kubectl(['create', '-f', '-'], { input: JSON.stringify(event) })
}

