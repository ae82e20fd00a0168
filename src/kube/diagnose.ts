// Why a rollout will not finish, found early: the new pods' container states name the cause
// (image pull, crash loop, config error, OOM, failing probes) long before the progress deadline.
// The pure part classifies pods and events; the I/O part gathers events and log tails.
import type { Diagnostic } from '../report/model.js'
import type { KubeObject } from '../manifests/types.js'
import { isPodReady } from '../manifests/pods.js'
import type { Kube } from './client.js'

export interface PodProblem {
  reason: string
  message: string
  container?: string
  /** the container restarted: its previous log holds the crash */
  restarted?: boolean
  /** a verdict only once the problem has lasted this long (ms): it can clear by itself */
  settleMs?: number
}

type Pod = KubeObject & { spec?: any; status?: any }

/** Pull errors that no retry will fix; a bare ErrImagePull may be a registry blip, so we wait for the back-off. */
const PERMANENT_PULL = /not found|manifest unknown|unauthorized|denied|forbidden|no such host|invalid reference/i

/** Restarts in CrashLoopBackOff (or OOM kills) before a crash loop is a verdict rather than a start-up hiccup. */
export const CRASH_RESTARTS = 2

/**
 * How long problems that can clear by themselves must last: a pull back-off over a timeout or a
 * registry's 5xx (the kubelet retries at 10 s, 20 s, 40 s: three more tries), and a Secret or
 * ConfigMap that an operator (external-secrets, a CSI driver) writes moments after the pod.
 */
export const SETTLE_MS = { pull: 60_000, config: 30_000 }

/**
 * Pure: the reason a pod of a new revision means the rollout cannot succeed, if there is one, from its container
 * states. Scheduling is decided apart (fastfail.scheduleProblem): it depends on the rollout's progress.
 */
export function podProblem(pod: KubeObject): PodProblem | undefined {
  const p = pod as Pod
  if (p.metadata.deletionTimestamp) return undefined
  const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]
  for (const c of statuses) {
    const waiting = c.state?.waiting
    const reason: string | undefined = waiting?.reason
    const message = (waiting?.message as string | undefined) || `${reason} for image ${c.image ?? ''}`.trim()
    if (reason === 'InvalidImageName') return { reason, message, container: c.name }
    // The back-off's message names the pull error since Kubernetes 1.32; without one, or with one
    // a retry may fix, the back-off has to last.
    if (reason === 'ImagePullBackOff') return { reason, message, container: c.name, ...(PERMANENT_PULL.test(message) ? {} : { settleMs: SETTLE_MS.pull }) }
    if (reason === 'CreateContainerConfigError' || reason === 'CreateContainerError') return { reason, message, container: c.name, settleMs: SETTLE_MS.config }
    if (reason === 'ErrImagePull' && PERMANENT_PULL.test(message)) return { reason, message, container: c.name }
    // One kill for memory can be a start-up spike; the second says the limit is too low.
    const oom = c.lastState?.terminated?.reason === 'OOMKilled' || c.state?.terminated?.reason === 'OOMKilled'
    if (oom && (c.restartCount ?? 0) >= CRASH_RESTARTS)
      return { reason: 'OOMKilled', message: `container ${c.name} was killed for exceeding its memory limit (restarted ${c.restartCount} times)`, container: c.name, restarted: true }
    // One crash right after start is common (a dependency not up yet) and the next start often
    // holds; the second restart says it keeps failing.
    if (reason === 'CrashLoopBackOff' && (c.restartCount ?? 0) >= CRASH_RESTARTS) {
      const last = c.lastState?.terminated
      const exit = last ? ` (last exit code ${last.exitCode}${last.reason ? `, ${last.reason}` : ''})` : ''
      return { reason, message: `container ${c.name} keeps crashing: restarted ${c.restartCount ?? 0} times${exit}`, container: c.name, restarted: true }
    }
  }
  return undefined
}

export interface EventLike {
  type?: string
  reason?: string
  message?: string
  count?: number
  series?: { count?: number }
  lastTimestamp?: string
  eventTime?: string
  metadata?: { creationTimestamp?: string }
  involvedObject?: { kind?: string; name?: string; namespace?: string; uid?: string }
  /** who said it (core/v1); reportingComponent for events.k8s.io reporters */
  source?: { component?: string }
  reportingComponent?: string
}

/** Probe failures repeated this often mean the probe (or the app behind it) is broken. */
export const PROBE_FAILURES = 3

/**
 * Pure: a failing-probe problem from a pod's events (each event once, at its latest count), when
 * the failures keep coming. A pod that is Ready now got past them: probes failing a few times
 * while the app starts are normal.
 */
