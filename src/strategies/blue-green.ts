// Blue-green: the new colour runs beside the live one; the Service selector moves to it in one
// patch once it is Ready and its pods are healthy; health URLs verify the switch; a failure
// moves the selector back. The old colour stays up until verification passes, then scales to 0
// (kept, so the next run's switch-back target is one scale away). Nothing else of the release
// changes before the switch is verified: the new colour runs on copies of the changed
// ConfigMaps/Secrets it names, and the other changes are applied after verification.
import * as core from '@actions/core'
import { DeployError } from '../errors.js'
import { pause } from '../retry.js'
import { clientFor, labelSelector, refOf, type Kube, type ObjectRef } from '../kube/client.js'
import type { KubeObject, Manifest } from '../manifests/types.js'
import { resourceName } from '../manifests/types.js'
import { appImage, imagesOf } from '../manifests/pods.js'
import type { DeployReport } from '../report/model.js'
import { deleteIfExists, getIn, listIn, mergePatch } from '../kube/objects.js'
import { planBlueGreen, POD_TEMPLATE_HASH } from './blue-green-plan.js'
import { canaryPodProblem, findTarget } from './canary-plan.js'
import { hasKind, pinnedImage, removeEarly, stageIO, type CanaryIO } from './canary.js'
import type { PlanContext, PlanFacts } from './index.js'
import { environmentLabel } from './release-split.js'

/** How long the data plane gets to follow the switch before the gates probe. */
const SWITCH_SETTLE_MS = 2_000

export type BlueGreenIO = Pick<CanaryIO, 'apply' | 'preview' | 'waitReady' | 'probe'>

/** The blue-green plan, as deliver runs it. */
export function runBlueGreen(ctx: PlanContext, facts: PlanFacts): Promise<void> {
  return runBlueGreenWith(ctx, stageIO(ctx), facts)
}

/**
 * Records delivered once the switch is verified and the release applied, and rolledBack when a
 * failed verification switched back. Never sets the report's status.
 */
