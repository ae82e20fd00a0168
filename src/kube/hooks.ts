// Runs a chart's hooks for one event the way Helm does: by weight then name, one at a time;
// `before-hook-creation` deletes the previous copy first, each hook is applied (server-side)
// and a Job (or Pod) is waited for to finish; a failed hook stops the phase with its events and
// log tail; `hook-failed` / `hook-succeeded` delete it afterwards (succeeded ones once the whole
// phase has passed, as Helm does).
import * as core from '@actions/core'
import type { KubeConfig } from '@kubernetes/client-node'
import { DeployError } from '../errors.js'
import { type Hook, type HookEvent, hooksFor } from '../manifests/chart.js'
import { type KubeObject, resourceName } from '../manifests/types.js'
import type { Diagnostic } from '../report/model.js'
import { applyObjects } from './apply.js'
import { type Kube, type ObjectRef, clientFor } from './client.js'
import { eventsFor, formatEvents, hintFor, logTail, podProblem } from './diagnose.js'
import { ApiError, failure } from './errors.js'
import { sleep } from './pool.js'
import { waitForWorkloads } from './status/watch.js'

export interface HookRecord {
  resource: string
  event: HookEvent
  ok: boolean
  message: string
  /** deleted by its delete policy after it ran */
  deleted: boolean
}

export interface HookOptions {
  namespace: string
  signal: AbortSignal
  /** a failed hook's diagnostic (events, log tail), for the report */
  onDiagnostic?: (d: Diagnostic) => void
  /** each hook as it finishes (the failed one too) */
  onRecord?: (r: HookRecord) => void
}

/** Pure: whether a hook's kind is one Helm waits for (Jobs to complete, Pods to run). */
export function waitsFor(o: Pick<KubeObject, 'apiVersion' | 'kind'>): boolean {
  return (o.apiVersion.startsWith('batch/') && o.kind === 'Job') || (o.apiVersion === 'v1' && o.kind === 'Pod')
}

/** Runs the event's hooks; throws one DeployError naming the hook that failed. */
export async function runHooks(kc: KubeConfig, hooks: Hook[], event: HookEvent, opts: HookOptions): Promise<HookRecord[]> {
  const api = clientFor(kc)
  const records: HookRecord[] = []
  const done: Hook[] = []
  for (const hook of hooksFor(hooks, event)) {
    const ref = await refIn(api, hook.manifest.object, opts.namespace)
    const resource = resourceName({ kind: ref.kind, metadata: { name: ref.name!, namespace: ref.namespace } })
    if (hook.deletePolicies.includes('before-hook-creation')) await remove(api, ref, resource, opts.signal)
    const [applied] = await applyObjects(kc, [hook.manifest], { namespace: opts.namespace, signal: opts.signal })
    core.info(`${event} hook ${resource} ${applied.change} (weight ${hook.weight})`)
    if (waitsFor(applied.object)) {
      const [outcome] = await waitForWorkloads(kc, [{ ...ref, name: ref.name! }], { signal: opts.signal })
      if (outcome.verdict.state !== 'done') {
        const diagnostic = outcome.diagnostic?.logTail.length ? outcome.diagnostic : await explain(api, applied.after, outcome.verdict.reason ?? 'HookFailed', outcome.verdict.message, outcome.diagnostic)
        opts.onDiagnostic?.(diagnostic)
        let deleted = false
        if (hook.deletePolicies.includes('hook-failed')) deleted = await remove(api, ref, resource, AbortSignal.timeout(30_000)).then(() => true, () => false)
        opts.onRecord?.({ resource, event, ok: false, message: outcome.verdict.message, deleted })
        const tail = diagnostic.logTail.length ? `; log: ${diagnostic.logTail.slice(-3).join(' | ')}` : ''
        throw new DeployError(`${event} hook failed: ${outcome.verdict.message}${tail}`, {
          resource,
          hint: diagnostic.hint ?? 'the release was not changed; see the hook diagnostic in the report'
        })
      }
    }
    records.push({ resource, event, ok: true, message: 'succeeded', deleted: false })
    done.push(hook)
  }
  // Reported after the deletes below have settled `deleted`; objects, so later changes show.
  records.forEach(r => opts.onRecord?.(r))
  // Helm deletes succeeded hooks only once every hook of the phase has passed, last first.
  for (let i = done.length - 1; i >= 0; i--) {
    if (!done[i].deletePolicies.includes('hook-succeeded')) continue
    const ref = await refIn(api, done[i].manifest.object, opts.namespace)
    await remove(api, ref, records[i].resource, opts.signal)
    records[i].deleted = true
  }
  return records
}

async function refIn(api: Kube, object: KubeObject, namespace: string): Promise<ObjectRef> {
  const r = await api.resource(object.apiVersion, object.kind).catch(err => {
    throw failure(err, { verb: 'apply', resource: resourceName(object) })
  })
  return { apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name, namespace: r.namespaced ? object.metadata.namespace || namespace : undefined }
}

/** Deletes the object (pods go in the background) and waits until it is gone. */
async function remove(api: Kube, ref: ObjectRef, resource: string, signal: AbortSignal): Promise<void> {
  try {
    await api.request('DELETE', await api.path(ref), { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' }, signal })
  } catch (err) {
    if (err instanceof ApiError && err.code === 404) return
    throw failure(err, { verb: 'delete', resource })
  }
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(60_000)])
  while (!deadline.aborted) {
    if (!(await api.get(ref, deadline).catch(() => ({}) as KubeObject))) return
    await sleep(250, deadline).catch(() => undefined)
  }
  throw new DeployError('the previous copy of the hook was not deleted within 60s', { resource, hint: 'a finalizer may hold it' })
}

/** A failed Job's events, its newest pod's events and the pod's log tail. */
async function explain(api: Kube, job: KubeObject, reason: string, message: string, seen?: Diagnostic): Promise<Diagnostic> {
  const ns = job.metadata.namespace ?? 'default'
  const signal = AbortSignal.timeout(10_000)
  const events = formatEvents(await eventsFor(api, ns, job.kind, job.metadata.name, signal))
  let pod: KubeObject | undefined
  if (job.kind === 'Pod') pod = job
  else {
    const uid = job.metadata.uid as string | undefined
    const pods = await api
      .request<{ items: KubeObject[] }>('GET', `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`, { query: { labelSelector: uid ? `controller-uid=${uid}` : `job-name=${job.metadata.name}` }, signal })
      .catch(() => ({ items: [] }))
    pod = pods.items.sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp))).pop()
  }
  let logs: string[] = []
  const podEvents: string[] = []
  if (pod) {
    const problem = podProblem(pod) ?? { reason, message, container: ((pod as { spec?: { containers?: { name: string }[] } }).spec?.containers ?? [])[0]?.name }
    logs = await logTail(api, pod, problem, 20, signal)
    podEvents.push(...formatEvents(await eventsFor(api, ns, 'Pod', pod.metadata.name, signal)))
  }
  return {
    resource: `${resourceName(job)}${pod && pod !== job ? ` (pod ${pod.metadata.name})` : ''}`,
    reason: seen?.reason ?? reason,
    message: seen?.message ?? message,
    events: [...events, ...podEvents, ...(seen?.events ?? [])].slice(-10),
    logTail: logs,
    hint: seen?.hint ?? hintFor(reason)
  }
}
