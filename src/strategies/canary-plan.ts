// The canary as data: which Deployment, Service and Ingress/HTTPRoute carry the app, the
// canary objects to create beside them, and the steps. Pure; the runner (canary.ts) executes it.
// Every input problem is found here, before any traffic moves.
import { DeployError } from '../errors.js'
import { parseReference, repository } from '../image/reference.js'
import type { CanaryStep, Settings } from '../inputs.js'
import { podProblem } from '../kube/diagnose.js'
import type { KubeObject, Manifest, WorkloadSpec } from '../manifests/types.js'
import { resourceName } from '../manifests/types.js'
import { imagesOf } from '../manifests/pods.js'
import type { Change } from '../report/model.js'
import { earlyLabels, splitRelease } from './release-split.js'
import { CANARY_OF, ENVIRONMENT, HEADER_VALUE, NGINX, isCanaryIngress, refsStable, rulesOf, type SplitPlan } from '../traffic/rules.js'

export const TRACK = 'kube-ship.dev/track'
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kube-ship' }

// Annotations copied from a stable object would mean something else on its copy.
const DROPPED_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration', 'deployment.kubernetes.io/revision']

export interface LiveState {
  /** the stable Deployment as the cluster has it; absent on a first deploy */
  deployment?: KubeObject
  /** a live Deployment already named <deployment>-canary, if any */
  canaryDeployment?: KubeObject
  services: KubeObject[]
  ingresses: KubeObject[]
  httpRoutes: KubeObject[]
}

export interface CanaryPlanInput {
  documents: Manifest[]
  /** the pinned image, repo@digest */
  image: string
  /** namespace for documents that name none */
  namespace: string
  live: LiveState
  settings: Pick<Settings, 'canarySteps' | 'trafficRouter' | 'ingress' | 'httpRoute' | 'canaryHeader'>
  /** milliseconds left before the run's deadline */
  budgetMs: number
  /** objectKey → what applying each document would do (the server-side dry run's answer) */
  changes: Map<string, Change>
  /** the run's environment as a label value (environmentLabel) */
  environment: string
}

export interface PlannedStep extends CanaryStep {
  /** canary pods at this step: the weight's share of the stable replicas, at least one */
  replicas: number
}

export interface CanaryPlan extends SplitPlan {
  /** the rendered stable Deployment (new digest): applied as is on promotion */
  stable: Manifest
  /** the other documents this run creates or changes: applied on promotion, before the stable Deployment */
  later: Manifest[]
  /** a new ServiceAccount the canary runs as: created before the canary (with the early labels), deleted on abort */
  early: Manifest[]
  /** the early objects' documents, applied on promotion first: the apply drops the early labels */
  adopt: Manifest[]
  /** copies of the changed ConfigMaps/Secrets the new template names; the canary names them */
  copies: Manifest[]
  canary: { deployment: KubeObject; service: KubeObject; ingress?: KubeObject }
  steps: PlannedStep[]
}

/** The Deployment whose container runs the pinned image, with its namespace. */
export function findTarget(documents: Manifest[], image: string, namespace: string): { target: Manifest; namespace: string } {
  const want = parseReference(image)
  const wanted = repository(want)
  const hits = documents.filter(
    d =>
      d.object.kind === 'Deployment' &&
      imagesOf(d.object).some(i => {
        try {
          const ref = parseReference(i)
          return repository(ref) === wanted && ref.digest === want.digest
        } catch {
          return false
        }
      })
  )
  if (hits.length === 0)
    throw new DeployError(`no Deployment in the manifests runs ${image}; a canary needs the Deployment whose image is pinned`, {
      input: 'strategy',
      hint: 'check image-name matches the container image, or use strategy rolling for other kinds'
    })
  if (hits.length > 1)
    throw new DeployError(`${hits.length} Deployments run ${image} (${hits.map(h => h.object.metadata.name).join(', ')}); a canary steps one`, {
      input: 'strategy',
      hint: 'deploy them with strategy rolling, or split the manifests per workload'
    })
  return { target: hits[0], namespace: hits[0].object.metadata.namespace ?? namespace }
}

