// One concurrent wait for every applied workload under the run's single deadline. Objects of one
// kind in one namespace share a list+watch (50 Deployments cost one watch, not 50); a watch that
// ends is resumed from the last resourceVersion, and one that fails or answers 410 Gone re-lists
// (level-triggered, like client-go's UntilWithSync), so an API server restart mid-wait costs a
// retry, not the verdict. While workloads wait, one pod watch per namespace looks for pods of
// the new revision that cannot start, and ends that workload's wait early with a diagnostic.
import * as core from '@actions/core'
import type { KubeConfig } from '@kubernetes/client-node'
import type { Diagnostic } from '../../report/model.js'
import { CancelledError, DeadlineError, DeployError, describeError } from '../../errors.js'
import { type KubeObject, resourceName } from '../../manifests/types.js'
import { type Kube, classify, clientFor, isTransient } from '../client.js'
import { POLICY, backoffMs } from '../../retry.js'
import { ApiError, failure } from '../errors.js'
import { type PodProblem, diagnosePod, eventsFor, formatEvents, hintFor } from '../diagnose.js'
import { AUTOSCALER, type Autoscaling, progressKey } from '../fastfail.js'
import { type Judged, PodBook, slimWorkload } from './observe.js'
import { sleep } from '../pool.js'
import { type Verdict, evaluate } from './rules.js'

export interface WaitTarget {
  apiVersion: string
  kind: string
  namespace?: string
  name: string
}

export interface WaitOutcome {
  target: WaitTarget
  /** kind/namespace/name */
  resource: string
  verdict: Verdict
  /** from the start of the wait to the verdict */
  durationMs: number
  diagnostic?: Diagnostic
  /** the last state seen */
  object?: KubeObject
}

export interface WaitOptions {
  /** the run's deadline; the wait ends with a timeout verdict when it aborts */
  signal: AbortSignal
  /** a workload's status line changed; core.info by default */
  onStatus?: (resource: string, verdict: Verdict) => void
  /** look at new pods and fail early (default true) */
  diagnose?: boolean
  /** how long a rollout may make no progress before an Unschedulable pod fails it (fastfail.STALL_WINDOW_MS) */
  stallWindowMs?: number
  /** how long "can never fit" waits for an autoscaler to answer, where one may run (fastfail.AUTOSCALER_GRACE_MS) */
  autoscalerGraceMs?: number
}

interface Tracked {
  target: WaitTarget
  resource: string
  obj?: KubeObject
  last?: Verdict
  progress?: string
  outcome?: WaitOutcome
}

interface ListWatchHandlers {
  onList(items: KubeObject[]): void
  onEvent(type: string, obj: KubeObject): void
  /** stop when this answers true */
  finished(): boolean
  /** what the failure line names when list/watch is refused */
  what: { resource: string; rbacResource: string; namespace?: string }
  /** the kind is no longer served (404/400): end the waits as not found instead of throwing */
  onGone?(message: string): void
}

const POD_WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'Pod'])

