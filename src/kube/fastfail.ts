// Pure: when an Unschedulable pod ends a wait early. A pending pod is a dead end only when no
// node could ever hold it (requests above every node's allocatable, no node matching its
// selector, affinity or tolerations) and no autoscaler will add one, or when the rollout has
// stopped moving: nothing became Ready, nothing old went away and nothing is still starting,
// for a whole window. A surge pod waiting for the capacity the rollout is about to free is
// neither, so it keeps waiting.
import type { KubeObject } from '../manifests/types.js'
import { isPodReady } from '../manifests/pods.js'
import { type EventLike, type PodProblem, eventTime } from './diagnose.js'

/** How long a rollout may show no progress at all before an Unschedulable pod fails it. */
export const STALL_WINDOW_MS = 120_000

interface Taint {
  key: string
  value?: string
  effect: string
}
interface Toleration {
  key?: string
  operator?: string
  value?: string
  effect?: string
}
interface Requirement {
  key: string
  operator: string
  values?: string[]
}
interface Term {
  matchExpressions?: Requirement[]
  matchFields?: Requirement[]
}

type Pod = KubeObject & { spec?: any; status?: any }
type Node = KubeObject & { spec?: { taints?: Taint[]; unschedulable?: boolean }; status?: { allocatable?: Record<string, string> } }

const SUFFIX: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60
}

/** A Kubernetes quantity ("500m", "1Gi", "1e3") as a number; NaN when it is not one. */
export function quantity(q: unknown): number {
  if (typeof q === 'number') return q
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/.exec(String(q ?? '').trim())
  if (!m) return NaN
  return Number(m[1] + (m[2] ?? '')) * SUFFIX[m[3] ?? '']
}

/** What the scheduler counts for a pod: the larger of its containers (with sidecars) and any init container, plus overhead. */
export function podRequests(pod: KubeObject): Map<string, number> {
  const spec = (pod as Pod).spec ?? {}
  const add = (into: Map<string, number>, requests: Record<string, unknown> | undefined): void => {
    for (const [k, v] of Object.entries(requests ?? {})) into.set(k, (into.get(k) ?? 0) + (quantity(v) || 0))
  }
  const sum = new Map<string, number>()
  const sidecars = new Map<string, number>()
  for (const c of spec.containers ?? []) add(sum, c.resources?.requests)
  for (const c of spec.initContainers ?? []) if (c.restartPolicy === 'Always') add(sidecars, c.resources?.requests)
  add(sum, Object.fromEntries(sidecars))
  for (const c of spec.initContainers ?? []) {
    if (c.restartPolicy === 'Always') continue
    const one = new Map(sidecars)
    add(one, c.resources?.requests)
    for (const [k, v] of one) if (v > (sum.get(k) ?? 0)) sum.set(k, v)
  }
  add(sum, spec.overhead)
  for (const [k, v] of sum) if (!v) sum.delete(k)
  return sum
}

// Taints the node lifecycle controller sets and lifts by itself (not ready, pressure, cordon,
// not yet initialised): a node carrying one may take the pod later.
const TRANSIENT_TAINT = /^node\.kubernetes\.io\/|^node\.cloudprovider\.kubernetes\.io\/uninitialized$/

function tolerates(tolerations: Toleration[], t: Taint): boolean {
  return tolerations.some(
    tol =>
      (!tol.effect || tol.effect === t.effect) &&
      (tol.operator === 'Exists' ? !tol.key || tol.key === t.key : tol.key === t.key && (tol.value ?? '') === (t.value ?? ''))
  )
}

function matches(r: Requirement, value: string | undefined): boolean {
  const values = r.values ?? []
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value)
    case 'NotIn':
      return value === undefined || !values.includes(value)
    case 'Exists':
      return value !== undefined
    case 'DoesNotExist':
      return value === undefined
    case 'Gt':
      return value !== undefined && Number(value) > Number(values[0])
    case 'Lt':
      return value !== undefined && Number(value) < Number(values[0])
    default:
      return false
  }
}

function termMatches(term: Term, node: Node): boolean {
  const labels = node.metadata.labels ?? {}
  const fields: Record<string, string> = { 'metadata.name': node.metadata.name }
  return (term.matchExpressions ?? []).every(r => matches(r, labels[r.key])) && (term.matchFields ?? []).every(r => matches(r, fields[r.key]))
}