export function planCanary(input: CanaryPlanInput): CanaryPlan {
  const { documents, live, settings } = input
  const { target, namespace } = findTarget(documents, input.image, input.namespace)
  const deployment = target.object
  const where = { resource: resourceName({ ...deployment, metadata: { ...deployment.metadata, namespace } }), file: target.origin.file, line: target.origin.line }

  const pauses = settings.canarySteps.reduce((sum, s) => sum + s.pauseMs, 0)
  if (pauses >= input.budgetMs)
    throw new DeployError(`the pauses add up to ${formatMs(pauses)} but only ${formatMs(input.budgetMs)} is left before the timeout`, {
      input: 'canary-steps',
      hint: 'shorten the pauses or raise timeout; the rollouts need time too'
    })

  const inNamespace = (o: KubeObject): boolean => (o.metadata.namespace ?? namespace) === namespace
  const docsOf = (kind: string): KubeObject[] => documents.map(d => d.object).filter(o => o.kind === kind && inNamespace(o))
  // What this run applies wins over what the cluster has.
  const merged = (kind: string, liveList: KubeObject[]): KubeObject[] => {
    const fromDocs = docsOf(kind)
    const names = new Set(fromDocs.map(o => o.metadata.name))
    return [...fromDocs, ...liveList.filter(o => inNamespace(o) && !names.has(o.metadata.name))]
  }
  const services = merged('Service', live.services)
  const ingresses = merged('Ingress', live.ingresses)
  const routes = merged('HTTPRoute', live.httpRoutes)

  const podLabels = labelsOf(deployment, 'template')
  const candidates = services.filter(s => {
    const sel = selectorOf(s)
    return Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => podLabels[k] === v)
  })
  if (!candidates.length)
    throw new DeployError(`no Service selects the pods of Deployment ${deployment.metadata.name}; the canary needs one to route through`, where)

  const header = { name: settings.canaryHeader, value: HEADER_VALUE }
  const stableReplicas = replicasOf(live.deployment ?? deployment)
  const steps = settings.canarySteps.map(s => ({ ...s, replicas: Math.max(1, Math.ceil((stableReplicas * s.weight) / 100)) }))

  let service: KubeObject
  let ingress: KubeObject | undefined
  let route: CanaryPlan['route']
  if (settings.trafficRouter === 'nginx') {
    ;({ service, ingress } = pickIngress(ingresses, candidates, settings.ingress, namespace))
    checkOneCanary(ingresses, ingress, service.metadata.name, namespace)
  } else {
    const picked = pickRoute(routes, candidates, settings.httpRoute, namespace)
    service = picked.service
    route = { name: picked.route.metadata.name, rules: rulesOf(picked.route) }
    if (route.rules.filter(r => refsStable(r, service.metadata.name, namespace)).length + route.rules.length > 16)
      throw new DeployError(`HTTPRoute ${namespace}/${route.name} would need more than 16 rules with the canary header rules added`, { input: 'http-route' })
  }

  const stableService = service.metadata.name
  const canaryService = `${stableService}-canary`
  if (canaryService.length > 63)
    throw new DeployError(`Service name ${canaryService} is longer than 63 characters`, { resource: `Service/${namespace}/${stableService}`, hint: 'shorten the Service name' })
  const rename = canaryLabels(selectorOf(service), deployment.metadata.name, where)
  const owner = ownerLabels(deployment.metadata.name, input.environment)
  const split = splitRelease({ rest: documents.filter(d => d !== target), workload: deployment, namespace, changes: input.changes, suffix: '-canary', labels: owner, earlyLabels: earlyLabels(deployment.metadata.name, input.environment) })
  // A run killed mid-canary leaves labelled objects, removed before planning; anything else
  // with a canary's name belongs to someone else and must not be overwritten.
  const taken: (KubeObject | undefined)[] = [
    live.canaryDeployment,
    services.find(o => o.metadata.name === canaryService),
    ingress && ingresses.find(o => o.metadata.name === `${ingress.metadata.name}-canary`)
  ]
  assertOwned(taken, namespace, deployment.metadata.name, input.environment)

  const canaryDeployment = buildCanaryDeployment(split.workload, namespace, rename, steps[0].replicas, owner)
  const canarySvc: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: canaryService, namespace, labels: { ...MANAGED_BY, ...owner } },
    spec: {
      type: 'ClusterIP',
      selector: rename(selectorOf(service)),
      // Same port names and numbers: the copied Ingress/route backends refer to them.
      ports: portsOf(service).map(p => pick(p, ['name', 'port', 'targetPort', 'protocol', 'appProtocol']))
    }
  }
  const canaryIngress = ingress && buildCanaryIngress(ingress, namespace, stableService, canaryService, owner, header.name)

  return {
    namespace,
    stable: target,
    stableService,
    later: split.later,
    early: split.early,
    adopt: split.adopt,
    copies: split.copies,
    environment: input.environment,
    canary: { deployment: canaryDeployment, service: canarySvc, ingress: canaryIngress },
    route,
    steps,
    header
  }
}

