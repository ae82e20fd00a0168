// Gateway API: the app's HTTPRoute itself is edited. Each rule to the stable Service gets the
// canary Service beside it with weights stable 100-w / canary w, and a header rule ahead of it
// for probes. The original rules are kept in an annotation on the route, so a later run can
// restore them even when this one was killed.
import { DeployError } from '../errors.js'
import type { Kube } from '../kube/client.js'
import type { KubeObject } from '../manifests/types.js'
import { getIn, mergePatch } from '../kube/objects.js'
import { pause } from '../retry.js'
import type { TrafficRouter } from './router.js'
import { CANARY_OF, ENVIRONMENT, canaryRouteRules, rulesOf, type RouteRule, type SplitPlan } from './rules.js'

export const ORIGINAL_RULES = 'kube-ship.dev/original-rules'
const API = 'gateway.networking.k8s.io/v1'

/** The rules a route had before a canary touched it; undefined when no canary did. */
export function originalRules(route: KubeObject): RouteRule[] | undefined {
  const text = route.metadata.annotations?.[ORIGINAL_RULES]
  return text === undefined ? undefined : (JSON.parse(text) as RouteRule[])
}

/**
 * Whether the route's controllers have processed its current spec: every parent status carries
 * an Accepted condition observed at the route's generation. undefined when no controller reports
 * status at all (nothing to wait for).
 */
export function routeObserved(route: KubeObject): boolean | undefined {
  const parents = (route.status as { parents?: { conditions?: { type: string; observedGeneration?: number }[] }[] } | undefined)?.parents ?? []
  if (parents.length === 0) return undefined
  const generation = Number(route.metadata.generation ?? 0)
  return parents.every(p => (p.conditions ?? []).some(c => c.type === 'Accepted' && (c.observedGeneration ?? -1) >= generation))
}

/** How long remove() waits for the router to take the canary out before the canary Service goes. */
const OBSERVE_MS = 10_000
/** After the controller has processed the route it still applies it asynchronously. */
const SETTLE_MS = 1_000

/** Merge patch that puts the original rules back and forgets them. */
export function restorePatch(rules: RouteRule[]): unknown {
  return { metadata: { annotations: { [ORIGINAL_RULES]: null, [CANARY_OF]: null, [ENVIRONMENT]: null } }, spec: { rules } }
}

export class GatewayRouter implements TrafficRouter {
  readonly name = 'gateway-api' as const
  readonly resource: string
  private original?: RouteRule[]

  constructor(
    private readonly api: Kube,
    private readonly plan: SplitPlan
  ) {
    this.resource = `HTTPRoute/${plan.namespace}/${plan.route!.name}`
  }

  async prepare(signal: AbortSignal): Promise<void> {
    const live = await getIn(this.api, this.ref(), signal)
    if (!live) throw new DeployError(`HTTPRoute ${this.plan.namespace}/${this.plan.route!.name} does not exist`, { input: 'http-route' })
    // The live rules carry the API server's defaults; they are what a restore must put back.
    this.original = originalRules(live) ?? rulesOf(live)
    const annotations = { [ORIGINAL_RULES]: JSON.stringify(this.original), [CANARY_OF]: this.plan.stable.object.metadata.name, [ENVIRONMENT]: this.plan.environment }
    await this.patch({ metadata: { annotations }, spec: { rules: this.rules(0) } }, signal)
  }

  async setWeight(weight: number, signal: AbortSignal): Promise<void> {
    if (!this.original) return // not prepared: the route carries no canary
    await this.patch({ spec: { rules: this.rules(weight) } }, signal)
    // The step's gates probe through the router: wait until it reports this generation.
    await this.observed(signal)
  }

  async remove(signal: AbortSignal): Promise<void> {
    if (!this.original) {
      const live = await getIn(this.api, this.ref(), signal)
      this.original = live && originalRules(live)
      if (!this.original) return
    }
    // One patch: the split and the header rule vanish together, weight 0 is implied.
    await this.patch(restorePatch(this.original), signal)
    this.original = undefined
    // The canary Service is deleted next: requests the router still sends there would fail, so
    // wait (bounded) until the router reports this generation, then let it apply it.
    await this.observed(signal)
  }

  private async observed(signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + OBSERVE_MS
    for (;;) {
      const live = await getIn(this.api, this.ref(), signal)
      const seen = live && routeObserved(live)
      if (seen === undefined) return
      if (seen || Date.now() > deadline) break
      await pause(250, signal)
    }
    await pause(SETTLE_MS, signal)
  }

  private rules(weight: number): RouteRule[] {
    const p = this.plan
    return canaryRouteRules(this.original!, p.stableService, p.canary.service.metadata.name, p.namespace, weight, p.header)
  }

  private ref() {
    return { apiVersion: API, kind: 'HTTPRoute', namespace: this.plan.namespace, name: this.plan.route!.name }
  }

  private async patch(body: unknown, signal: AbortSignal): Promise<void> {
    if (!(await mergePatch(this.api, this.ref(), body, signal)))
      throw new DeployError(`HTTPRoute ${this.plan.namespace}/${this.plan.route!.name} does not exist`, { input: 'http-route' })
  }
}
