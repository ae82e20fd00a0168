// What the wait has seen of the pods, their probe events and the nodes, kept so that each update
// costs only the pod it concerns: a pod update or an event re-judges that one pod; a workload
// update re-judges only the pods already suspected (a problem not attributable yet, or a pod
// waiting to be scheduled). It also times the problems that must last before they are a
// verdict. No I/O here: the watch feeds it and acts on what it answers.
import { isDeepStrictEqual } from 'node:util'
import { type KubeObject, keptCopy } from '../../manifests/types.js'
import { type EventLike, type PodProblem, podProblem, probeProblem } from '../diagnose.js'
import { type Autoscaling, autoscalerWord, becameReady, inFlight, scheduleProblem, unschedulable } from '../fastfail.js'

export interface Judged {
  pod: KubeObject
  problem: PodProblem
}

const key = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`

/**
 * Pure: a waited object as the wait keeps it. The rules (rules.ts, fastfail.progressKey, the
 * pod owner match) read metadata, the spec's counts and strategy, and the status; a workload's
 * pod template (and a StatefulSet's claim templates, a CronJob's job template) only weighs.
 */
export function slimWorkload(o: KubeObject): KubeObject {
  const { spec, ...rest } = o as KubeObject & { spec?: Record<string, unknown> }
  const out: KubeObject & { spec?: Record<string, unknown> } = { ...rest, metadata: keptCopy(o).metadata }
  if (spec) {
    const { template: _t, volumeClaimTemplates: _v, jobTemplate: _j, ...kept } = spec
    out.spec = kept
  }
  return out
}

/**
 * The parts of a pod the rules read (diagnose.podProblem, probeProblem, the fastfail rules, the
 * owner match); the rest (managedFields, env, volumes, IPs, timestamps of running states) is
 * dropped. Each cached version outlives a few collections, so its size is what makes V8 grow
 * its young generation under a stream of pod updates.
 */
export function slimPod(pod: KubeObject): KubeObject {
  const m = pod.metadata as KubeObject['metadata'] & { ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[]; deletionTimestamp?: string; creationTimestamp?: string; uid?: string }
  const spec = ((pod as { spec?: Record<string, any> }).spec ?? {}) as Record<string, any>
  const status = ((pod as { status?: Record<string, any> }).status ?? {}) as Record<string, any>
  const containers = (list?: any[]) =>
    list?.map(c => ({ name: c.name, image: c.image, restartPolicy: c.restartPolicy, resources: c.resources?.requests ? { requests: c.resources.requests } : undefined }))
  const terminated = (t: any) => (t ? { reason: t.reason, exitCode: t.exitCode } : undefined)
  const statuses = (list?: any[]) =>
    list?.map(c => ({
      name: c.name,
      image: c.image,
      restartCount: c.restartCount,
      state: { waiting: c.state?.waiting ? { reason: c.state.waiting.reason, message: c.state.waiting.message } : undefined, terminated: terminated(c.state?.terminated) },
      lastState: c.lastState?.terminated ? { terminated: terminated(c.lastState.terminated) } : undefined
    }))
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      creationTimestamp: m.creationTimestamp,
      deletionTimestamp: m.deletionTimestamp,
      labels: m.labels,
      ownerReferences: m.ownerReferences?.filter(r => r.controller).map(r => ({ kind: r.kind, name: r.name, uid: r.uid, controller: true }))
    },
    spec: {
      nodeName: spec.nodeName,
      nodeSelector: spec.nodeSelector,
      affinity: spec.affinity?.nodeAffinity ? { nodeAffinity: spec.affinity.nodeAffinity } : undefined,
      tolerations: spec.tolerations,
      overhead: spec.overhead,
      containers: containers(spec.containers),
      initContainers: containers(spec.initContainers)
    },
    status: {
      phase: status.phase,
      conditions: status.conditions?.map((c: any) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message, lastTransitionTime: c.lastTransitionTime })),
      containerStatuses: statuses(status.containerStatuses),
      initContainerStatuses: statuses(status.initContainerStatuses)
    }
  } as KubeObject
}

/** The parts of an event the probe and autoscaler rules read (and formatEvents shows). */
export function slimEvent(e: EventLike): EventLike {
  // Who said it matters only for FailedScheduling (the scheduler's, or Karpenter's refusal).
  const by = e.reason === 'FailedScheduling' ? e.source?.component || e.reportingComponent : undefined
  return {
    type: e.type,
    reason: e.reason,
    message: e.message,
    ...(by ? { source: { component: by } } : {}),
    count: e.count,
    series: e.series?.count !== undefined ? { count: e.series.count } : undefined,
    lastTimestamp: e.lastTimestamp,
    eventTime: e.eventTime,
    metadata: { creationTimestamp: e.metadata?.creationTimestamp },
    involvedObject: { uid: e.involvedObject?.uid }
  }
}

/** The parts of a node the fit rule reads. */
export function slimNode(node: KubeObject): KubeObject {
  const n = node as KubeObject & { spec?: { taints?: unknown; unschedulable?: boolean }; status?: { allocatable?: unknown } }
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.metadata.name, labels: n.metadata.labels },
    spec: { taints: n.spec?.taints },
    status: { allocatable: n.status?.allocatable }
  } as KubeObject
}

export class PodBook {
  readonly pods = new Map<string, KubeObject>()
  private readonly events = new Map<string, Map<string, EventLike>>()
  /** pods with a problem or waiting to be scheduled: re-judged when their workload moves or time passes */
  private readonly suspects = new Set<string>()
  /** pods whose problem must last before it is a verdict (PodProblem.settleMs): since when, for which reason */
  private readonly settling = new Map<string, { reason: string; since: number }>()
  private readonly moving = new Set<string>()
  private nodes?: KubeObject[] | 'unreadable'
  private autoscaling?: Autoscaling
  private lastProgressAt: number

  constructor(
    now: number,
    private readonly limits: { windowMs?: number; graceMs?: number } = {}
  ) {
    this.lastProgressAt = now
  }

  /** Whether the cluster may add nodes (fastfail.Autoscaling); until known, "can never fit" waits. */
  setAutoscaling(a: Autoscaling): void {
    this.autoscaling = a
  }

  /** Something of the rollout moved (a workload's status counts changed). */
  progressed(now: number): void {
    this.lastProgressAt = now
  }

  /** The cluster's nodes, or 'unreadable' (forbidden): then the scheduler's message decides. */
  setNodes(nodes: KubeObject[] | 'unreadable'): void {
    this.nodes = nodes === 'unreadable' ? nodes : nodes.map(slimNode)
  }

  setNode(type: string, node: KubeObject): void {
    const known = Array.isArray(this.nodes) ? this.nodes : []
    const slim = slimNode(node)
    // A heartbeat changes nothing the fit rule reads: the same list keeps the fits remembered for it.
    if (type !== 'DELETED' && known.some(n => isDeepStrictEqual(n, slim))) return
    const rest = known.filter(n => n.metadata.name !== node.metadata.name)
    this.nodes = type === 'DELETED' ? rest : [...rest, slim]
  }

  /** A pod was listed, added or changed: its verdict, if it has a problem. */
  pod(raw: KubeObject, now: number): Judged | undefined {
    const slim = slimPod(raw)
    const k = key(slim.metadata.namespace, slim.metadata.name)
    const before = this.pods.get(k)
    // An update that changed nothing the rules read keeps the cached version (nothing new survives).
    const pod = before && isDeepStrictEqual(before, slim) ? before : slim
    if (before && before.metadata.uid !== pod.metadata.uid) this.events.delete(k)
    if (becameReady(before, pod)) this.lastProgressAt = now
    this.pods.set(k, pod)
    if (inFlight(pod)) this.moving.add(k)
    else this.moving.delete(k)
    return this.judge(k, now)
  }

  /** A pod went away: an old pod leaving frees its node, which is progress. */
  podDeleted(pod: KubeObject, now: number): void {
    const k = key(pod.metadata.namespace, pod.metadata.name)
    this.pods.delete(k)
    this.events.delete(k)
    this.suspects.delete(k)
    this.settling.delete(k)
    this.moving.delete(k)
    this.lastProgressAt = now
  }

  /** A probe event about a pod: that pod's verdict, if the failures now amount to one. */
  event(type: string, e: EventLike & { metadata?: { name?: string; namespace?: string } }, now: number): Judged | undefined {
    const name = e.involvedObject?.name
    if (!name) return undefined
    const k = key(e.metadata?.namespace ?? e.involvedObject?.namespace, name)
    const mine = this.events.get(k) ?? new Map<string, EventLike>()
    if (type === 'DELETED') mine.delete(e.metadata?.name ?? '')
    else mine.set(e.metadata?.name ?? String(mine.size), slimEvent(e))
    this.events.set(k, mine)
    return this.judge(k, now)
  }

  /** Re-judges the suspects of one namespace (or all); for a workload update and for the clock. */
  recheck(ns: string | undefined, now: number): Judged[] {
    const out: Judged[] = []
    for (const k of this.suspects) {
      if (ns !== undefined && this.pods.get(k)?.metadata.namespace !== ns) continue
      const j = this.judge(k, now)
      if (j) out.push(j)
    }
    return out
  }

  /** Pods waiting to be scheduled, or with a problem that must last: the clock matters to them. */
  hasPending(): boolean {
    return this.settling.size > 0 || this.needsNodes()
  }

  /** An Unschedulable pod is waiting: the node list is worth reading. */
  needsNodes(): boolean {
    for (const k of this.suspects) if (this.pods.get(k) && unschedulable(this.pods.get(k)!)) return true
    return false
  }

  private judge(k: string, now: number): Judged | undefined {
    const pod = this.pods.get(k)
    if (!pod) return undefined
    const events = [...(this.events.get(k)?.values() ?? [])].filter(e => !e.involvedObject?.uid || e.involvedObject.uid === pod.metadata.uid)
    const problem =
      podProblem(pod) ??
      probeProblem(events, pod) ??
      scheduleProblem(pod, {
        now,
        nodes: this.nodes,
        progress: { lastProgressAt: this.lastProgressAt, inFlight: this.moving.size > 0 },
        windowMs: this.limits.windowMs,
        autoscaling: this.autoscaling,
        word: autoscalerWord(events),
        graceMs: this.limits.graceMs
      })
    if (problem || unschedulable(pod)) this.suspects.add(k)
    else this.suspects.delete(k)
    if (!problem?.settleMs) {
      this.settling.delete(k)
      return problem ? { pod, problem } : undefined
    }
    const before = this.settling.get(k)
    const since = before?.reason === problem.reason ? before.since : now
    this.settling.set(k, { reason: problem.reason, since })
    if (now - since < problem.settleMs) return undefined
    return { pod, problem: { ...problem, message: `${problem.message} (for ${Math.round((now - since) / 1000)}s)` } }
  }
}
