// The canary plan: leftovers of a cancelled run first and the stable Deployment read
// (canaryBaseline, before deliver chooses the plan), then the canary beside the stable
// Deployment, step by step (scale, Ready, weight, pause, gates), then promote or abort.
// Abort always sets weight 0 before anything is deleted, and never touches the stable Deployment.
// Until promotion nothing of the release changes: the canary runs on copies of the ConfigMaps
// and Secrets it needs (release-split.ts), and the other changed documents wait for promotion.
import * as core from '@actions/core'
import { DeployError, describeError } from '../errors.js'
import { parseReference, pinned } from '../image/reference.js'
import type { TrafficRouterName } from '../inputs.js'
import { clientFor, labelSelector, refOf, type Kube } from '../kube/client.js'
import { applyObjects, newJournal, toResourceEntries, type Journal } from '../kube/apply.js'
import { waitForWorkloads } from '../kube/status/watch.js'
import { probeHealth } from '../health/http.js'
import { queryMetrics, type MetricResult } from './canary-metrics.js'
import { rollbackRun } from '../kube/rollback.js'
import { sleep } from '../kube/pool.js'
import type { KubeObject, Manifest } from '../manifests/types.js'
import { resourceName } from '../manifests/types.js'
import { appImage, imagesOf } from '../manifests/pods.js'
import type { CanaryStepRecord, Change, DeployReport, HealthResult, ResourceEntry, WorkloadResult } from '../report/model.js'
import { makeRouter, type TrafficRouter } from '../traffic/index.js'
import { originalRules, restorePatch } from '../traffic/gateway-api.js'
import { nginxPatch } from '../traffic/nginx.js'
import { TRAFFIC_MANAGER, deleteIfExists, getIn, listIn, mergePatch } from '../kube/objects.js'
import { CANARY_OF } from '../traffic/rules.js'
import { earlyLabels, environmentLabel, objectKey } from './release-split.js'
import { undidEverything } from '../status.js'
import type { CanaryBaseline, PlanContext, PlanFacts } from './index.js'
import { rollbackBudgetMs, toWorkloadResult } from './rolling.js'
import { assertOwned, canaryPodProblem, findTarget, formatMs, leftoverOf, planCanary, type CanaryPlan, type PlannedStep } from './canary-plan.js'

/** The kube and health stages' functions the runner drives; injected so it owns none of them. */
export interface CanaryIO {
  /** Applies; with a journal, records what it changed (for rollback). */
  apply(manifests: Manifest[], signal: AbortSignal, journal?: Journal): Promise<ResourceEntry[]>
  /** The server-side dry run of every document: what applying each would do, by objectKey. Changes nothing. */
  preview(manifests: Manifest[], signal: AbortSignal): Promise<Map<string, Change>>
  /** Waits for the Deployments; a result with ok false (or a throw) means not Ready. */
  waitReady(deployments: KubeObject[], signal: AbortSignal): Promise<WorkloadResult[]>
  /** Probes the health URLs with extra headers; empty when there are none. */
  probe(headers: Record<string, string>, signal: AbortSignal): Promise<HealthResult[]>
  /** The canary-metrics gates, queried once per step; empty when none are configured. */
  metrics(vars: { canary: string; namespace: string }, signal: AbortSignal): Promise<MetricResult[]>
}

export interface StepEvent {
  index: number
  step: PlannedStep
  plan: CanaryPlan
  router: TrafficRouter
}

export interface CanaryOptions {
  /** called after each step's weight is set, before its pause (tests read the API here) */
  onStep?: (event: StepEvent) => Promise<void> | void
  /** what deliver read to choose the plan; read here when not given */
  baseline?: CanaryBaseline
}

/** How long cleanup may take after the run's own signal has fired. */
const CLEANUP_MS = 60_000

/**
 * The manifests taking back what our own traffic manager set (an old colour's replicas, a
 * restored route's rules) is the expected next step, not news for a warning.
 */
