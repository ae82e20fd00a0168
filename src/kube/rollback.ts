// Undo of a failed run, from the Journal the apply kept (what existed before, what it wrote,
// which namespaces it created). Only what this run changed is touched:
//
// - Deployment: `kubectl rollout undo` semantics. The previous revision's ReplicaSet (revision
//   annotation as captured) still exists; its pod template, minus the pod-template-hash label,
//   is written back to the Deployment with a JSON patch, so the controller scales that old
//   ReplicaSet up again instead of starting new pods. The captured template is the fallback
//   when that ReplicaSet is gone (revisionHistoryLimit 0).
// - StatefulSet / DaemonSet: the captured spec.template is written back the same way.
// - Every other object the run changed (ConfigMaps, Secrets, Services, Ingresses, custom
//   objects) gets its captured version back by a replace (PUT) of the object as it was read
//   before the run, its resourceVersion swapped for the live one (a concurrent change is a
//   conflict, not lost). The fields put back are then owned by the kube-ship-rollback manager,
//   which the next apply takes over quietly; other managers keep what they owned.
// - An object this run created is deleted, and so is a namespace it created (with everything in
//   it: nothing there served before the run). Jobs are left as they are: a Job that ran cannot be
//   undone, and its pods are what one inspects.
import * as core from '@actions/core'
import type { KubeConfig } from '@kubernetes/client-node'
import type { RollbackRecord } from '../report/model.js'
import { type KubeObject, type Manifest, resourceName } from '../manifests/types.js'
import { describeError } from '../errors.js'
import { appImage, imagesOf, isPodReady } from '../manifests/pods.js'
import { type Kube, clientFor, labelSelector } from './client.js'
import { ApiError, failure } from './errors.js'
import { mapLimit } from './pool.js'
import { type Journal, type JournalEntry, ROLLBACK_MANAGER, undoneByTemplate, withNamespace } from './apply.js'
import { type WaitOutcome, type WaitTarget, waitForWorkloads } from './status/watch.js'

const REVISION = 'deployment.kubernetes.io/revision'

export interface Capture {
  target: WaitTarget
  resource: string
  /** the live object before the apply; undefined when this run creates it */
  before?: KubeObject
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; [key: string]: unknown }
  spec?: Record<string, unknown>
}
type Workload = KubeObject & { spec?: { template?: PodTemplate; selector?: { matchLabels?: Record<string, string> } } }

/** Pure: the documents that name undoable workloads (apps/v1 Deployment, StatefulSet, DaemonSet). */
export function undoable(manifests: Manifest[]): Manifest[] {
  return manifests.filter(m => undoneByTemplate(m.object))
}

/** Reads the live state of every workload the documents name, before anything is applied. */
export async function captureWorkloads(kc: KubeConfig, manifests: Manifest[], opts: { namespace?: string; signal?: AbortSignal } = {}): Promise<Capture[]> {
  const api = clientFor(kc)
  const fallback = opts.namespace || api.contextNamespace
  return mapLimit(undoable(manifests), 8, async m => {
    const object = withNamespace(m.object, true, fallback)
    const target = { apiVersion: object.apiVersion, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name }
    const resource = resourceName(object)
    try {
      return { target, resource, before: await api.get(target, opts.signal) }
    } catch (err) {
      throw failure(err, { verb: 'get', resource, namespace: target.namespace, rbacResource: `${object.kind.toLowerCase()}s.apps`, origin: m.origin })
    }
  })
}

/**
 * Pure: the previous-image output. The image a container of the deployed repository ran before
 * (`repository`, e.g. the `image` input), else the first container of the first workload that existed.
 */
export function previousImage(captures: Capture[], repository?: string): string | undefined {
  return appImage(captures.flatMap(c => (c.before ? imagesOf(c.before) : [])), repository)
}

/** Pure: a ReplicaSet's pod template as the Deployment carried it (kubectl drops pod-template-hash). */
export function templateOf(rs: KubeObject): unknown {
  const template = structuredClone((rs as Workload).spec?.template ?? {})
  if (template.metadata?.labels) delete template.metadata.labels['pod-template-hash']
  return template
}

/** Pure: did the apply change what rollback restores? (Same revision / template means nothing to undo.) */
export function changed(before: KubeObject, live: KubeObject): boolean {
  // Right after an apply the controller may not have bumped the revision yet: compare both.
  if (before.kind === 'Deployment' && before.metadata.annotations?.[REVISION] !== live.metadata.annotations?.[REVISION]) return true
  return JSON.stringify((before as Workload).spec?.template) !== JSON.stringify((live as Workload).spec?.template)
}

export interface RollbackOptions {
  /** bounded on its own: a rollback must run even when the run's deadline is what failed */
  signal: AbortSignal
  /** wait for the restored rollouts (default true) */
  wait?: boolean
}

export interface RollbackResult {
  records: RollbackRecord[]
  outcomes: WaitOutcome[]
}