/** Waits until every target is done or failed, or the deadline passes; never throws for a failed rollout. */
export async function waitForWorkloads(kc: KubeConfig, targets: WaitTarget[], opts: WaitOptions): Promise<WaitOutcome[]> {
  const k = clientFor(kc)
  const started = Date.now()
  const stop = new AbortController()
  const signal = AbortSignal.any([opts.signal, stop.signal])
  const onStatus = opts.onStatus ?? ((resource: string, v: Verdict) => core.info(`${resource}: ${v.message}`))
  const tracked: Tracked[] = targets.map(t => ({ target: t, resource: resourceName({ kind: t.kind, metadata: t }) }))
  if (!tracked.length) return []

  const finish = (t: Tracked, verdict: Verdict, diagnostic?: Diagnostic): void => {
    if (t.outcome) return
    t.outcome = { target: t.target, resource: t.resource, verdict, durationMs: Date.now() - started, diagnostic, object: t.obj }
    if (verdict.message !== t.last?.message) onStatus(t.resource, verdict)
    t.last = verdict
    if (tracked.every(x => x.outcome)) stop.abort()
  }
  let pods: PodWatch | undefined
  const update = (t: Tracked, obj: KubeObject): void => {
    if (t.outcome) return
    t.obj = obj
    const moved = progressKey(obj)
    if (t.progress !== undefined && moved !== t.progress) pods?.progressed()
    t.progress = moved
    const v = evaluate(obj)
    if (v.state !== 'waiting') return finish(t, v)
    if (v.message !== t.last?.message) onStatus(t.resource, v)
    t.last = v
    // A pod problem seen before the controller observed this spec could not be attributed then:
    // only those suspects are looked at again, not every pod.
    pods?.recheck(t.target.namespace)
  }

  const groups = new Map<string, Tracked[]>()
  for (const t of tracked) {
    const key = `${t.target.apiVersion}|${t.target.kind}|${t.target.namespace ?? ''}`
    groups.set(key, [...(groups.get(key) ?? []), t])
  }
  const tasks: Promise<void>[] = [...groups.values()].map(g => watchGroup(k, g, signal, update, finish))
  pods = new PodWatch(k, tracked, finish, signal, { windowMs: opts.stallWindowMs, graceMs: opts.autoscalerGraceMs })
  if (opts.diagnose !== false) tasks.push(...pods.start())

  let fatal: unknown
  await Promise.all(tasks.map(p => p.catch(err => ((fatal ??= err), stop.abort()))))
  if (fatal) throw fatal
  // Why the wait was stopped: a cancelled job has seconds left before the runner kills it, and a
  // run that lost its lock must stop; neither explains, only a deadline does.
  const reason: unknown = opts.signal.aborted ? opts.signal.reason : undefined
  const stopped = reason instanceof DeployError && !(reason instanceof DeadlineError)
  const seen = (t: Tracked): string => t.last?.message ?? 'no status seen'
  for (const t of tracked)
    if (!t.outcome)
      finish(
        t,
        reason instanceof CancelledError
          ? { state: 'failed', reason: 'Cancelled', message: `the job was cancelled while waiting: ${seen(t)}` }
          : stopped
            ? { state: 'failed', reason: 'Stopped', message: `stopped waiting (${(reason as DeployError).message}): ${seen(t)}` }
            : { state: 'failed', reason: 'Timeout', message: `timed out waiting for the rollout: ${seen(t)}` }
      )
  // Say why a workload stalled when no pod problem ended it early (deadline, timeout).
  if (!stopped)
    await Promise.all(
    tracked.map(async t => {
      if (t.outcome!.verdict.state === 'failed' && !t.outcome!.diagnostic) t.outcome!.diagnostic = await pods!.explain(t, t.outcome!.verdict)
    })
  )
  return tracked.map(t => t.outcome!)
}

async function watchGroup(k: Kube, group: Tracked[], signal: AbortSignal, update: (t: Tracked, o: KubeObject) => void, finish: (t: Tracked, v: Verdict) => void): Promise<void> {
  const first = group[0].target
  const r = await k.resource(first.apiVersion, first.kind)
  const path = await k.path({ apiVersion: first.apiVersion, kind: first.kind, namespace: first.namespace })
  const byName = new Map(group.map(t => [t.target.name, t]))
  // One object: let the server filter; several: one watch for the namespace's collection.
  const fieldSelector = group.length === 1 ? `metadata.name=${first.name}` : undefined
  await listWatch(k, path, fieldSelector, signal, {
    what: { resource: `${first.kind} in ${first.namespace ?? 'the cluster'}`, rbacResource: r.group ? `${r.plural}.${r.group}` : r.plural, namespace: first.namespace },
    finished: () => group.every(t => t.outcome),
    onGone(message) {
      for (const t of group) finish(t, { state: 'failed', reason: 'NotFound', message })
    },
    onList(items) {
      // Items of a List carry no apiVersion/kind; the rules need them.
      const seen = new Map(items.map(i => [i.metadata.name, slimWorkload({ ...i, apiVersion: first.apiVersion, kind: first.kind })]))
      for (const t of group) {
        if (t.outcome) continue
        const o = seen.get(t.target.name)
        if (o) update(t, o)
        else finish(t, { state: 'failed', reason: 'NotFound', message: 'object has been deleted' })
      }
    },
    onEvent(type, obj) {
      const t = byName.get(obj.metadata.name)
      if (!t || t.outcome) return
      // kubectl refuses to follow a deleted (maybe re-created) object.
      if (type === 'DELETED') finish(t, { state: 'failed', reason: 'Deleted', message: 'object has been deleted' })
      else update(t, slimWorkload(obj))
    }
  })
}