function ownConflicts(message: string): void {
  const managers = [...message.matchAll(/conflict with "([^"]+)"/g)].map(m => m[1])
  if (managers.length && managers.every(m => m === TRAFFIC_MANAGER)) core.info(message)
  else core.warning(message)
}

/** The canary plan, as deliver runs it once choosePlan chose it. */
export async function runCanary(ctx: PlanContext, facts: PlanFacts, options: CanaryOptions = {}): Promise<void> {
  return runCanaryWith(ctx, stageIO(ctx), facts, options.baseline ?? (await canaryBaseline(ctx)), options)
}

/**
 * What a canary compares with, read before deliver chooses the plan: what a run that did not
 * finish left goes first (also when the rolling plan then delivers), then the stable Deployment.
 */
export async function canaryBaseline(ctx: PlanContext): Promise<CanaryBaseline> {
  const { settings, signal } = ctx
  const api = clientFor(ctx.kc)
  const image = pinnedImage(ctx)
  const { target, namespace } = findTarget(ctx.documents, image, settings.namespace || api.contextNamespace)
  const name = target.object.metadata.name
  const environment = environmentLabel(settings.environment)
  // Secret copies exist only for releases with Secrets; others may not read Secrets at all (the documented Role).
  const secrets = hasKind(ctx.documents, 'Secret')
  const accounts = hasKind(ctx.documents, 'ServiceAccount')
  for (const left of await removeLeftovers(api, namespace, name, { environment, router: settings.trafficRouter, secrets, accounts }, AbortSignal.any([signal, AbortSignal.timeout(CLEANUP_MS)])))
    core.info(`Removed ${left}, left by an earlier run that did not finish`)
  return { image, namespace, name, live: await getIn(api, { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name }, signal) }
}

/** The kube and health stages' functions, bound to this run. */
export function stageIO(ctx: PlanContext): CanaryIO {
  const namespace = ctx.settings.namespace
  return {
    async apply(manifests, signal, journal) {
      return toResourceEntries(await applyObjects(ctx.kc, manifests, { namespace, signal, warn: ownConflicts, journal }))
    },
    async preview(manifests, signal) {
      const fallback = namespace || clientFor(ctx.kc).contextNamespace
      // Conflicts are named once, by the real apply that takes the fields over.
      const answers = await applyObjects(ctx.kc, manifests, { namespace, signal, dryRun: true, warn: () => undefined })
      return new Map(answers.map(a => [objectKey(a.object, fallback), a.change]))
    },
    async waitReady(objects, signal) {
      const targets = objects.map(o => ({ apiVersion: o.apiVersion, kind: o.kind, namespace: o.metadata.namespace ?? namespace, name: o.metadata.name }))
      const outcomes = await waitForWorkloads(ctx.kc, targets, { signal })
      for (const o of outcomes) if (o.diagnostic) ctx.report.diagnostics.push(o.diagnostic)
      return outcomes.map(toWorkloadResult)
    },
    probe(headers, signal) {
      return probeHealth(ctx.settings.health, { signal, headers })
    },
    async metrics(vars, signal) {
      const { canaryMetrics, prometheusUrl } = ctx.settings
      return canaryMetrics.length && prometheusUrl ? queryMetrics(prometheusUrl, canaryMetrics, vars, signal) : []
    }
  }
}

/**
 * Runs the canary against the baseline: records delivered once stable runs the new version, and
 * rolledBack when a failed promotion was undone. Never sets the report's status.
 */