/** Restores every captured workload the apply changed, deletes those it created, then waits. */
export async function rollbackWorkloads(kc: KubeConfig, captures: Capture[], opts: RollbackOptions): Promise<RollbackResult> {
  const api = clientFor(kc)
  const records: RollbackRecord[] = []
  const restored: WaitTarget[] = []
  await mapLimit(captures, 8, async c => {
    try {
      const live = await api.get(c.target, opts.signal)
      if (!live) return
      if (!c.before) {
        await api.request('DELETE', await api.path(c.target), { body: { propagationPolicy: 'Background' }, signal: opts.signal })
        records.push({ resource: c.resource, action: 'deleted', message: 'created by this run' })
        return
      }
      if (!changed(c.before, live)) return
      const template = c.target.kind === 'Deployment' ? await previousTemplate(api, c, live, opts.signal) : (c.before as Workload).spec?.template
      await restoreTemplate(kc, c.target, template, opts.signal)
      if (c.target.kind === 'StatefulSet') await deleteBrokenPods(api, live, opts.signal)
      restored.push(c.target)
      records.push({ resource: c.resource, action: 'restored', image: appImage(imagesOf({ ...c.before, spec: { template } } as KubeObject)) })
    } catch (err) {
      const line = describeError(failure(err, { verb: 'patch', resource: c.resource, namespace: c.target.namespace }))
      core.error(`rollback of ${c.resource} failed: ${line}`)
      records.push({ resource: c.resource, action: 'failed', message: line })
    }
  })
  const outcomes = opts.wait === false || !restored.length ? [] : await waitForWorkloads(kc, restored, { signal: opts.signal })
  for (const o of outcomes) {
    const r = records.find(x => x.resource === o.resource)
    if (r && o.verdict.state !== 'done') Object.assign(r, { action: 'failed', message: `restored, but its rollout did not finish: ${o.verdict.message}` })
  }
  return { records: records.sort((a, b) => a.resource.localeCompare(b.resource)), outcomes }
}

/** The template of the ReplicaSet at the captured revision; the captured template if it is gone. */
async function previousTemplate(api: Kube, c: Capture, live: KubeObject, signal: AbortSignal): Promise<unknown> {
  const revision = c.before!.metadata.annotations?.[REVISION]
  const selector = labelSelector((live as Workload).spec?.selector?.matchLabels ?? {})
  const list = await api.request<{ items: KubeObject[] }>('GET', await api.path({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: c.target.namespace }), {
    query: { labelSelector: selector || undefined },
    signal
  })
  const rs = list.items.find(
    i =>
      (i.metadata.ownerReferences as { uid: string }[] | undefined)?.some(r => r.uid === live.metadata.uid) &&
      i.metadata.annotations?.[REVISION] === revision
  )
  return rs ? templateOf(rs) : (c.before as Workload).spec?.template
}

/** Writes a pod template back the way `kubectl rollout undo` does: one JSON patch of spec.template. */
export async function restoreTemplate(kc: KubeConfig, target: WaitTarget, template: unknown, signal?: AbortSignal): Promise<KubeObject> {
  const api = clientFor(kc)
  return api.request('PATCH', await api.path(target), {
    query: { fieldManager: ROLLBACK_MANAGER },
    body: [{ op: 'replace', path: '/spec/template', value: template }],
    contentType: 'application/json-patch+json',
    signal
  })
}

/**
 * A StatefulSet waits for a pod of the failed revision to become Ready before it replaces it,
 * which a broken pod never does ("forced rollback" in the StatefulSet docs): after restoring the
 * template, delete the failed revision's pods that are not Ready so the controller recreates them.
 */
async function deleteBrokenPods(api: Kube, live: KubeObject, signal: AbortSignal): Promise<void> {
  const status = (live as { status?: { updateRevision?: string; currentRevision?: string } }).status
  if (!status?.updateRevision || status.updateRevision === status.currentRevision) return
  const labels = { ...(live as Workload).spec?.selector?.matchLabels, 'controller-revision-hash': status.updateRevision }
  const selector = labelSelector(labels)
  const ns = encodeURIComponent(live.metadata.namespace ?? 'default')
  const pods = await api.request<{ items: KubeObject[] }>('GET', `/api/v1/namespaces/${ns}/pods`, { query: { labelSelector: selector }, signal })
  for (const pod of pods.items) {
    if (!isPodReady(pod)) await api.request('DELETE', `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(pod.metadata.name)}`, { signal })
  }
}

/** Pure: the workload captures of a journal (what the previous-image output and workload undo read). */
export function capturesOf(journal: Journal): Capture[] {
  return journal.entries
    .filter(e => undoneByTemplate(e) && e.readable)
    .map(e => ({ target: { apiVersion: e.apiVersion, kind: e.kind, namespace: e.namespace, name: e.name }, resource: e.resource, before: e.before }))
}

