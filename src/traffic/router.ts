// Moves traffic between the stable and the canary Service. The runner only sees this interface,
// so ingress-nginx (retired upstream) and Gateway API are interchangeable.
import type { TrafficRouterName } from '../inputs.js'
import type { Kube, ObjectRef } from '../kube/client.js'
import { ApiError } from '../kube/errors.js'
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
    throw err
  }
}

/** Deletes with background propagation (pods go with their Deployment); absent is fine. */
export async function deleteIfExists(k: Kube, ref: ObjectRef, signal: AbortSignal): Promise<void> {
  try {
    await k.request('DELETE', await k.path(ref), { query: { propagationPolicy: 'Background' }, signal })
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 404)) throw err
  }
}
