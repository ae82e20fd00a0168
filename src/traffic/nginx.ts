// ingress-nginx: a canary Ingress beside the main one; the weight is its canary-weight
// annotation. Only the annotations we own are patched (merge patch), values always strings.
import { refOf, type Kube } from '../kube/client.js'
import { deleteIfExists, mergePatch } from '../kube/objects.js'
import type { KubeObject } from '../manifests/types.js'
import { resourceName } from '../manifests/types.js'
import { pause } from '../retry.js'
import type { Apply, TrafficRouter } from './router.js'
import { NGINX } from './rules.js'

/** Merge patch for a weight; on removal also drops header routing so nothing reaches the canary. */
export function nginxPatch(weight: number, removing = false): { metadata: { annotations: Record<string, string | null> } } {
  if (!Number.isInteger(weight) || weight < 0 || weight > 100) throw new RangeError(`canary weight ${weight} is not an integer in 0-100`)
  const annotations: Record<string, string | null> = { [`${NGINX}/canary-weight`]: String(weight) }
  if (removing) annotations[`${NGINX}/canary-by-header`] = null
  return { metadata: { annotations } }
}

/** How long the controller is given to apply an annotation change (an Ingress reports none). */
const SETTLE_MS = 2_000

export class NginxRouter implements TrafficRouter {
  readonly name = 'nginx' as const
  readonly resource: string
  constructor(
    private readonly api: Kube,
    private readonly ingress: KubeObject,
    private readonly apply: Apply
  ) {
    this.resource = resourceName(ingress)
  }

  async prepare(signal: AbortSignal): Promise<void> {
    await this.apply([this.ingress], signal)
  }

  async setWeight(weight: number, signal: AbortSignal): Promise<void> {
    await mergePatch(this.api, refOf(this.ingress), nginxPatch(weight), signal)
    // A weight counts once the controller routes by it: the step's gates (canary header
    // included) must not probe a route the controller has yet to build.
    await pause(SETTLE_MS, signal)
  }

  async remove(signal: AbortSignal): Promise<void> {
    // Weight 0 lands before the delete, so the controller never sees a canary with traffic and no pods.
    if (!(await mergePatch(this.api, refOf(this.ingress), nginxPatch(0, true), signal))) return
    // The canary Service is deleted right after this; a controller applies annotations
    // asynchronously and reports nothing on the Ingress, so give it a moment (through Traefik, 1
    // request in ~2000 failed with 502 without this pause).
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, SETTLE_MS)
      signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true })
    })
    await deleteIfExists(this.api, refOf(this.ingress), signal)
  }
}