export async function runCanaryWith(ctx: PlanContext, io: CanaryIO, facts: PlanFacts, baseline: CanaryBaseline, options: CanaryOptions = {}): Promise<void> {
  const { settings, report, signal } = ctx
  const api = clientFor(ctx.kc)
  const { image, namespace, name, live } = baseline
  const stableRef = { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name }
  const environment = environmentLabel(settings.environment)
  // Deliver chose the rolling plan for this (choosePlan); a direct caller is told so.
  if (!live) throw new DeployError(`a canary needs a stable Deployment ${namespace}/${name} to compare with; a first deploy goes out with the rolling plan`, { input: 'strategy' })

  const list = async (apiVersion: string, kind: string, wanted: boolean): Promise<KubeObject[]> => (wanted ? listIn(api, { apiVersion, kind, namespace }, signal) : [])
  const plan = planCanary({
    documents: ctx.documents,
    image,
    namespace,
    live: {
      deployment: live,
      canaryDeployment: await getIn(api, { ...stableRef, name: `${name}-canary` }, signal),
      services: await list('v1', 'Service', true),
      ingresses: await list('networking.k8s.io/v1', 'Ingress', settings.trafficRouter === 'nginx'),
      httpRoutes: await list('gateway.networking.k8s.io/v1', 'HTTPRoute', settings.trafficRouter === 'gateway-api')
    },
    settings,
    // The run's deadline starts after the image build, just before this stage: the whole timeout.
    budgetMs: settings.timeoutMs,
    // Refused documents (RBAC, schema, webhooks) surface here, before the canary changes anything.
    changes: await io.preview(ctx.documents, signal),
    environment
  })
  assertOwned(await Promise.all(plan.copies.map(c => getIn(api, refOf({ ...c.object, metadata: { ...c.object.metadata, namespace } }), signal))), namespace, name, environment)

  report.canary.router = settings.trafficRouter
  report.namespace ??= namespace
  report.previousImage ??= appImage(imagesOf(live), image)
  const stableName = `Deployment/${namespace}/${name}`
  if (plan.copies.length) core.info(`Canary runs on copies of ${plan.copies.map(c => `${c.object.kind}/${c.object.metadata.name}`).join(', ')}; the originals change on promotion`)
  if (plan.later.length) core.info(`Applied on promotion: ${plan.later.map(m => resourceName(m.object)).join(', ')}`)
  const canaryManifests = [plan.canary.deployment, plan.canary.service].map(object => ({ object, origin: plan.stable.origin }))
  const router = makeRouter(settings.trafficRouter, api, plan, objects =>
    io.apply(
      objects.map(object => ({ object, origin: plan.stable.origin })),
      signal
    )
  )
  const canaryDeployment = plan.canary.deployment
  let record: CanaryStepRecord | undefined
  let replicas = plan.steps[0].replicas

  try {
    // What the canary pods need goes first: they mount the copies and run as the account.
    if (plan.early.length + plan.copies.length) mergeResources(report, await io.apply([...plan.early, ...plan.copies], signal))
    await io.apply(canaryManifests, signal)
    await router.prepare(signal)
    for (const [index, step] of plan.steps.entries()) {
      record = { weight: step.weight, startedAt: new Date().toISOString(), ok: false }
      report.canary.steps.push(record)
      if (step.replicas !== replicas) {
        await patch(api, canaryDeployment, { spec: { replicas: step.replicas } }, signal)
        replicas = step.replicas
      }
      // The weight moves only once the canary can take it: an empty canary upstream would
      // quietly keep traffic on stable and make the step's gates meaningless.
      await ready(io, [canaryDeployment], report, signal)
      await router.setWeight(step.weight, signal)
      report.canary.finalWeight = step.weight
      core.info(`Canary ${step.weight}% (${step.replicas} pod${step.replicas > 1 ? 's' : ''}) via ${router.resource}; pausing ${formatMs(step.pauseMs)}`)
      await options.onStep?.({ index, step, plan, router })
      await sleep(step.pauseMs, signal)
      record.note = await gates(api, io, plan, report, signal)
      record.ok = true
      record.endedAt = new Date().toISOString()
      core.info(`Canary ${step.weight}%: gates passed${record.note ? `, ${record.note}` : ''}`)
    }
  } catch (err) {
    const reason = abortReason(err, signal)
    core.warning(`Canary aborting: ${reason}; weight 0, then removing the canary`)
    if (record && !record.endedAt) Object.assign(record, { ok: false, endedAt: new Date().toISOString(), note: reason })
    const leftover = await abort(api, plan, router, report)
    throw failed(
      report,
      new DeployError(`canary aborted at ${report.canary.steps.at(-1)?.weight ?? 0}%: ${reason}${leftover ? `; cleanup incomplete: ${leftover}` : ''}`, {
        resource: stableName,
        hint: leftover ? 'no object of the release was changed' : 'traffic is back on the stable version; no object of the release was changed'
      })
    )
  }

  // Promote: the rest of the release first (the new pods read the real ConfigMaps), then stable
  // rolls to the digest while the canary still takes its share; then weight 0.
  core.info(`Promoting: rolling ${stableName} to ${image}`)
  const journal = newJournal()
  try {
    // The early objects' own documents first: they stop carrying the early labels.
    if (plan.adopt.length + plan.later.length) mergeResources(report, await io.apply([...plan.adopt, ...plan.later], signal, journal))
    mergeResources(report, await io.apply([plan.stable], signal, journal))
    await ready(io, [{ ...plan.stable.object, metadata: { ...plan.stable.object.metadata, namespace } }], report, signal)
  } catch (err) {
    const leftover = await abort(api, plan, router, report)
    const error = failed(report, new DeployError(`canary promotion failed: ${abortReason(err, signal)}${leftover ? `; cleanup incomplete: ${leftover}` : ''}`, { resource: stableName }))
    if (settings.rollbackOnFailure) {
      const rb = await rollbackRun(ctx.kc, journal, { signal: AbortSignal.timeout(rollbackBudgetMs(settings.timeoutMs)) })
      report.rollback.push(...rb.records)
      facts.rolledBack = undidEverything(rb.records)
    }
    throw error
  }
  // Promoted: the stable Deployment runs the new version. Removing the canary has a grace budget
  // of its own (the run's deadline may be what is left of it) and cannot turn the verdict.
  report.canary.outcome = 'promoted'
  facts.delivered = true
  const grace = AbortSignal.timeout(CLEANUP_MS)
  try {
    await weightZero(router, grace)
    report.canary.finalWeight = 0
    await removeCanary(api, plan, router, report, grace)
    core.info(`Canary promoted; ${router.resource} and the canary objects removed`)
  } catch (err) {
    const text = `canary promoted, but removing the canary failed: ${describeError(err)}; the next run removes what is left before it starts`
    report.warnings.push(text)
    core.warning(text)
  }
}