export function probeProblem(events: EventLike[], pod?: KubeObject): PodProblem | undefined {
  if (pod && isPodReady(pod)) return undefined
  const unhealthy = events.filter(e => e.reason === 'Unhealthy')
  const count = unhealthy.reduce((n, e) => n + (e.series?.count ?? e.count ?? 1), 0)
  if (count < PROBE_FAILURES) return undefined
  const last = [...unhealthy].sort((a, b) => eventTime(a) - eventTime(b)).pop()
  return { reason: 'ProbeFailure', message: `probe failed ${count} times: ${last?.message ?? ''}`.trim() }
}

/** Pure: when an event last happened (ms), 0 when it says nothing. */
export function eventTime(e: EventLike): number {
  return Date.parse(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? '') || 0
}

/** Pure: the newest events as one line each, oldest first. */
export function formatEvents(events: EventLike[], max = 5): string[] {
  return [...events]
    .sort((a, b) => eventTime(a) - eventTime(b))
    .slice(-max)
    .map(e => {
      const n = e.series?.count ?? e.count
      return `${e.type ?? 'Normal'} ${e.reason ?? ''}: ${(e.message ?? '').trim()}${n && n > 1 ? ` (x${n})` : ''}`
    })
}

/** Pure: what to try for a reason (the troubleshooting table). */
export function hintFor(reason: string): string | undefined {
  switch (reason) {
    case 'ImagePullBackOff':
    case 'ErrImagePull':
    case 'InvalidImageName':
      return 'check the image tag or digest exists in the registry and that the pull credentials (imagePullSecrets) are right'
    case 'CrashLoopBackOff':
      return 'the container exits right after start: check its environment, config, the port it listens on and the services it connects to (see the log lines)'
    case 'CreateContainerConfigError':
    case 'CreateContainerError':
      return 'a ConfigMap, Secret or key the pod references is missing, or the container spec is wrong'
    case 'OOMKilled':
      return 'raise resources.limits.memory or lower the memory the app uses'
    case 'ProbeFailure':
      return 'check the probe path and port, and initialDelaySeconds/timeoutSeconds against how long the app takes to start'
    case 'Unschedulable':
      return 'no node fits: check resource requests, nodeSelector/affinity and taints, and that an autoscaler (if any) has a node group or pool for the pod'
    case 'ProgressDeadlineExceeded':
      return 'the new pods never became available; see the pod reasons and events above, or raise progressDeadlineSeconds'
    case 'NotReady':
      return 'the pods run but never pass their readiness probe'
    default:
      return undefined
  }
}

/** Events of one object in its namespace. */
export async function eventsFor(api: Kube, namespace: string, kind: string, name: string, signal?: AbortSignal): Promise<EventLike[]> {
  try {
    const list = await api.request<{ items: EventLike[] }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
      query: { fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` },
      signal
    })
    return list.items ?? []
  } catch {
    return []
  }
}

/**
 * The last log lines of a container. Many clusters (and kwok) serve no logs for some pods: any
 * error gives no lines, quietly, since the diagnostic is useful without them.
 */
export async function logTail(api: Kube, pod: KubeObject, problem: PodProblem, lines = 20, signal?: AbortSignal): Promise<string[]> {
  const path = `/api/v1/namespaces/${encodeURIComponent(pod.metadata.namespace ?? 'default')}/pods/${encodeURIComponent(pod.metadata.name)}/log`
  for (const previous of problem.restarted ? [true, false] : [false]) {
    try {
      const text = await api.request<unknown>('GET', path, {
        query: { container: problem.container, tailLines: lines, previous: previous || undefined },
        signal,
        accept: 'text/plain'
      })
      const out = typeof text === 'string' ? text : JSON.stringify(text)
      const tail = out.split('\n').filter(l => l.trim()).slice(-lines)
      if (tail.length) return tail
    } catch {
      // no logs served: keep going without them
    }
  }
  return []
}

/** The report entry for a pod problem: reason, events, log tail and hint. */
export async function diagnosePod(api: Kube, workload: string, pod: KubeObject, problem: PodProblem, signal?: AbortSignal): Promise<Diagnostic> {
  const ns = pod.metadata.namespace ?? 'default'
  const [events, logs] = await Promise.all([eventsFor(api, ns, 'Pod', pod.metadata.name, signal), logTail(api, pod, problem, 20, signal)])
  return {
    resource: `${workload} (pod ${pod.metadata.name})`,
    reason: problem.reason,
    message: problem.message,
    events: formatEvents(events),
    logTail: logs,
    hint: hintFor(problem.reason)
  }
}
