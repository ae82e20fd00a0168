// What the routers read and write, as data: the annotations ingress-nginx reads, an HTTPRoute's
// rules and their canary split, and the part of a canary plan a router needs. Pure.
import type { KubeObject } from '../manifests/types.js'

/** Marks every object a canary run creates, naming the stable Deployment; leftovers are found by it. */
export const CANARY_OF = 'kube-ship.dev/canary-of'
/** Names the environment (as a label value) of a canary's objects: leftover removal is scoped to it. */
export const ENVIRONMENT = 'kube-ship.dev/environment'
export const NGINX = 'nginx.ingress.kubernetes.io'
/**
 * The canary header carries 'always' (ingress-nginx's own word when no canary-by-header-value is
 * set, and what the HTTPRoute header rule matches); 'never' forces the stable pods on nginx.
 */
export const HEADER_VALUE = 'always'

/** What a router needs of a canary plan: where the app is served and where the canary goes. */
export interface SplitPlan {
  namespace: string
  /** the stable Deployment (its name marks the route as ours) */
  stable: { object: KubeObject }
  stableService: string
  canary: { service: KubeObject; ingress?: KubeObject }
  /** gateway-api: the HTTPRoute and its rules as they were, restored on remove */
  route?: { name: string; rules: RouteRule[] }
  header: { name: string; value: string }
  /** the run's environment as a label value (marks the route as ours, with the Deployment) */
  environment: string
}

export interface RouteRule {
  name?: string
  matches?: RouteMatch[]
  backendRefs?: BackendRef[]
  [key: string]: unknown
}
export interface RouteMatch {
  headers?: { type?: string; name: string; value: string }[]
  [key: string]: unknown
}
export interface BackendRef {
  group?: string
  kind?: string
  name: string
  namespace?: string
  port?: number
  weight?: number
  [key: string]: unknown
}

/** ingress-nginx's ParseBool. */
export function isCanaryIngress(ing: KubeObject): boolean {
  return ['true', '1', 't', 'TRUE', 'True', 'T'].includes(ing.metadata.annotations?.[`${NGINX}/canary`] ?? '')
}

export function rulesOf(route: KubeObject): RouteRule[] {
  return structuredClone(((route.spec as { rules?: RouteRule[] } | undefined)?.rules ?? []) as RouteRule[])
}

export function isStableRef(ref: BackendRef, service: string, namespace: string): boolean {
  return ref.name === service && (ref.kind ?? 'Service') === 'Service' && (ref.group ?? '') === '' && (ref.namespace ?? namespace) === namespace
}

export function refsStable(rule: RouteRule, service: string, namespace: string): boolean {
  return (rule.backendRefs ?? []).some(r => isStableRef(r, service, namespace))
}

/**
 * The route's rules at a canary weight: each rule that sends to the stable Service is split
 * stable (100-w) / canary (w), and preceded by a copy that adds the canary header match and
 * sends only to the canary (more header matches win in Gateway API precedence), so probes
 * with the header reach the canary at every weight.
 */
export function canaryRouteRules(original: RouteRule[], stableService: string, canaryService: string, namespace: string, weight: number, header: { name: string; value: string }): RouteRule[] {
  return original.flatMap(rule => {
    const stableRef = (rule.backendRefs ?? []).find(r => isStableRef(r, stableService, namespace))
    if (!stableRef) return [rule]
    const canaryRef: BackendRef = { ...stableRef, name: canaryService }
    const matches = (rule.matches?.length ? rule.matches : [{ path: { type: 'PathPrefix', value: '/' } }]).map(m => ({
      ...m,
      headers: [...(m.headers ?? []), { type: 'Exact', name: header.name, value: header.value }]
    }))
    const byHeader: RouteRule = { ...rule, ...(rule.name ? { name: `${rule.name}-canary` } : {}), matches, backendRefs: [{ ...canaryRef, weight: 1 }] }
    return [byHeader, { ...rule, backendRefs: [{ ...stableRef, weight: 100 - weight }, { ...canaryRef, weight }] }]
  })
}