export async function runBlueGreenWith(ctx: PlanContext, io: BlueGreenIO, facts: PlanFacts): Promise<void> {
  const { settings, report, signal } = ctx
  const api = clientFor(ctx.kc)
  const image = pinnedImage(ctx)
  const namespace = settings.namespace || api.contextNamespace
  // The Deployment that runs the image is the one with colours; other Deployments are release documents.
  const { target, namespace: nsOf } = findTarget(ctx.documents, image, namespace)
  const environment = environmentLabel(settings.environment)
  // A run killed before its switch left what it created early: nothing was switched to it.
  const early = ['Service', ...(hasKind(ctx.documents, 'ServiceAccount') ? ['ServiceAccount'] : [])]
  for (const left of await removeEarly(api, nsOf, target.object.metadata.name, environment, early, AbortSignal.any([signal, AbortSignal.timeout(60_000)])))
    core.info(`Removed ${left}, left by an earlier run that did not finish`)
  const services = await listIn(api, { apiVersion: 'v1', kind: 'Service', namespace: nsOf }, signal)
  const names = [target.object.metadata.name]
  const deployments: KubeObject[] = []
  for (const n of names.flatMap(n => [n, `${n}-blue`, `${n}-green`])) {
    const d = await getIn(api, { apiVersion: 'apps/v1', kind: 'Deployment', namespace: nsOf, name: n }, signal)
    if (d) deployments.push(d)
  }
  // Before the first switch the plain Deployment's pods say which ReplicaSet serves (the pin).
  const plain = deployments.find(d => names.includes(d.metadata.name))
  const pods = plain ? await ownPods(api, plain, signal) : undefined
  // Refused documents surface in the dry run, before anything changes.
  const changes = await io.preview(ctx.documents, signal)
  const plan = planBlueGreen({ documents: ctx.documents, image, namespace, live: { services, deployments, pods }, changes, environment })
  const ns = plan.namespace
  const service = { apiVersion: 'v1', kind: 'Service', namespace: ns, name: plan.serviceName }
  const fresh = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: plan.deployment.object.metadata.name }
  report.blueGreen = { service: plan.serviceName, from: plan.liveColor, to: plan.newColor, switched: false }
  report.namespace ??= ns
  const old = deployments.find(d => d.metadata.name === plan.oldDeployment)
  report.previousImage ??= old && appImage(imagesOf(old), image)
  core.info(`Blue-green: ${plan.liveColor ?? plan.oldDeployment ?? 'nothing'} serves; deploying ${fresh.name}`)

  const inNs = (m: Manifest): KubeObject => ({ ...m.object, metadata: { ...m.object.metadata, namespace: m.object.metadata.namespace ?? ns } })
  if (plan.copies.length) core.info(`${plan.newColor} runs on copies ${plan.copies.map(c => `${c.object.kind}/${c.object.metadata.name}`).join(', ')}; the originals change once the switch is verified`)
  if (plan.later.length) core.info(`Applied once the switch is verified: ${plan.later.map(m => resourceName(m.object)).join(', ')}`)
  const pinned = plan.pinNeeded
  try {
    // Pin first: from here on the new colour's pods may appear, and they match the bare selector.
    if (pinned) await patch(api, service, plan.pinPatch, signal)
    if (plan.early.length + plan.copies.length) report.resources.push(...(await io.apply([...plan.early, ...plan.copies], signal)))
    report.resources.push(...(await io.apply([plan.deployment], signal)))
    const results = await io.waitReady([plan.deployment.object], signal)
    report.workloads.push(...results)
    const bad = results.find(r => !r.ok)
    if (bad) throw new DeployError(`${bad.kind}/${bad.namespace}/${bad.name} is not Ready: ${bad.message}`)
    const selector = (plan.deployment.object.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels
    const pods = await listIn(api, { apiVersion: 'v1', kind: 'Pod', namespace: ns }, signal, labelSelector(selector))
    const problem = canaryPodProblem(pods)
    if (problem) throw new DeployError(`${plan.newColor} ${problem}`)
  } catch (err) {
    // Nothing was switched: the live colour never stopped serving. What this run added goes.
    const cleanup = AbortSignal.timeout(60_000)
    if (pinned) await patch(api, service, plan.unpinPatch, cleanup)
    await deleteIfExists(api, fresh, cleanup)
    report.rollback.push({ resource: `Deployment/${ns}/${fresh.name}`, action: 'deleted', message: 'new colour never took traffic' })
    await removeAll(api, [...plan.copies, ...plan.early].map(inNs), report, cleanup)
    // Deleting a colour that never took traffic undid nothing the run had changed: not a rollback.
    throw failed(report, wrap(err, signal, `${plan.newColor} was not switched to`, `Deployment/${ns}/${fresh.name}`))
  }

  // A new ServiceAccount becomes a release object before the colour that runs as it serves.
  if (plan.adopt.length) await io.apply(plan.adopt, signal)
  await patch(api, service, plan.switchPatch, signal)
  report.blueGreen.switched = true
  core.info(`Blue-green: Service ${ns}/${plan.serviceName} now selects ${plan.newColor}; verifying`)
  try {
    // The data plane follows a selector change within about a second; a gate probed before that
    // is answered by the old colour and would pass a new colour that fails.
    await pause(SWITCH_SETTLE_MS, signal)
    const results = await io.probe({}, signal)
    report.health.push(...results)
    const failed = results.find(r => !r.ok)
    if (failed) throw new DeployError(`health check ${failed.url} after the switch: ${failed.message}`)
  } catch (err) {
    const cleanup = AbortSignal.timeout(60_000)
    await patch(api, service, plan.backPatch, cleanup)
    report.blueGreen.switchedBack = true
    report.rollback.push({ resource: `Service/${ns}/${plan.serviceName}`, action: 'restored', message: `selector back to ${plan.liveColor ?? 'the previous pods'}` })
    await deleteIfExists(api, fresh, cleanup)
    report.rollback.push({ resource: `Deployment/${ns}/${fresh.name}`, action: 'deleted' })
    await removeAll(api, [...plan.copies, ...plan.early].map(inNs), report, cleanup)
    core.warning(`Blue-green: switched Service ${ns}/${plan.serviceName} back to ${plan.liveColor ?? 'the previous pods'}`)
    facts.rolledBack = true
    throw failed(report, wrap(err, signal, `switched back from ${plan.newColor}`, `Service/${ns}/${plan.serviceName}`))
  }

  // Verified: the rest of the release, then the colour's copies of earlier runs nothing names now.
  if (plan.later.length) report.resources.push(...(await io.apply(plan.later, signal)))
  // Secrets only for releases with Secrets; others may not read Secrets at all (the documented Role).
  const kinds = hasKind(ctx.documents, 'Secret') ? ['ConfigMap', 'Secret'] : ['ConfigMap']
  await removeStaleCopies(api, ns, kinds, plan.copyLabels, new Set(plan.copies.map(c => `${c.object.kind}/${c.object.metadata.name}`)), signal)
  facts.delivered = true
  if (plan.oldDeployment) {
    // Verified and switched: scaling the old colour down is cleanup with a grace budget of its
    // own (the run's deadline may be spent), and cannot turn the verdict.
    try {
      await patch(api, { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: plan.oldDeployment }, { spec: { replicas: 0 } }, AbortSignal.timeout(60_000))
      report.resources.push({ kind: 'Deployment', namespace: ns, name: plan.oldDeployment, change: 'configured' })
      core.info(`Blue-green: ${plan.oldDeployment} scaled to 0 (kept for the next switch)`)
    } catch (err) {
      const text = `switched to ${plan.newColor}, but ${plan.oldDeployment} was not scaled to 0: ${err instanceof Error ? err.message : String(err)}`
      report.warnings.push(text)
      core.warning(text)
    }
  }
}