let unreachableSince: number | undefined

/** Pure: HTTP codes that no retry can change for a list or watch (the kind or the path went away). */
export function permanentWatchCode(code: number | undefined): boolean {
  return code === 404 || code === 400 || code === 405
}

/**
 * List, then watch from the list's resourceVersion; a watch that ends quietly resumes from the
 * last version seen (BOOKMARKs included); 410 Gone or a broken stream re-lists, paced by the one
 * backoff so a server answering ERROR at once is not hammered. Transient errors (no answer, 429,
 * 5xx) retry until the signal aborts; a kind that is no longer served (404/400) ends as not found
 * through h.onGone, else one line is thrown; other errors throw one line.
 */
export async function listWatch(k: Kube, path: string, fieldSelector: string | undefined, signal: AbortSignal, h: ListWatchHandlers): Promise<void> {
  let attempt = 0
  const pause = async (err: unknown): Promise<void> => {
    if (!isTransient(err) && !isStreamError(err)) throw failure(err, { verb: 'watch', ...h.what })
    if (unreachableSince === undefined && isTransient(err)) {
      unreachableSince = Date.now()
      core.info(`${describeError(err)}; retrying until the deadline`)
    }
    attempt++
    // The one policy's step, without its budget: a wait retries until its own deadline.
    await sleep(backoffMs(Math.min(attempt, 5), 0, classify(err) ?? {}, { ...POLICY, attempts: Infinity, budgetMs: Infinity }) ?? 1000, signal).catch(() => undefined)
  }
  const gone = (code: number, message?: string): void => {
    if (!h.onGone) throw failure(new ApiError(code, message ? { message } : undefined, 'GET', path), { verb: 'watch', ...h.what })
    h.onGone(`${h.what.resource}: not found (${code}${message ? ` ${message}` : ''}); the kind is no longer served`)
  }
  while (!signal.aborted && !h.finished()) {
    let list: { metadata: { resourceVersion: string }; items: KubeObject[] }
    try {
      list = await k.request('GET', path, { query: { fieldSelector }, signal })
    } catch (err) {
      if (signal.aborted) return
      if (err instanceof ApiError && (err.code === 403 || err.code === 401)) throw failure(err, { verb: 'list', ...h.what })
      if (err instanceof ApiError && permanentWatchCode(err.code)) return gone(err.code, err.status.message)
      await pause(err)
      continue
    }
    if (signal.aborted) return
    if (unreachableSince !== undefined) {
      core.info(`API server answering again after ${Math.round((Date.now() - unreachableSince) / 1000)}s`)
      unreachableSince = undefined
    }
    let rv = list.metadata.resourceVersion
    h.onList(list.items ?? [])
    attempt = 0
    while (!signal.aborted && !h.finished()) {
      const started = Date.now()
      let status: { code?: number; message?: string } | undefined
      const res = await k.watch(path, { resourceVersion: rv, allowWatchBookmarks: true, fieldSelector }, signal, (type, obj) => {
        if (type === 'ERROR') {
          status = obj as { code?: number; message?: string }
          return 'stop'
        }
        if (obj?.metadata?.resourceVersion) rv = String(obj.metadata.resourceVersion)
        if (type !== 'BOOKMARK') h.onEvent(type, obj)
        // Done (the object went, every workload has its verdict): end the stream now, not when the server does.
        return h.finished() ? 'stop' : undefined
      })
      if (signal.aborted || h.finished()) return
      if (res.stopped) {
        if (permanentWatchCode(status?.code)) return gone(status!.code!, status!.message)
        // 410 Gone is the normal "too old": re-list now; any other ERROR waits a backoff step.
        if (status?.code !== 410) await pause(new Error(`watch ERROR ${status?.code ?? ''} ${status?.message ?? ''}`))
        break
      }
      if (res.err) {
        const code = res.err instanceof ApiError ? res.err.code : undefined
        if (code === 403 || code === 401) throw failure(res.err, { verb: 'watch', ...h.what })
        if (permanentWatchCode(code)) return gone(code!, (res.err as ApiError).status.message)
        // The version asked for is too old to watch from: re-list now.
        if (code === 410) break
        // A watch silent past its server timeout ends with a TimeoutError: resume, nothing is lost.
        if ((res.err as Error).name === 'TimeoutError') continue
        await pause(res.err)
        break
      }
      // A stream something keeps closing at once (a proxy, a restarting server) must not spin.
      if (Date.now() - started < 1000) await sleep(1000, signal).catch(() => undefined)
    }
  }
}

