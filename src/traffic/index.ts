// The router a run asked for, built from the canary plan. Routers read and write traffic
// objects only; the strategies drive them (strategies import traffic, never the reverse).
import type { TrafficRouterName } from '../inputs.js'
import type { Kube } from '../kube/client.js'
import type { SplitPlan } from './rules.js'
import { GatewayRouter } from './gateway-api.js'
import { NginxRouter } from './nginx.js'
import type { Apply, TrafficRouter } from './router.js'

export type { Apply, TrafficRouter } from './router.js'

export function makeRouter(name: TrafficRouterName, api: Kube, plan: SplitPlan, apply: Apply): TrafficRouter {
  if (name === 'gateway-api') return new GatewayRouter(api, plan)
  return new NginxRouter(api, plan.canary.ingress!, apply)
}