/** Pure: why this node can never hold the pod, whatever else runs on it; undefined when it could. */
export function nodeRefusal(pod: KubeObject, node: KubeObject, requests = podRequests(pod)): string | undefined {
  const spec = (pod as Pod).spec ?? {}
  const n = node as Node
  const labels = n.metadata.labels ?? {}
  for (const [k, v] of Object.entries((spec.nodeSelector ?? {}) as Record<string, string>)) if (labels[k] !== v) return "didn't match the pod's nodeSelector"
  const terms: Term[] | undefined = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms
  if (terms?.length && !terms.some(t => termMatches(t, n))) return "didn't match the pod's node affinity"
  const tolerations: Toleration[] = spec.tolerations ?? []
  const taint = (n.spec?.taints ?? []).find(t => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !TRANSIENT_TAINT.test(t.key) && !tolerates(tolerations, t))
  if (taint) return `had untolerated taint {${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect}}`
  const allocatable = n.status?.allocatable ?? {}
  const short = [...requests].filter(([k, v]) => v > (quantity(allocatable[k]) || 0)).map(([k]) => k)
  if (quantity(allocatable.pods ?? '1') < 1) short.push('pods')
  if (short.length) return `too small for the pod's requests (${short.join(', ')})`
  return undefined
}

// The answer for a pod version and a node list: pending pods are judged again every second and
// on every workload update, and a cached pod or node list is the same object until it changes.
const fits = new WeakMap<KubeObject, { nodes: KubeObject[]; why: string | undefined }>()

/** Pure: why no node of `nodes` could ever hold the pod, as one line; undefined when one could, or no nodes are known. */
export function neverFits(pod: KubeObject, nodes: KubeObject[]): string | undefined {
  const known = fits.get(pod)
  if (known?.nodes === nodes) return known.why
  const why = fitRefusal(pod, nodes)
  fits.set(pod, { nodes, why })
  return why
}

function fitRefusal(pod: KubeObject, nodes: KubeObject[]): string | undefined {
  if (!nodes.length) return undefined
  const requests = podRequests(pod)
  const counts = new Map<string, number>()
  for (const node of nodes) {
    const why = nodeRefusal(pod, node, requests)
    if (!why) return undefined
    counts.set(why, (counts.get(why) ?? 0) + 1)
  }
  return `no node can ever hold the pod: ${[...counts].map(([why, n]) => `${n} node${n > 1 ? 's' : ''} ${why}`).join(', ')}`
}

// When nodes cannot be read (a namespaced Role), the scheduler's own words: preemption "is not
// helpful" on every node only when each one failed for a reason no eviction can change, and the
// reasons named are ones we know to be static (not an unbound claim, not pod affinity).
const UNRESOLVABLE = /preemption: 0\/(\d+) nodes are available: (\d+) Preemption is not helpful for scheduling\.?$/
const STATIC_REASON = /^\d+ (Insufficient \S+|node\(s\) didn't match Pod's node affinity\/selector|node\(s\) had untolerated taint.*)$/

/** Pure: the scheduler's message says no node can ever hold the pod. */
export function schedulerSaysNeverFits(message: string | undefined): boolean {
  const m = UNRESOLVABLE.exec((message ?? '').trim())
  if (!m || m[1] !== m[2]) return false
  // The per-node reasons end at the first ". " (newer schedulers add "no new claims to deallocate").
  const head = /^0\/\d+ nodes are available: (.*?)\.\s/.exec(message!.trim())?.[1]
  return !!head && head.split(/, (?=\d+ )/).every(r => STATIC_REASON.test(r.trim()))
}

export interface Unschedulable {
  message: string
  /** when the scheduler first said so */
  since: number
}

/** Pure: the pod's Unschedulable condition, if the scheduler has given up on it for now. */
export function unschedulable(pod: KubeObject): Unschedulable | undefined {
  const p = pod as Pod
  if (p.metadata.deletionTimestamp || p.spec?.nodeName) return undefined
  const c = (p.status?.conditions ?? []).find((x: any) => x.type === 'PodScheduled')
  if (c?.status !== 'False' || c.reason !== 'Unschedulable') return undefined
  const since = Date.parse(String(c.lastTransitionTime ?? p.metadata.creationTimestamp ?? '')) || 0
  return { message: String(c.message ?? 'no node fits the pod'), since }
}

export interface RolloutProgress {
  /** the last moment anything of the rollout moved: a pod became Ready, an old pod went away, a status count changed */
  lastProgressAt: number
  /** a pod is still starting or terminating: it may yet become Ready or free its node */
  inFlight: boolean
}

/** Whether the cluster runs something that adds nodes for pending pods; undefined while not known yet. */
export type Autoscaling = 'none' | 'present' | 'unknown'

/** What an autoscaler last said about a pod: a node is coming for it, or none will. */
export type AutoscalerWord = 'coming' | 'refused'

/**
 * How long "no node can ever hold the pod" waits for an autoscaler to answer for it, where one may
 * run: three of cluster-autoscaler's 10 s scans (Karpenter answers within seconds).
 */
export const AUTOSCALER_GRACE_MS = 30_000