/** The labels that make an object part of this environment's canary of a Deployment. */
export function ownerLabels(deployment: string, environment: string): Record<string, string> {
  return { [CANARY_OF]: deployment, [ENVIRONMENT]: environment }
}

/**
 * Whose canary object this is: this environment's ('ours', removed as a leftover and
 * overwritten), one written before canary objects named their environment ('legacy': removed as
 * a leftover too, as that version did; such a version cannot tell environments apart), another
 * environment's or not a canary at all ('other': never touched).
 */
export function leftoverOf(o: KubeObject, deployment: string, environment: string): 'ours' | 'legacy' | 'other' {
  const labels = o.metadata.labels ?? {}
  if (labels[CANARY_OF] !== deployment) return 'other'
  if (!(ENVIRONMENT in labels)) return 'legacy'
  return labels[ENVIRONMENT] === environment ? 'ours' : 'other'
}

/** Refuses to overwrite a live object at a canary object's name that is not this environment's canary. */
export function assertOwned(live: (KubeObject | undefined)[], namespace: string, deployment: string, environment: string): void {
  const taken = live.find(o => o && leftoverOf(o, deployment, environment) !== 'ours')
  if (taken) throw takenError(taken, namespace, deployment)
}

function takenError(taken: KubeObject, namespace: string, deployment: string): DeployError {
  const resource = `${taken.kind}/${namespace}/${taken.metadata.name}`
  const env = taken.metadata.labels?.[CANARY_OF] === deployment ? taken.metadata.labels?.[ENVIRONMENT] : undefined
  if (env)
    return new DeployError(`${resource} is the canary of ${deployment} for environment ${env}; two environments cannot canary one Deployment at once`, {
      resource,
      hint: `wait for that run to finish (or delete the objects labelled ${CANARY_OF}=${deployment},${ENVIRONMENT}=${env} if it was killed)`
    })
  return new DeployError(`${taken.kind ?? 'object'} ${namespace}/${taken.metadata.name} exists and is not a canary of ${deployment}; the canary would overwrite it`, { resource, hint: 'rename or delete it' })
}

/**
 * Canary pods must not be selected by the stable Service, or it would send them traffic beside
 * the weight. The stable template cannot change mid-canary, so the canary's values of the
 * Service's selector keys get '-canary' appended, and the track label is added.
 */
interface Rename {
  (labels: Record<string, string>): Record<string, string>
  keys: Set<string>
}

function canaryLabels(serviceSelector: Record<string, string>, deployment: string, where: { resource: string }): Rename {
  const rename = (labels: Record<string, string>): Record<string, string> => {
    const out: Record<string, string> = { ...labels }
    for (const k of Object.keys(out))
      if (k in serviceSelector) {
        out[k] = `${out[k]}-canary`
        if (out[k].length > 63) throw new DeployError(`label ${k}=${out[k]} on the canary of ${deployment} is longer than 63 characters`, where)
      }
    out[TRACK] = 'canary'
    return out
  }
  return Object.assign(rename, { keys: new Set(Object.keys(serviceSelector)) })
}

function buildCanaryDeployment(stable: KubeObject, namespace: string, rename: Rename, replicas: number, owner: Record<string, string>): KubeObject {
  const spec = structuredClone((stable.spec ?? {}) as WorkloadSpec)
  const selector = (spec.selector ??= {}) as { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] }
  const template = (spec.template ??= {}) as { metadata?: { labels?: Record<string, string> } }
  template.metadata = { ...template.metadata, labels: rename(template.metadata?.labels ?? {}) }
  selector.matchLabels = rename(selector.matchLabels ?? {})
  // In/NotIn on a renamed key name the renamed values.
  for (const e of selector.matchExpressions ?? []) if (e.values && rename.keys.has(e.key)) e.values = e.values.map(v => `${v}-canary`)
  spec.replicas = replicas
  return {
    apiVersion: stable.apiVersion,
    kind: 'Deployment',
    metadata: {
      name: `${stable.metadata.name}-canary`,
      namespace,
      labels: { ...stable.metadata.labels, ...MANAGED_BY, ...owner, [TRACK]: 'canary' },
      annotations: withoutKeys(stable.metadata.annotations, DROPPED_ANNOTATIONS)
    },
    spec
  }
}

/**
 * Only the paths that reach the stable Service, re-pointed at the canary Service: a copied
 * sibling path would claim another Service's upstream. No tls: the canary Ingress adds an
 * upstream to the main Ingress's server and never makes a server of its own, so TLS stays with
 * the main Ingress, and cert-manager (which reads tls + its annotations) sees nothing to issue.
 * No other annotations: ingress-nginx ignores them on a canary (it inherits the main one's).
 */
