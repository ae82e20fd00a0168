// Blue-green as data: the new colour Deployment beside the live one, the Service whose selector
// picks the colour, and the patches that switch and switch back. Pure; blue-green.ts runs it.
import { DeployError } from '../errors.js'
import type { KubeObject, Manifest, WorkloadSpec } from '../manifests/types.js'
import { MANAGED_BY, findTarget, labelsOf, selectorOf } from './canary-plan.js'

export const COLOR = 'kube-ship.dev/color'
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
  /** the other documents; the Service keeps selecting the live colour until the switch */
  rest: Manifest[]
  /** keeps the live Service on what serves now, away from the new colour's pods (before the apply) */
  pinPatch: { spec: { selector: Record<string, string | null> } }
  switchPatch: { spec: { selector: Record<string, string | null> } }
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
  const spec = structuredClone((target.object.spec ?? {}) as WorkloadSpec)
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
  const rest = input.documents
    .filter(d => d !== target)
    .map(d =>
      d.object.kind === 'Service' && d.object.metadata.name === serviceName
        ? { ...d, object: { ...d.object, spec: { ...(d.object.spec as object), selector: { ...selectorOf(d.object), ...pin } } } }
        : d
    )

  return {
    namespace,
    name,
    serviceName,
    liveColor,
    newColor,
    deployment: { object: deployment, origin: target.origin },
    oldDeployment,
    rest,
    pinPatch: { spec: { selector: pin } },
    switchPatch: { spec: { selector: { [COLOR]: newColor, ...unpin } } },
    // Back to exactly what served before the switch (the pin), never to the uncoloured selector.
    backPatch: { spec: { selector: { ...(COLOR in pin ? {} : { [COLOR]: null }), ...pin } } }
  }
}
