// Blue-green as data: the new colour Deployment beside the live one, the Service whose selector
// picks the colour, and the patches that switch and switch back. Pure; blue-green.ts runs it.
// Nothing of the release changes before the switch is verified: the new colour runs on copies
// of the changed ConfigMaps/Secrets it names (<name>-<colour>, kept with the colour), the rest
// of the changes are applied once the switch is verified.
import { DeployError } from '../errors.js'
import type { KubeObject, Manifest, WorkloadSpec } from '../manifests/types.js'
import type { Change } from '../report/model.js'
import { MANAGED_BY, findTarget, labelsOf, selectorOf } from './canary-plan.js'
import { earlyLabels, objectKey, splitRelease, withLabels } from './release-split.js'

export const COLOR = 'kube-ship.dev/color'
/** Names the Deployment whose colour a ConfigMap/Secret copy belongs to (with COLOR). */
export const COLOR_OF = 'kube-ship.dev/color-of'
/** The label a Deployment's ReplicaSet puts on its pods; pins a Service to one ReplicaSet. */
export const POD_TEMPLATE_HASH = 'pod-template-hash'
export type Color = 'blue' | 'green'

export interface BlueGreenInput {
  documents: Manifest[]
  /** the pinned image, repo@digest */
  image: string
  namespace: string
  live: {
    services: KubeObject[]
    /** live Deployments named <name>, <name>-blue, <name>-green (absent ones left out) */
    deployments: KubeObject[]
    /** pods of the live plain Deployment <name>, if any (before the first switch) */
    pods?: KubeObject[]
  }
  /** objectKey → what applying each document would do (the server-side dry run's answer) */
  changes: Map<string, Change>
  /** the run's environment as a label value (environmentLabel): early objects carry it */
  environment: string
}

export interface BlueGreenPlan {
  namespace: string
  /** the rendered Deployment's name; colours are <name>-blue and <name>-green */
  name: string
  serviceName: string
  /** the colour the Service selects now; undefined before the first switch */
  liveColor?: Color
  newColor: Color
  /** the new colour's Deployment, applied beside the old one */
  deployment: Manifest
  /** the Deployment serving now (scaled to 0 once the new colour is verified) */
  oldDeployment?: string
  /** the other changed documents: applied once the switch is verified (the Service with the switched selector) */
  later: Manifest[]
  /** objects the new colour needs that do not exist yet (a new Service, pinned; a new ServiceAccount): labelled early, deleted on abort */
  early: Manifest[]
  /** the early ServiceAccounts' documents, applied just before the switch: the apply drops the early labels (the switch drops the Service's) */
  adopt: Manifest[]
  /** copies of the changed ConfigMaps/Secrets the new template names; the new colour names them */
  copies: Manifest[]
  /** the labels of the new colour's copies (stale ones are found by them) */
  copyLabels: Record<string, string>
  /** the live Service exists and its selector lacks the pin (an unneeded patch would still write managedFields) */
  pinNeeded: boolean
  /** puts the live Service's selector back as it was before the pin (abort before the switch) */
  unpinPatch: { spec: { selector: Record<string, string | null> } }
  /** keeps the live Service on what serves now, away from the new colour's pods (before the apply) */
  pinPatch: { spec: { selector: Record<string, string | null> } }
  switchPatch: { metadata?: { labels: Record<string, null> }; spec: { selector: Record<string, string | null> } }
  backPatch: { spec: { selector: Record<string, string | null> } }
}