function isStreamError(err: unknown): boolean {
  return err instanceof Error && !(err instanceof ApiError)
}

/**
 * Whether the cluster may add nodes for a pending pod: cluster-autoscaler keeps its status in
 * kube-system (a ConfigMap of that name, by default), and Karpenter serves the karpenter.sh
 * group (EKS Auto Mode and AKS node auto-provisioning too). An identity that may not read the
 * ConfigMap cannot rule an autoscaler out.
 */
export async function detectAutoscaling(k: Kube, signal: AbortSignal): Promise<{ autoscaling: Autoscaling; karpenter: boolean }> {
  const karpenter = await k
    .request<{ versions?: unknown[] }>('GET', '/apis/karpenter.sh', { signal })
    .then(g => !!g.versions?.length)
    .catch((err: unknown) => (err instanceof ApiError && err.code === 404 ? false : undefined))
  if (karpenter) return { autoscaling: 'present', karpenter }
  const status = await k
    .get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kube-system', name: 'cluster-autoscaler-status' }, signal)
    .then(cm => (cm ? 'present' : 'none'))
    .catch(() => 'unknown' as const)
  return { autoscaling: karpenter === undefined && status === 'none' ? 'unknown' : status, karpenter: false }
}

/**
 * Pods of the waited workloads' namespaces: early failure and the explanation of a stall. Per
 * namespace one pod watch and watches of the probe-failure and autoscaler events; the node list
 * and whether an autoscaler runs only once a pod waits to be scheduled. Requests depend on
 * namespaces, not on how long the wait lasts.
 */
class PodWatch {
  private readonly book: PodBook
  private readonly replicaSets = new Map<string, KubeObject | undefined>()
  private readonly inFlight = new Set<string>()
  private capacity?: Promise<void>
  private readonly autoscalerWords: { listed: Promise<void> }[] = []

  constructor(
    private readonly k: Kube,
    private readonly tracked: Tracked[],
    private readonly finish: (t: Tracked, v: Verdict, d?: Diagnostic) => void,
    private readonly signal: AbortSignal,
    limits: { windowMs?: number; graceMs?: number }
  ) {
    this.book = new PodBook(Date.now(), limits)
  }

  private get pods(): Map<string, KubeObject> {
    return this.book.pods
  }

  start(): Promise<void>[] {
    const namespaces = new Set(this.tracked.filter(t => POD_WORKLOADS.has(t.target.kind) && t.target.namespace).map(t => t.target.namespace!))
    const all = this.tracked.filter(t => POD_WORKLOADS.has(t.target.kind))
    if (!all.length) return []
    const done = (): boolean => all.every(t => t.outcome)
    const act = (j: Judged | undefined): void => {
      if (j) void this.report(j.pod, j.problem)
      if (!this.capacity && this.book.needsNodes()) this.capacity = Promise.all([this.watchNodes(done), this.watchAutoscaling([...namespaces], act)]).then(() => undefined)
    }
    const tasks = [...namespaces].flatMap(ns => {
      const mine = all.filter(t => t.target.namespace === ns)
      const finished = (): boolean => mine.every(t => t.outcome)
      const base = `/api/v1/namespaces/${encodeURIComponent(ns)}`
      const pods = listWatch(this.k, `${base}/pods`, undefined, this.signal, {
        what: { resource: `pods in ${ns}`, rbacResource: 'pods', namespace: ns },
        finished,
        onList: items => items.forEach(p => act(this.book.pod(p, Date.now()))),
        onEvent: (type, pod) => (type === 'DELETED' ? this.book.podDeleted(pod, Date.now()) : act(this.book.pod(pod, Date.now())))
      })
      // Failing probes, and an autoscaler adding a node for a pod, show only as events: watched,
      // so a wait costs the same however long it lasts. An identity that may not read events
      // loses only those rules, not the wait.
      const autoscaler = this.watchEvents(ns, `involvedObject.kind=Pod,source=${AUTOSCALER}`, act)
      this.autoscalerWords.push(autoscaler)
      return [pods, this.watchEvents(ns, 'involvedObject.kind=Pod,reason=Unhealthy', act).done, autoscaler.done]
    })
    // The stall rule and the autoscaler's grace depend on time passing: a clock re-judges the pods waiting to be scheduled.
    const clock = setInterval(() => {
      if (this.book.hasPending()) for (const j of this.book.recheck(undefined, Date.now())) act(j)
    }, 1000)
    const stopClock = (): void => clearInterval(clock)
    this.signal.addEventListener('abort', stopClock, { once: true })
    return [...tasks, Promise.all(tasks).finally(stopClock).then(() => this.capacity)]
  }