function buildCanaryIngress(stable: KubeObject, namespace: string, stableService: string, canaryService: string, owner: Record<string, string>, headerName: string): KubeObject {
  const spec = (stable.spec ?? {}) as { ingressClassName?: string; rules?: IngressRule[] }
  const rules: IngressRule[] = []
  for (const rule of spec.rules ?? []) {
    const paths = (rule.http?.paths ?? []).filter(p => p.backend?.service?.name === stableService)
    if (paths.length)
      rules.push({
        ...(rule.host ? { host: rule.host } : {}),
        http: { paths: paths.map(p => ({ ...p, backend: { service: { ...p.backend!.service!, name: canaryService } } })) }
      })
  }
  const legacyClass = stable.metadata.annotations?.['kubernetes.io/ingress.class']
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: `${stable.metadata.name}-canary`,
      namespace,
      labels: { ...MANAGED_BY, ...owner },
      annotations: {
        ...(legacyClass ? { 'kubernetes.io/ingress.class': legacyClass } : {}),
        // canary "true" in the creating request: the admission webhook rejects a second plain Ingress on the same host/path.
        [`${NGINX}/canary`]: 'true',
        [`${NGINX}/canary-weight`]: '0',
        [`${NGINX}/canary-by-header`]: headerName
      }
    },
    spec: { ...(spec.ingressClassName ? { ingressClassName: spec.ingressClassName } : {}), rules }
  }
}

interface IngressPath {
  path?: string
  pathType?: string
  backend?: { service?: { name: string; port?: { name?: string; number?: number } } }
}
interface IngressRule {
  host?: string
  http?: { paths?: IngressPath[] }
}

function ingressPaths(ing: KubeObject): { host: string; path: string; pathType?: string; service?: string }[] {
  const rules = ((ing.spec as { rules?: IngressRule[] } | undefined)?.rules ?? []) as IngressRule[]
  return rules.flatMap(r => (r.http?.paths ?? []).map(p => ({ host: r.host || '_', path: p.path || '/', pathType: p.pathType, service: p.backend?.service?.name })))
}

function pickIngress(ingresses: KubeObject[], services: KubeObject[], named: string | undefined, namespace: string): { service: KubeObject; ingress: KubeObject } {
  const routesTo = (ing: KubeObject, svc: KubeObject) => ingressPaths(ing).some(p => p.service === svc.metadata.name)
  if (named) {
    const ingress = ingresses.find(i => i.metadata.name === named)
    if (!ingress) throw new DeployError(`Ingress ${namespace}/${named} does not exist`, { input: 'ingress', hint: 'name the Ingress that routes to the app, or leave ingress empty to find it through the Service' })
    if (isCanaryIngress(ingress)) throw new DeployError(`Ingress ${namespace}/${named} is itself a canary Ingress; name the main one`, { input: 'ingress' })
    const hit = services.filter(s => routesTo(ingress, s))
    if (hit.length !== 1)
      throw new DeployError(`Ingress ${namespace}/${named} has no rule for Service ${services.map(s => s.metadata.name).join(' or ')}`, {
        input: 'ingress',
        hint: 'the canary copies the rules whose backend is the stable Service'
      })
    return { service: hit[0], ingress }
  }
  const pairs = services.flatMap(service => ingresses.filter(i => !isCanaryIngress(i) && routesTo(i, service)).map(ingress => ({ service, ingress })))
  if (pairs.length === 1) return pairs[0]
  const svcNames = services.map(s => s.metadata.name).join(' or ')
  if (!pairs.length)
    throw new DeployError(`no Ingress in ${namespace} routes to Service ${svcNames}`, { input: 'ingress', hint: "name it in 'ingress', or use traffic-router gateway-api" })
  throw new DeployError(`Ingresses ${pairs.map(p => p.ingress.metadata.name).join(', ')} all route to Service ${svcNames}; name one in 'ingress'`, { input: 'ingress' })
}

/** ingress-nginx serves one canary per host/path; a second one is rejected or ignored. */
function checkOneCanary(ingresses: KubeObject[], stable: KubeObject, stableService: string, namespace: string): void {
  const ours = `${stable.metadata.name}-canary`
  const wanted = ingressPaths(stable).filter(p => p.service === stableService)
  for (const other of ingresses) {
    if (other.metadata.name === ours || !isCanaryIngress(other)) continue
    const clash = ingressPaths(other).find(p => wanted.some(w => w.host === p.host && w.path === p.path))
    if (clash)
      throw new DeployError(`Ingress ${namespace}/${other.metadata.name} is already a canary for host ${clash.host} path ${clash.path}; ingress-nginx allows one canary per host/path`, {
        input: 'ingress',
        hint: 'wait for the other rollout to finish or delete that canary Ingress'
      })
  }
}