/** Pure: what rollback does with each journal entry. */
export function undoPlan(journal: Journal): { workloads: JournalEntry[]; objects: JournalEntry[]; left: JournalEntry[] } {
  const gone = new Set(journal.createdNamespaces)
  const touched = journal.entries.filter(
    e =>
      e.written &&
      e.change !== 'unchanged' &&
      // A namespace this run created goes as a whole, with what is in it.
      !(e.namespace && gone.has(e.namespace)) &&
      !(e.apiVersion === 'v1' && e.kind === 'Namespace' && gone.has(e.name))
  )
  const isJob = (e: JournalEntry) => e.apiVersion === 'batch/v1' && e.kind === 'Job'
  const isWorkload = (e: JournalEntry) => undoneByTemplate(e) && e.readable
  return { workloads: touched.filter(isWorkload), objects: touched.filter(e => !isWorkload(e) && !isJob(e)), left: touched.filter(isJob) }
}

/** Pure: the captured object as a replace body: the live resourceVersion and uid, no status. */
export function restoreBody(before: KubeObject, live: KubeObject): KubeObject {
  const body = structuredClone(before) as KubeObject & { status?: unknown }
  delete body.status
  delete body.metadata.generation
  body.metadata.resourceVersion = live.metadata.resourceVersion
  body.metadata.uid = live.metadata.uid
  return body
}

/** Pure: is there anything a rollback would do for this journal? */
export function hasChanges(journal: Journal): boolean {
  const plan = undoPlan(journal)
  return journal.createdNamespaces.length > 0 || plan.workloads.length + plan.objects.length > 0
}

/** Undoes everything the journal says this run changed; waits for restored workloads. */
export async function rollbackRun(kc: KubeConfig, journal: Journal, opts: RollbackOptions): Promise<RollbackResult> {
  const api = clientFor(kc)
  const plan = undoPlan(journal)
  const records: RollbackRecord[] = []
  const objects = mapLimit(plan.objects, 8, async e => {
    try {
      const record = await undoObject(api, e, opts.signal)
      if (record) records.push(record)
    } catch (err) {
      const line = describeError(failure(err, { verb: e.before ? 'update' : 'delete', resource: e.resource, namespace: e.namespace, rbacResource: e.rbacResource }))
      core.error(`rollback of ${e.resource} failed: ${line}`)
      records.push({ resource: e.resource, action: 'failed', message: line })
    }
  })
  const namespaces = mapLimit([...journal.createdNamespaces].reverse(), 4, async name => {
    const resource = `Namespace/${name}`
    try {
      await api.request('DELETE', `/api/v1/namespaces/${encodeURIComponent(name)}`, { body: { propagationPolicy: 'Background' }, signal: opts.signal })
      records.push({ resource, action: 'deleted', message: 'created by this run, with everything in it' })
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return
      const line = describeError(failure(err, { verb: 'delete', resource, rbacResource: 'namespaces' }))
      core.error(`rollback of ${resource} failed: ${line}`)
      records.push({ resource, action: 'failed', message: line })
    }
  })
  for (const e of plan.left) core.info(`Rollback: ${e.resource} left as it is (a Job that ran cannot be undone)`)
  const [workloads] = await Promise.all([rollbackWorkloads(kc, capturesOf({ ...journal, entries: plan.workloads }), opts), objects, namespaces])
  return { records: [...records, ...workloads.records].sort((a, b) => a.resource.localeCompare(b.resource)), outcomes: workloads.outcomes }
}

/** Deletes what the run created; puts back what it changed. Undefined when there was nothing to do. */
async function undoObject(api: Kube, e: JournalEntry, signal: AbortSignal): Promise<RollbackRecord | undefined> {
  const ref = { apiVersion: e.apiVersion, kind: e.kind, namespace: e.namespace, name: e.name }
  const path = await api.path(ref)
  if (!e.before) {
    if (!e.readable && e.change !== 'created')
      return { resource: e.resource, action: 'failed', message: 'the identity may not read it, so what it was before the run is unknown' }
    try {
      await api.request('DELETE', path, { body: { propagationPolicy: 'Background' }, signal })
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined
      throw err
    }
    return { resource: e.resource, action: 'deleted', message: 'created by this run' }
  }
  // Bounded: a conflict means someone wrote in between; read again and retry twice at most.
  for (let attempt = 1; ; attempt++) {
    const live = await api.get(ref, signal)
    if (!live) {
      const { resourceVersion: _rv, uid: _uid, ...metadata } = e.before.metadata
      await api.request('POST', await api.path({ ...ref, name: undefined }), { query: { fieldManager: ROLLBACK_MANAGER }, body: { ...restoreBody(e.before, e.before), metadata }, signal })
      return { resource: e.resource, action: 'restored', message: 'recreated as it was before the run' }
    }
    if (live.metadata.resourceVersion === e.before.metadata.resourceVersion) return undefined
    try {
      await api.request('PUT', path, { query: { fieldManager: ROLLBACK_MANAGER }, body: restoreBody(e.before, live), signal })
      return { resource: e.resource, action: 'restored' }
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 409) || attempt >= 3) throw err
    }
  }
}