/** The gates after a pause: canary pods healthy, health URLs answered by the canary. */
async function gates(api: Kube, io: CanaryIO, plan: CanaryPlan, report: DeployReport, signal: AbortSignal): Promise<string | undefined> {
  const selector = (plan.canary.deployment.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels
  const pods = await listIn(api, { apiVersion: 'v1', kind: 'Pod', namespace: plan.namespace }, signal, labelSelector(selector))
  const problem = canaryPodProblem(pods)
  if (problem) throw new DeployError(`canary ${problem}`)
  const results = await io.probe({ [plan.header.name]: plan.header.value }, signal)
  for (const r of results) {
    const i = report.health.findIndex(h => h.url === r.url)
    if (i >= 0) report.health[i] = r
    else report.health.push(r)
  }
  const failed = results.find(r => !r.ok)
  if (failed) throw new DeployError(`health gate ${failed.url} with ${plan.header.name}: ${plan.header.value}: ${failed.message}`)
  const metrics = await io.metrics({ canary: plan.canary.deployment.metadata.name, namespace: plan.namespace }, signal)
  const bad = metrics.find(m => !m.ok)
  if (bad) throw new DeployError(`metric gate ${bad.query}: ${bad.message}`, { input: 'canary-metrics' })
  const notes = [
    ...(results.length ? [`gate ${results.map(r => `${r.url} ${r.status ?? ''}`.trim()).join(', ')} (${plan.header.name}: ${plan.header.value})`] : []),
    ...metrics.map(m => `${m.query} = ${m.value}`)
  ]
  return notes.length ? notes.join('; ') : undefined
}

async function ready(io: CanaryIO, deployments: KubeObject[], report: DeployReport, signal: AbortSignal): Promise<void> {
  const results = await io.waitReady(deployments, signal)
  for (const r of results) {
    const i = report.workloads.findIndex(w => w.kind === r.kind && w.namespace === r.namespace && w.name === r.name)
    if (i >= 0) report.workloads[i] = r
    else report.workloads.push(r)
  }
  const bad = results.find(r => !r.ok)
  if (bad) throw new DeployError(`${bad.kind}/${bad.namespace}/${bad.name} is not Ready: ${bad.message}`)
}

/**
 * Weight 0 first (so no request meets a vanishing canary), then the canary objects go. Never
 * throws: the abort's cause is the error to report; what could not be undone is answered.
 */
async function abort(api: Kube, plan: CanaryPlan, router: TrafficRouter, report: DeployReport): Promise<string | undefined> {
  const signal = AbortSignal.timeout(CLEANUP_MS)
  report.canary.outcome = 'aborted'
  const problems: string[] = []
  try {
    await weightZero(router, signal)
    report.canary.finalWeight = 0
  } catch (err) {
    problems.push(`weight 0 failed: ${describeError(err)}`)
  }
  try {
    // Deleting the canary route also ends its traffic, so it is tried even when weight 0 failed.
    await removeCanary(api, plan, router, report, signal, true)
    report.canary.finalWeight = 0
  } catch (err) {
    problems.push(`removing the canary failed: ${describeError(err)}`)
  }
  if (!problems.length) return undefined
  const text = `${problems.join('; ')}; the next run removes what is left before it starts`
  core.error(`Canary cleanup incomplete: ${text}`)
  return text
}

/**
 * Weight 0, repeated until the API server confirms it (answers the patch) or the signal ends:
 * each try already retries transient failures; a try that still fails is tried again.
 */
async function weightZero(router: TrafficRouter, signal: AbortSignal): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await router.setWeight(0, signal)
    } catch (err) {
      if (signal.aborted) throw err
      core.info(`Canary weight 0 not confirmed yet (${describeError(err)}); trying again`)
      await sleep(Math.min(1000 * attempt, 5000), signal).catch(() => undefined)
      if (signal.aborted) throw err
    }
  }
}