function pickRoute(routes: KubeObject[], services: KubeObject[], named: string | undefined, namespace: string): { service: KubeObject; route: KubeObject } {
  const usesService = (r: KubeObject, s: KubeObject) => rulesOf(r).some(rule => refsStable(rule, s.metadata.name, namespace))
  let pair: { service: KubeObject; route: KubeObject }
  if (named) {
    const route = routes.find(r => r.metadata.name === named)
    if (!route) throw new DeployError(`HTTPRoute ${namespace}/${named} does not exist`, { input: 'http-route' })
    const hit = services.filter(s => usesService(route, s))
    if (hit.length !== 1)
      throw new DeployError(`HTTPRoute ${namespace}/${named} has no backendRef to Service ${services.map(s => s.metadata.name).join(' or ')}`, { input: 'http-route' })
    pair = { service: hit[0], route }
  } else {
    const pairs = services.flatMap(service => routes.filter(r => usesService(r, service)).map(route => ({ service, route })))
    if (!pairs.length)
      throw new DeployError(`no HTTPRoute in ${namespace} has a backendRef to Service ${services.map(s => s.metadata.name).join(' or ')}`, { input: 'http-route' })
    if (pairs.length > 1) throw new DeployError(`HTTPRoutes ${pairs.map(p => p.route.metadata.name).join(', ')} all route to the app; name one in 'http-route'`, { input: 'http-route' })
    pair = pairs[0]
  }
  const split = rulesOf(pair.route).findIndex(r => refsStable(r, pair.service.metadata.name, namespace) && (r.backendRefs ?? []).length > 1)
  if (split >= 0)
    throw new DeployError(`HTTPRoute ${namespace}/${pair.route.metadata.name} rule ${split + 1} already splits traffic between backends (another canary?)`, {
      input: 'http-route',
      hint: 'the canary needs the stable Service alone in its rules'
    })
  return pair
}

/**
 * The pod gate, stricter than a rollout wait: besides what stops a rollout (diagnose.podProblem),
 * any restart or a pod not Ready fails the canary, since a canary that crashed once is suspect.
 */
export function canaryPodProblem(pods: KubeObject[]): string | undefined {
  for (const pod of pods) {
    const found = podProblem(pod)
    if (found) return `pod ${pod.metadata.name}: ${found.message}`
    const status = (pod.status ?? {}) as {
      phase?: string
      conditions?: { type: string; status: string }[]
      containerStatuses?: { name: string; restartCount?: number }[]
    }
    const restarted = (status.containerStatuses ?? []).find(c => (c.restartCount ?? 0) > 0)
    if (restarted) return `pod ${pod.metadata.name}: container ${restarted.name} restarted ${restarted.restartCount} times`
    if (!status.conditions?.some(c => c.type === 'Ready' && c.status === 'True')) return `pod ${pod.metadata.name} is not Ready (${status.phase ?? 'no phase'})`
  }
  return undefined
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  return s % 60 ? `${m}m${s % 60}s` : `${m}m`
}

export function selectorOf(service: KubeObject): Record<string, string> {
  return ((service.spec as { selector?: Record<string, string> } | undefined)?.selector ?? {}) as Record<string, string>
}

export function labelsOf(deployment: KubeObject, where: 'template'): Record<string, string> {
  const spec = deployment.spec as Record<typeof where, { metadata?: { labels?: Record<string, string> } } | undefined> | undefined
  return spec?.[where]?.metadata?.labels ?? {}
}

function portsOf(service: KubeObject): Record<string, unknown>[] {
  return ((service.spec as { ports?: Record<string, unknown>[] } | undefined)?.ports ?? []) as Record<string, unknown>[]
}

export function replicasOf(deployment: KubeObject): number {
  const r = (deployment.spec as { replicas?: number } | undefined)?.replicas
  return typeof r === 'number' ? r : 1
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter(k => o[k] !== undefined).map(k => [k, o[k]]))
}

function withoutKeys(o: Record<string, string> | undefined, keys: string[]): Record<string, string> | undefined {
  if (!o) return undefined
  const out = Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)))
  return Object.keys(out).length ? out : undefined
}