  /**
   * Pod events of one namespace, fed to the book; an identity that may not read them loses only
   * their rules. `listed` settles once what was already said is in the book (or the watch ended).
   */
  private watchEvents(ns: string, fieldSelector: string, act: (j: Judged | undefined) => void): { done: Promise<void>; listed: Promise<void> } {
    const mine = this.tracked.filter(t => POD_WORKLOADS.has(t.target.kind) && t.target.namespace === ns)
    let listed!: () => void
    const first = new Promise<void>(resolve => (listed = resolve))
    const done = listWatch(this.k, `/api/v1/namespaces/${encodeURIComponent(ns)}/events`, fieldSelector, this.signal, {
      what: { resource: `events in ${ns}`, rbacResource: 'events', namespace: ns },
      finished: () => mine.every(t => t.outcome),
      onList: items => {
        items.forEach(e => act(this.book.event('ADDED', e, Date.now())))
        listed()
      },
      onEvent: (type, e) => act(this.book.event(type, e, Date.now()))
    }).catch(() => undefined)
    return { done, listed: Promise.race([first, done]) }
  }

  /**
   * Whether an autoscaler may answer for the pending pods; with Karpenter, its words on pods
   * (Nominated, and its own FailedScheduling) are watched too, only on clusters that run it.
   * The book learns the answer only once the autoscalers' words already written are in it: a
   * pod pending since before the wait may have been answered for long ago.
   */
  private async watchAutoscaling(namespaces: string[], act: (j: Judged | undefined) => void): Promise<void> {
    const found = await detectAutoscaling(this.k, this.signal).catch(() => ({ autoscaling: 'unknown' as const, karpenter: false }))
    const karpenter = found.karpenter
      ? namespaces.flatMap(ns => [
          this.watchEvents(ns, 'involvedObject.kind=Pod,reason=Nominated', act),
          this.watchEvents(ns, 'involvedObject.kind=Pod,reason=FailedScheduling,source!=default-scheduler', act)
        ])
      : []
    await Promise.all([...this.autoscalerWords, ...karpenter].map(w => w.listed))
    this.book.setAutoscaling(found.autoscaling)
    for (const j of this.book.recheck(undefined, Date.now())) act(j)
    await Promise.all(karpenter.map(w => w.done))
  }

  /** A workload's status counts changed: its rollout moved. */
  progressed(): void {
    this.book.progressed(Date.now())
  }

  /** Looks again at the suspect pods of a namespace (their workload has changed). */
  recheck(ns: string | undefined): void {
    for (const j of this.book.recheck(ns, Date.now())) void this.report(j.pod, j.problem)
  }

  /** The nodes, for the can-never-fit rule; a namespaced identity cannot read them and relies on the scheduler's message. */
  private async watchNodes(finished: () => boolean): Promise<void> {
    try {
      await listWatch(this.k, '/api/v1/nodes', undefined, this.signal, {
        what: { resource: 'nodes', rbacResource: 'nodes' },
        finished,
        onList: items => this.book.setNodes(items),
        onEvent: (type, node) => this.book.setNode(type, node)
      })
    } catch {
      this.book.setNodes('unreadable')
    }
  }

