// Single-object reads and writes for the strategies and routers: get, list, merge patch,
// delete, each failing with one line that names the verb and the object (and, for 403, the RBAC
// rule to add). Manifests go through apply.ts; these touch what a run creates or moves.
import type { KubeObject } from '../manifests/types.js'
import type { Kube, ObjectRef } from './client.js'
import { ApiError, failure } from './errors.js'

/** Who writes the routing fields (managedFields), apart from the manifests' applier. */
export const TRAFFIC_MANAGER = 'kube-ship-traffic'
export const MERGE_PATCH = 'application/merge-patch+json'

/** JSON merge patch of the fields we own; answers false when the object does not exist. */
export async function mergePatch(api: Kube, ref: ObjectRef, body: unknown, signal: AbortSignal): Promise<boolean> {
  try {
    await api.request('PATCH', await api.path(ref), { body, contentType: MERGE_PATCH, query: { fieldManager: TRAFFIC_MANAGER }, signal })
    return true
  } catch (err) {
    if (err instanceof ApiError && err.code === 404) return false
    throw await objectFailure(api, err, 'patch', ref)
  }
}

/**
 * Deletes (background propagation by default: pods go after their Deployment; Foreground keeps
 * the object until its dependents are gone); absent is fine.
 */
export async function deleteIfExists(api: Kube, ref: ObjectRef, signal: AbortSignal, propagationPolicy: 'Background' | 'Foreground' = 'Background'): Promise<void> {
  try {
    await api.request('DELETE', await api.path(ref), { query: { propagationPolicy }, signal })
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 404)) throw await objectFailure(api, err, 'delete', ref)
  }
}

/** The live object, undefined when it does not exist. */
export async function getIn(api: Kube, ref: ObjectRef, signal: AbortSignal): Promise<KubeObject | undefined> {
  try {
    return await api.get(ref, signal)
  } catch (err) {
    throw await objectFailure(api, err, 'get', ref)
  }
}

/** The objects of a kind in a namespace, optionally by label. */
export async function listIn(api: Kube, ref: ObjectRef, signal: AbortSignal, labelSelector?: string): Promise<KubeObject[]> {
  try {
    const list = await api.request<{ items?: KubeObject[] }>('GET', await api.path(ref), { query: { labelSelector }, signal })
    // List items carry no apiVersion/kind; later patches and deletes need them.
    return (list.items ?? []).map(o => ({ ...o, apiVersion: ref.apiVersion, kind: ref.kind }))
  } catch (err) {
    throw await objectFailure(api, err, 'list', ref)
  }
}

/** One line naming the verb, the object and, for 403, the RBAC rule to add. */
async function objectFailure(api: Kube, err: unknown, verb: string, ref: ObjectRef): Promise<unknown> {
  if (!(err instanceof ApiError)) return err
  const r = await api.resource(ref.apiVersion, ref.kind).catch(() => undefined)
  const resource = ref.name ? `${ref.kind}/${ref.namespace}/${ref.name}` : `${ref.kind} in ${ref.namespace}`
  return failure(err, { verb, resource, namespace: ref.namespace, rbacResource: r && (r.group ? `${r.plural}.${r.group}` : r.plural) })
}
