// Undo for workloads: captured before the apply, used when the rollout or a health gate fails.
//
// - Deployment: `kubectl rollout undo` semantics. The previous revision's ReplicaSet (revision
//   annotation as captured) still exists; its pod template, minus the pod-template-hash label,
//   is written back to the Deployment with a JSON patch, so the controller scales that old
//   ReplicaSet up again instead of starting new pods. The captured template is the fallback
//   when that ReplicaSet is gone (revisionHistoryLimit 0).
// - StatefulSet / DaemonSet: the captured spec.template is written back the same way.
// - A workload this run created (it did not exist before) is deleted: it never served, and a
//   Deployment scaled to 0 would be a leftover nobody asked for. Jobs are left as they are (a
//   Job that ran cannot be undone, and its pods are what one inspects).
// - Other objects (ConfigMaps, Services, ...) keep the applied version; the report says so.
import * as core from '@actions/core'
import type { KubeConfig } from '@kubernetes/client-node'
import type { RollbackRecord } from '../report/model.js'
import { type KubeObject, type Manifest, resourceName } from '../manifests/types.js'
import { describeError } from '../errors.js'
import { appImage, imagesOf } from '../manifests/pods.js'
import { type Kube, kube, labelSelector } from './client.js'
import { failure } from './errors.js'
import { mapLimit } from './pool.js'
import { ROLLBACK_MANAGER, withNamespace } from './apply.js'
import { type WaitOutcome, type WaitTarget, waitForWorkloads } from './status/watch.js'

const REVISION = 'deployment.kubernetes.io/revision'
const UNDOABLE = new Set(['Deployment', 'StatefulSet', 'DaemonSet'])

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
  return manifests.filter(m => m.object.apiVersion === 'apps/v1' && UNDOABLE.has(m.object.kind))
}

/** Reads the live state of every workload the documents name, before anything is applied. */
export async function captureWorkloads(kc: KubeConfig, manifests: Manifest[], opts: { namespace?: string; signal?: AbortSignal } = {}): Promise<Capture[]> {
  const k = kube(kc)
  const fallback = opts.namespace || k.contextNamespace
  return mapLimit(undoable(manifests), 8, async m => {
    const object = withNamespace(m.object, true, fallback)
    const target = { apiVersion: object.apiVersion, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name }
    const resource = resourceName(object)
    try {
      return { target, resource, before: await k.get(target, opts.signal) }
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
  const k = kube(kc)
  const records: RollbackRecord[] = []
  const restored: WaitTarget[] = []
  await mapLimit(captures, 8, async c => {
    try {
      const live = await k.get(c.target, opts.signal)
      if (!live) return
      if (!c.before) {
        await k.request('DELETE', await k.path(c.target), { body: { propagationPolicy: 'Background' }, signal: opts.signal })
        records.push({ resource: c.resource, action: 'deleted', message: 'created by this run' })
        return
      }
      if (!changed(c.before, live)) return
      const template = c.target.kind === 'Deployment' ? await previousTemplate(k, c, live, opts.signal) : (c.before as Workload).spec?.template
      await restoreTemplate(kc, c.target, template, opts.signal)
      if (c.target.kind === 'StatefulSet') await deleteBrokenPods(k, live, opts.signal)
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
async function previousTemplate(k: Kube, c: Capture, live: KubeObject, signal: AbortSignal): Promise<unknown> {
  const revision = c.before!.metadata.annotations?.[REVISION]
  const selector = labelSelector((live as Workload).spec?.selector?.matchLabels ?? {})
  const list = await k.request<{ items: KubeObject[] }>('GET', await k.path({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: c.target.namespace }), {
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
  const k = kube(kc)
  return k.request('PATCH', await k.path(target), {
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
async function deleteBrokenPods(k: Kube, live: KubeObject, signal: AbortSignal): Promise<void> {
  const status = (live as { status?: { updateRevision?: string; currentRevision?: string } }).status
  if (!status?.updateRevision || status.updateRevision === status.currentRevision) return
  const labels = { ...(live as Workload).spec?.selector?.matchLabels, 'controller-revision-hash': status.updateRevision }
  const selector = Object.entries(labels).map(([key, v]) => `${key}=${v}`).join(',')
  const ns = encodeURIComponent(live.metadata.namespace ?? 'default')
  const pods = await k.request<{ items: KubeObject[] }>('GET', `/api/v1/namespaces/${ns}/pods`, { query: { labelSelector: selector }, signal })
  for (const pod of pods.items) {
    const ready = ((pod as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? []).some(c => c.type === 'Ready' && c.status === 'True')
    if (!ready) await k.request('DELETE', `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(pod.metadata.name)}`, { signal })
  }
}
