// ingress-nginx: a canary Ingress beside the main one; the weight is its canary-weight
// annotation. Only the annotations we own are patched (merge patch), values always strings.
import { ApiError } from '../kube/errors.js'
import type { Kube } from '../kube/client.js'
import type { KubeObject } from '../manifests/types.js'
import { resourceName } from '../manifests/types.js'
import { NGINX } from '../strategies/canary-plan.js'
import { FIELD_MANAGER, MERGE_PATCH, type Apply, type TrafficRouter } from './router.js'

/** Merge patch for a weight; on removal also drops header routing so nothing reaches the canary. */
export function nginxPatch(weight: number, removing = false): { metadata: { annotations: Record<string, string | null> } } {
  if (!Number.isInteger(weight) || weight < 0 || weight > 100) throw new RangeError(`canary weight ${weight} is not an integer in 0-100`)
  const annotations: Record<string, string | null> = { [`${NGINX}/canary-weight`]: String(weight) }
  if (removing) annotations[`${NGINX}/canary-by-header`] = null
  return { metadata: { annotations } }
}

export class NginxRouter implements TrafficRouter {
  readonly name = 'nginx' as const
  readonly resource: string
  constructor(
    private readonly k: Kube,
    private readonly ingress: KubeObject,
    private readonly apply: Apply
  ) {
    this.resource = resourceName(ingress)
  }

  async prepare(signal: AbortSignal): Promise<void> {
    await this.apply([this.ingress], signal)
  }

  async setWeight(weight: number, signal: AbortSignal): Promise<void> {
    await this.patch(nginxPatch(weight), signal)
  }

  async remove(signal: AbortSignal): Promise<void> {
    // Weight 0 lands before the delete, so the controller never sees a canary with traffic and no pods.
    if (!(await this.patch(nginxPatch(0, true), signal))) return
    try {
      await this.k.request('DELETE', await this.k.path(ref(this.ingress)), { signal })
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err
    }
  }

  /** False when the Ingress does not exist. */
  private async patch(body: unknown, signal: AbortSignal): Promise<boolean> {
    try {
      await this.k.request('PATCH', await this.k.path(ref(this.ingress)), { body, contentType: MERGE_PATCH, query: { fieldManager: FIELD_MANAGER }, signal })
      return true
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return false
      throw err
    }
  }
}

function ref(o: KubeObject) {
  return { apiVersion: o.apiVersion, kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name }
}