async function removeCanary(api: Kube, plan: CanaryPlan, router: TrafficRouter, report: DeployReport, signal: AbortSignal, aborted = false): Promise<void> {
  await router.remove(signal)
  if (plan.canary.ingress) mergeResources(report, [entry(plan.canary.ingress, 'deleted')])
  const inNs = (o: KubeObject): KubeObject => ({ ...o, metadata: { ...o.metadata, namespace: o.metadata.namespace ?? plan.namespace } })
  // The pods go before what they mount; an account created for the canary goes only on abort (promotion keeps it).
  const objects = [plan.canary.service, plan.canary.deployment, ...plan.copies.map(c => inNs(c.object)), ...(aborted ? plan.early.map(m => inNs(m.object)) : [])]
  for (const o of objects) {
    await remove(api, o, signal)
    mergeResources(report, [entry(o, 'deleted')])
  }
}

/**
 * A run killed mid-canary leaves its objects (found by the canary-of label) and maybe an edited
 * HTTPRoute (found by its annotation). Traffic goes back first, then the objects are deleted.
 */
export async function removeLeftovers(
  api: Kube,
  namespace: string,
  deployment: string,
  { environment, router, secrets, accounts }: { environment: string; router: TrafficRouterName; secrets: boolean; accounts: boolean },
  signal: AbortSignal
): Promise<string[]> {
  const removed: string[] = []
  const labelSelector = `${CANARY_OF}=${deployment}`
  // Another environment's canary of the same Deployment name is live, not left over.
  const list = async (apiVersion: string, kind: string) =>
    (await listIn(api, { apiVersion, kind, namespace }, signal, labelSelector)).filter(o => leftoverOf(o, deployment, environment) !== 'other')
  for (const ing of await list('networking.k8s.io/v1', 'Ingress')) {
    await patch(api, ing, nginxPatch(0, true), signal)
    await remove(api, ing, signal)
    removed.push(resourceName(ing))
  }
  // Only a gateway-api run edits routes (and only its users need to grant access to them).
  for (const route of router === 'gateway-api' ? await listIn(api, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace }, signal) : []) {
    const rules = originalRules(route)
    // The route carries its canary's marks as annotations (its labels are the user's).
    if (!rules || leftoverOf({ ...route, metadata: { ...route.metadata, labels: route.metadata.annotations } }, deployment, environment) === 'other') continue
    await patch(api, route, restorePatch(rules), signal)
    removed.push(`${resourceName(route)} (rules restored)`)
  }
  for (const [apiVersion, kind] of [
    ['v1', 'Service'],
    ['apps/v1', 'Deployment'],
    ['v1', 'ConfigMap'],
    ...(secrets ? [['v1', 'Secret']] : [])
  ])
    for (const o of await list(apiVersion, kind)) {
      await remove(api, o, signal)
      removed.push(resourceName(o))
    }
  // Last: the canary pods that ran as it are gone.
  removed.push(...(await removeEarly(api, namespace, deployment, environment, accounts ? ['ServiceAccount'] : [], signal)))
  return removed
}

