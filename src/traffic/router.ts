// Moves traffic between the stable and the canary Service. The runner only sees this interface,
// so ingress-nginx (retired upstream) and Gateway API are interchangeable.
import type { TrafficRouterName } from '../inputs.js'
import type { Kube, ObjectRef } from '../kube/client.js'
import { ApiError, failure } from '../kube/errors.js'
import type { KubeObject } from '../manifests/types.js'

export interface TrafficRouter {
  readonly name: TrafficRouterName
  /** the object a controller reads to route, kind/namespace/name (for the report) */
  readonly resource: string
  /** Puts the canary route in place at weight 0, header routing on. */
  prepare(signal: AbortSignal): Promise<void>
  /** Percent of requests to the canary, 0-99. */
  setWeight(weight: number, signal: AbortSignal): Promise<void>
  /** Weight 0 first, then the canary route gone; safe to call twice or after a partial prepare. */
  remove(signal: AbortSignal): Promise<void>
}

/** Applies objects with server-side apply (the kube stage's applier). */
export type Apply = (objects: KubeObject[], signal: AbortSignal) => Promise<unknown>

/** Who writes the routing fields (managedFields), apart from the manifests' applier. */
export const FIELD_MANAGER = 'kube-ship-traffic'
export const MERGE_PATCH = 'application/merge-patch+json'

export function refOf(o: KubeObject): ObjectRef {
  return { apiVersion: o.apiVersion, kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name }
}

/** JSON merge patch of the fields we own; answers false when the object does not exist. */
export async function mergePatch(k: Kube, ref: ObjectRef, body: unknown, signal: AbortSignal): Promise<boolean> {
  try {
    await k.request('PATCH', await k.path(ref), { body, contentType: MERGE_PATCH, query: { fieldManager: FIELD_MANAGER }, signal })
    return true
  } catch (err) {
    if (err instanceof ApiError && err.code === 404) return false
    throw await placed(k, err, 'patch', ref)
  }
}

/** Deletes with background propagation (pods go with their Deployment); absent is fine. */
export async function deleteIfExists(k: Kube, ref: ObjectRef, signal: AbortSignal): Promise<void> {
  try {
    await k.request('DELETE', await k.path(ref), { query: { propagationPolicy: 'Background' }, signal })
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 404)) throw await placed(k, err, 'delete', ref)
  }
}

/** The live object, undefined when it does not exist. */
export async function getIn(k: Kube, ref: ObjectRef, signal: AbortSignal): Promise<KubeObject | undefined> {
  try {
    return await k.get(ref, signal)
  } catch (err) {
    throw await placed(k, err, 'get', ref)
  }
}

/** The objects of a kind in a namespace, optionally by label. */
export async function listIn(k: Kube, ref: ObjectRef, signal: AbortSignal, labelSelector?: string): Promise<KubeObject[]> {
  try {
    const list = await k.request<{ items?: KubeObject[] }>('GET', await k.path(ref), { query: { labelSelector }, signal })
    // List items carry no apiVersion/kind; later patches and deletes need them.
    return (list.items ?? []).map(o => ({ ...o, apiVersion: ref.apiVersion, kind: ref.kind }))
  } catch (err) {
    throw await placed(k, err, 'list', ref)
  }
}

/** One line naming the verb, the object and, for 403, the RBAC rule to add. */
async function placed(k: Kube, err: unknown, verb: string, ref: ObjectRef): Promise<unknown> {
  if (!(err instanceof ApiError)) return err
  const r = await k.resource(ref.apiVersion, ref.kind).catch(() => undefined)
  const resource = ref.name ? `${ref.kind}/${ref.namespace}/${ref.name}` : `${ref.kind} in ${ref.namespace}`
  return failure(err, { verb, resource, namespace: ref.namespace, rbacResource: r && (r.group ? `${r.plural}.${r.group}` : r.plural) })
}