  private async report(pod: KubeObject, problem: PodProblem): Promise<void> {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`
    if (this.inFlight.has(key)) return
    this.inFlight.add(key)
    try {
      const t = await this.owner(pod)
      if (!t || t.outcome) return
      const diagnostic = await diagnosePod(this.k, t.resource, pod, problem, this.signal)
      this.finish(t, { state: 'failed', reason: problem.reason, message: `${problem.reason}: ${problem.message}` }, diagnostic)
    } catch {
      // a diagnostic that cannot be gathered must not break the wait
    } finally {
      this.inFlight.delete(key)
    }
  }

  /** The waited workload whose newest revision owns the pod, if any. */
  private async owner(pod: KubeObject, signal: AbortSignal = this.signal): Promise<Tracked | undefined> {
    const ns = pod.metadata.namespace
    const ref = (pod.metadata.ownerReferences as { kind: string; name: string; uid: string; controller?: boolean }[] | undefined)?.find(r => r.controller)
    if (!ref) return this.tracked.find(t => t.target.kind === 'Pod' && t.target.namespace === ns && t.target.name === pod.metadata.name)
    // Until the controller has observed the current spec, its revision fields still name the
    // previous rollout (right after a rollback, the broken one): attribute nothing yet.
    // Jobs have no observedGeneration (their pods are matched by the Job's uid instead).
    const observed = (o: KubeObject): boolean =>
      o.kind === 'Job' ||
      Number((o as { status?: { observedGeneration?: number } }).status?.observedGeneration ?? 0) >= Number(o.metadata.generation ?? 0)
    const find = (kind: string, name: string) =>
      this.tracked.find(t => t.target.kind === kind && t.target.namespace === ns && t.target.name === name && t.obj && observed(t.obj))
    const labels = pod.metadata.labels ?? {}
    if (ref.kind === 'ReplicaSet') {
      const rs = await this.replicaSet(ns!, ref.name, signal)
      const dref = (rs?.metadata.ownerReferences as { kind: string; name: string }[] | undefined)?.find(r => r.kind === 'Deployment')
      const t = dref && find('Deployment', dref.name)
      const revision = (o?: KubeObject) => o?.metadata.annotations?.['deployment.kubernetes.io/revision']
      return t && t.obj && revision(rs) !== undefined && revision(rs) === revision(t.obj) ? t : undefined
    }
    const t = find(ref.kind, ref.name)
    if (!t?.obj) return undefined
    const status = (t.obj as { status?: { updateRevision?: string } }).status
    if (ref.kind === 'StatefulSet') return labels['controller-revision-hash'] === status?.updateRevision ? t : undefined
    if (ref.kind === 'DaemonSet') return labels['pod-template-generation'] === String(t.obj.metadata.generation) ? t : undefined
    if (ref.kind === 'Job') return ref.uid === t.obj.metadata.uid ? t : undefined
    return undefined
  }

  private async replicaSet(ns: string, name: string, signal: AbortSignal): Promise<KubeObject | undefined> {
    const key = `${ns}/${name}`
    if (!this.replicaSets.has(key) || !this.replicaSets.get(key)?.metadata.annotations)
      this.replicaSets.set(
        key,
        await this.k
          .get({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: ns, name }, signal)
          .then(rs => rs && slimWorkload(rs))
          .catch(() => undefined)
      )
    return this.replicaSets.get(key)
  }

  /** After a deadline or timeout: what the new pods are doing, from the pods already seen. */
  async explain(t: Tracked, verdict: Verdict): Promise<Diagnostic | undefined> {
    if (!POD_WORKLOADS.has(t.target.kind)) return undefined
    // The wait's own signal has fired by now; these few reads get a short budget of their own.
    const signal = AbortSignal.timeout(10_000)
    const candidates = [...this.pods.values()].filter(p => p.metadata.namespace === t.target.namespace)
    for (let pod of candidates) {
      if ((await this.owner(pod, signal).catch(() => undefined)) !== t) continue
      // The watch has stopped: read the pod again so the explanation is its state now.
      pod = (await this.k.get({ apiVersion: 'v1', kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name }, signal).catch(() => undefined)) ?? pod
      const ready = ((pod as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? []).find(c => c.type === 'Ready')
      if (ready?.status === 'True') continue
      const phase = (pod as { status?: { phase?: string } }).status?.phase ?? 'Unknown'
      const events = await eventsFor(this.k, pod.metadata.namespace!, 'Pod', pod.metadata.name, signal)
      const reason = verdict.reason === 'ProgressDeadlineExceeded' || verdict.reason === 'Timeout' ? 'NotReady' : (verdict.reason ?? 'NotReady')
      return {
        resource: `${t.resource} (pod ${pod.metadata.name})`,
        reason,
        message: `pod is ${phase} and not ready`,
        events: formatEvents(events),
        logTail: [],
        hint: hintFor(reason)
      }
    }
    return verdict.reason ? { resource: t.resource, reason: verdict.reason, message: verdict.message, events: [], logTail: [], hint: hintFor(verdict.reason) } : undefined
  }
}