/** Deletes what this run created for the new colour (its copies, early objects), recording each. */
async function removeAll(api: Kube, objects: KubeObject[], report: DeployReport, signal: AbortSignal): Promise<void> {
  for (const o of objects) {
    await deleteIfExists(api, refOf(o), signal)
    report.rollback.push({ resource: resourceName(o), action: 'deleted', message: 'created for the new colour' })
  }
}

/** Copies an earlier run of this colour made that this run's template no longer names. */
async function removeStaleCopies(api: Kube, namespace: string, kinds: string[], labels: Record<string, string>, keep: Set<string>, signal: AbortSignal): Promise<void> {
  for (const kind of kinds)
    for (const o of await listIn(api, { apiVersion: 'v1', kind, namespace }, signal, labelSelector(labels)))
      if (!keep.has(`${kind}/${o.metadata.name}`)) {
        await deleteIfExists(api, refOf(o), signal)
        core.info(`Blue-green: removed ${resourceName(o)}, a copy the ${labels['kube-ship.dev/color']} colour no longer uses`)
      }
}

/** Pods of a Deployment's own ReplicaSets (<name>-<pod-template-hash>), not of its colours. */
async function ownPods(api: Kube, deployment: KubeObject, signal: AbortSignal): Promise<KubeObject[]> {
  const match = (deployment.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels ?? {}
  const pods = await listIn(api, { apiVersion: 'v1', kind: 'Pod', namespace: deployment.metadata.namespace }, signal, labelSelector(match))
  const owners = (p: KubeObject) => (p.metadata.ownerReferences ?? []) as { kind: string; name: string }[]
  return pods.filter(p => owners(p).some(o => o.kind === 'ReplicaSet' && o.name === `${deployment.metadata.name}-${p.metadata.labels?.[POD_TEMPLATE_HASH]}`))
}

/** Puts the error's line in the report (tests read it without main) and answers the error. */
function failed(report: DeployReport, err: DeployError): DeployError {
  report.error = err.line()
  return err
}

function wrap(err: unknown, signal: AbortSignal, what: string, resource: string): DeployError {
  const reason = signal.aborted ? 'the run was cancelled or timed out' : err instanceof Error ? err.message : String(err)
  return new DeployError(`blue-green ${what}: ${reason}`, { resource, hint: 'the previous colour keeps serving' })
}

async function patch(api: Kube, ref: ObjectRef, body: unknown, signal: AbortSignal): Promise<void> {
  if (!(await mergePatch(api, ref, body, signal))) throw new DeployError(`${ref.kind}/${ref.namespace}/${ref.name} does not exist`, { resource: `${ref.kind}/${ref.namespace}/${ref.name}` })
}