/**
 * Objects a killed run created early (a new ServiceAccount, a blue-green Service not yet
 * switched to) still carry the early labels, which a promotion or switch drops: nothing
 * released uses them, so they go. Only kinds the release has are listed (a Role may not grant more).
 */
export async function removeEarly(api: Kube, namespace: string, deployment: string, environment: string, kinds: string[], signal: AbortSignal): Promise<string[]> {
  const removed: string[] = []
  for (const kind of kinds)
    for (const o of await listIn(api, { apiVersion: 'v1', kind, namespace }, signal, labelSelector(earlyLabels(deployment, environment)))) {
      await remove(api, o, signal)
      removed.push(resourceName(o))
    }
  return removed
}

/** The release has a document of this core kind. */
export function hasKind(documents: Manifest[], kind: string): boolean {
  return documents.some(d => d.object.apiVersion === 'v1' && d.object.kind === kind)
}

async function patch(api: Kube, object: KubeObject, body: unknown, signal: AbortSignal): Promise<void> {
  await mergePatch(api, refOf(object), body, signal)
}

async function remove(api: Kube, object: KubeObject, signal: AbortSignal): Promise<void> {
  await deleteIfExists(api, refOf(object), signal)
}

/** Puts the error's line in the report (tests read it without main) and answers the error. */
function failed(report: DeployReport, err: DeployError): DeployError {
  report.error = err.line()
  return err
}

function abortReason(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) {
    const reason = signal.reason
    if (reason instanceof DeployError) return reason.message
    if (reason instanceof Error && reason.name === 'TimeoutError') return 'the timeout was reached'
    return 'the run was cancelled'
  }
  return err instanceof DeployError ? err.message : describeError(err)
}

/** repo@digest of this run's image. */
export function pinnedImage(ctx: Pick<PlanContext, 'report' | 'settings'>): string {
  const ref = ctx.report.image?.ref ?? (ctx.settings.image && `${ctx.settings.image.registry}/${ctx.settings.image.path}`)
  const digest = ctx.report.image?.digest ?? ctx.settings.digest
  if (!ref || !digest) throw new DeployError('a canary needs the image and its digest (build it in this run or pass digest)', { input: 'strategy' })
  return pinned(parseReference(ref), digest)
}


function entry(object: KubeObject, change: ResourceEntry['change']): ResourceEntry {
  return { kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name, change }
}

function mergeResources(report: DeployReport, entries: ResourceEntry[]): void {
  for (const e of entries) {
    const i = report.resources.findIndex(r => r.kind === e.kind && r.namespace === e.namespace && r.name === e.name)
    if (i >= 0) report.resources[i] = e
    else report.resources.push(e)
  }
}