export function planBlueGreen(input: BlueGreenInput): BlueGreenPlan {
  const { target, namespace } = findTarget(input.documents, input.image, input.namespace)
  const name = target.object.metadata.name
  const where = { resource: `Deployment/${namespace}/${name}`, file: target.origin.file, line: target.origin.line }
  const podLabels = labelsOf(target.object, 'template')
  // The colour label is ours; the Service's other selector keys must match the pods.
  const selects = (s: KubeObject): boolean => {
    const sel = Object.entries(selectorOf(s)).filter(([k]) => k !== COLOR)
    return sel.length > 0 && sel.every(([k, v]) => podLabels[k] === v)
  }
  const inNs = (o: KubeObject): boolean => (o.metadata.namespace ?? namespace) === namespace
  const docServices = input.documents.filter(d => d.object.kind === 'Service' && inNs(d.object) && selects(d.object))
  const names = new Set(docServices.map(d => d.object.metadata.name))
  const liveServices = input.live.services.filter(s => inNs(s) && selects(s))
  const all = [...names, ...liveServices.map(s => s.metadata.name).filter(n => !names.has(n))]
  if (all.length === 0) throw new DeployError(`no Service selects the pods of Deployment ${name}; blue-green switches a Service's selector`, where)
  if (all.length > 1) throw new DeployError(`Services ${all.join(', ')} all select the pods of Deployment ${name}; blue-green switches exactly one`, where)
  const serviceName = all[0]

  const live = liveServices.find(s => s.metadata.name === serviceName)
  const current = live ? selectorOf(live)[COLOR] : undefined
  if (current !== undefined && current !== 'blue' && current !== 'green')
    throw new DeployError(`Service ${namespace}/${serviceName} selects ${COLOR}=${current}; expected blue or green`, { resource: `Service/${namespace}/${serviceName}` })
  const liveColor = current as Color | undefined
  const newColor: Color = liveColor === 'blue' ? 'green' : 'blue'
  const deployed = new Set(input.live.deployments.map(d => d.metadata.name))
  // Before the first switch the plain Deployment (from a rolling deploy) is what serves.
  const oldDeployment = liveColor ? `${name}-${liveColor}` : deployed.has(name) ? name : undefined

  const colored = (labels: Record<string, string> | undefined): Record<string, string> => ({ ...labels, [COLOR]: newColor })
  const copyLabels = { ...MANAGED_BY, [COLOR_OF]: name, [COLOR]: newColor }
  const early = earlyLabels(name, input.environment)
  const split = splitRelease({ rest: input.documents.filter(d => d !== target), workload: target.object, namespace, changes: input.changes, suffix: `-${newColor}`, labels: copyLabels, earlyLabels: early })
  const spec = structuredClone((split.workload.spec ?? {}) as WorkloadSpec)
  spec.selector = { ...spec.selector, matchLabels: colored(spec.selector?.matchLabels) }
  spec.template = { ...spec.template, metadata: { ...spec.template?.metadata, labels: colored(spec.template?.metadata?.labels) } }
  const deployment: KubeObject = {
    ...target.object,
    metadata: { ...target.object.metadata, name: `${name}-${newColor}`, namespace, labels: { ...colored(target.object.metadata.labels), ...MANAGED_BY } },
    spec
  }

  // Until the switch the Service must select no pod of the new colour, which carries every
  // label of the uncoloured selector too. So it is pinned to what serves now: the live colour;
  // before the first switch the plain Deployment's ReplicaSet (by its pod-template-hash); and
  // with nothing serving, the other colour, which has no pods, so nothing answers early.
  const hashes = [...new Set((input.live.pods ?? []).filter(p => !p.metadata.deletionTimestamp).map(p => p.metadata.labels?.[POD_TEMPLATE_HASH]).filter(h => h !== undefined))]
  if (!liveColor && oldDeployment && hashes.length > 1)
    throw new DeployError(`Deployment ${namespace}/${oldDeployment} is in the middle of a rollout (pods of ${hashes.length} ReplicaSets); the first blue-green run needs one ReplicaSet serving`, where)
  const pin: Record<string, string> = liveColor
    ? { [COLOR]: liveColor }
    : oldDeployment && hashes.length === 1
      ? { [POD_TEMPLATE_HASH]: hashes[0]! }
      : { [COLOR]: newColor === 'blue' ? 'green' : 'blue' }
  const unpin: Record<string, null> = POD_TEMPLATE_HASH in pin ? { [POD_TEMPLATE_HASH]: null } : {}
  const isService = (d: Manifest) => d.object.apiVersion === 'v1' && d.object.kind === 'Service' && d.object.metadata.name === serviceName && inNs(d.object)
  const withSelector = (d: Manifest, extra: Record<string, string>): Manifest => ({ ...d, object: { ...d.object, spec: { ...(d.object.spec as object), selector: { ...selectorOf(d.object), ...extra } } } })
  // A Service the run creates is needed to switch at all: created early, pinned (nothing old uses it).
  const newService = input.documents.filter(d => isService(d) && !live && input.changes.get(objectKey(d.object, namespace)) === 'created')
  const created = [...newService.map(d => withLabels(withSelector(d, pin), early)), ...split.early]
  // Applied after the switch: the Service document selects the new colour then.
  const later = split.later.filter(d => !newService.includes(d)).map(d => (isService(d) ? withSelector(d, { [COLOR]: newColor }) : d))
  const before = live ? selectorOf(live) : {}
  const unpinPatch = { spec: { selector: Object.fromEntries(Object.keys(pin).map(k => [k, before[k] ?? null])) } }

  return {
    namespace,
    name,
    serviceName,
    liveColor,
    newColor,
    deployment: { object: deployment, origin: target.origin },
    oldDeployment,
    later,
    early: created,
    adopt: split.adopt,
    copies: split.copies,
    copyLabels,
    unpinPatch,
    pinNeeded: !!live && Object.entries(pin).some(([k, v]) => before[k] !== v),
    pinPatch: { spec: { selector: pin } },
    // A Service created early stops being early in the same patch that makes it serve.
    switchPatch: {
      ...(newService.length ? { metadata: { labels: Object.fromEntries(Object.keys(early).map(k => [k, null])) } } : {}),
      spec: { selector: { [COLOR]: newColor, ...unpin } }
    },
    // Back to exactly what served before the switch (the pin), never to the uncoloured selector.
    backPatch: { spec: { selector: { ...(COLOR in pin ? {} : { [COLOR]: null }), ...pin } } }
  }
}