export interface ScheduleFacts {
  now: number
  /** the cluster's nodes; 'unreadable' when the identity may not list them (the scheduler's message decides); undefined while not known yet */
  nodes?: KubeObject[] | 'unreadable'
  progress: RolloutProgress
  windowMs?: number
  /** whether an autoscaler may add a node that today's nodes cannot stand for; undefined while not known (no never-fit verdict then) */
  autoscaling?: Autoscaling
  /** its newest word on this pod (autoscalerWord) */
  word?: AutoscalerWord
  graceMs?: number
}

// cluster-autoscaler's words on a pod it looked at: it asked a node group to grow for it, or it
// found no group that would help (NotTriggerScaleUp) or the growth failed (FailedScaleUp).
// Karpenter's: Nominated (a node claim is being launched for it), or FailedScheduling "Failed
// to schedule pod, …" (no node pool can hold it) under its own name, not the scheduler's.
const COMING = new Set(['TriggeredScaleUp', 'Nominated'])
const REFUSED = new Set(['NotTriggerScaleUp', 'FailedScaleUp'])
const SCHEDULER = 'default-scheduler'

/** The component whose pod events say capacity is coming (events are watched by this source). */
export const AUTOSCALER = 'cluster-autoscaler'

function wordOf(e: EventLike): AutoscalerWord | undefined {
  const reason = e.reason ?? ''
  if (COMING.has(reason)) return 'coming'
  if (REFUSED.has(reason)) return 'refused'
  const by = e.source?.component || e.reportingComponent
  if (reason === 'FailedScheduling' && by && by !== SCHEDULER && /^Failed to schedule pod/.test(e.message ?? '')) return 'refused'
  return undefined
}

/**
 * Pure: an autoscaler's newest word on the pod. A node that does not exist yet can hold a pod
 * no current node can, so while one is coming neither "can never fit" nor a stall is a verdict;
 * the progress deadline and the run's timeout still bound the wait. At the same second, a
 * refusal wins (it answers that scale-up).
 */
export function autoscalerWord(events: EventLike[]): AutoscalerWord | undefined {
  let last: { at: number; word: AutoscalerWord } | undefined
  for (const e of events) {
    const word = wordOf(e)
    if (!word) continue
    const at = eventTime(e)
    if (!last || at > last.at || (at === last.at && word === 'refused')) last = { at, word }
  }
  return last?.word
}

/** Pure: the problem an Unschedulable pod means for its rollout, or undefined to keep waiting. */
export function scheduleProblem(pod: KubeObject, facts: ScheduleFacts): PodProblem | undefined {
  const u = unschedulable(pod)
  if (!u || facts.word === 'coming') return undefined
  const never =
    facts.nodes === 'unreadable' ? (schedulerSaysNeverFits(u.message) ? 'no node can ever hold the pod' : undefined) : facts.nodes ? neverFits(pod, facts.nodes) : undefined
  if (never) {
    // Today's nodes are not the last word where an autoscaler may add one: unless it has said
    // no, nothing is decided until it is known whether one runs, and then it gets its scans.
    const refused = facts.word === 'refused'
    if (!refused && !facts.autoscaling) return undefined
    const grace = !refused && facts.autoscaling !== 'none'
    const waited = facts.now - u.since
    if (grace && waited < (facts.graceMs ?? AUTOSCALER_GRACE_MS)) return undefined
    const silent = grace ? `; no autoscaler offered a node in ${Math.round(waited / 1000)}s` : ''
    return { reason: 'Unschedulable', message: `${never} (scheduler: ${u.message})${silent}` }
  }
  const window = facts.windowMs ?? STALL_WINDOW_MS
  const quietSince = Math.max(u.since, facts.progress.lastProgressAt)
  if (facts.progress.inFlight || facts.now - quietSince < window) return undefined
  return {
    reason: 'Unschedulable',
    message: `the rollout made no progress for ${Math.round((facts.now - quietSince) / 1000)}s with this pod unschedulable: ${u.message}`
  }
}

/** Pure: the pod may still change the picture by itself: starting on a node, or terminating. */
export function inFlight(pod: KubeObject): boolean {
  const p = pod as Pod
  if (p.metadata.deletionTimestamp) return true
  if (!p.spec?.nodeName) return false
  const phase = p.status?.phase
  return phase !== 'Succeeded' && phase !== 'Failed' && !isPodReady(p)
}

/** Pure: a pod update that counts as progress (it became Ready). */
export function becameReady(before: KubeObject | undefined, after: KubeObject): boolean {
  return isPodReady(after) && !(before && isPodReady(before))
}

/** Pure: the status counts of a workload whose change means its rollout moved. */
export function progressKey(obj: KubeObject): string {
  const s = ((obj as { status?: Record<string, unknown> }).status ?? {}) as Record<string, unknown>
  return ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'currentReplicas', 'updatedNumberScheduled', 'numberReady', 'numberAvailable', 'succeeded', 'active']
    .map(k => String(s[k] ?? 0))
    .join(',')
}
