// Moves traffic between the stable and the canary Service. The runner only sees this interface,
// so ingress-nginx (retired upstream) and Gateway API are interchangeable.
import type { TrafficRouterName } from '../inputs.js'
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
