// Prune through a KEP-3659 ApplySet, the decisions (prune.ts does the requests). The set of
// objects an environment's deploys own is a parent ConfigMap in the target namespace, labelled
// `applyset.kubernetes.io/id`, annotated with the tooling and the group-kinds (and the other
// namespaces) its members may be in; every member carries `applyset.kubernetes.io/part-of` with
// the parent's id. Following the KEP exactly lets ApplySet-aware tools (kubectl's alpha
// `--applyset`) see the set, and refuse it: a parent names the one tool that may change it.
//
// Decisions:
// - A ConfigMap parent (kubectl accepts Secret and ConfigMap without a CRD): no data in it, and
//   the deployer Role already has configmaps.
// - Before the apply the parent lists the superset of what it listed and what this run applies,
//   so a run killed half-way still lists every group-kind it may have created. After a good
//   rollout and a prune that deleted everything it planned, it lists exactly what remains.
// - A member is a prune candidate only when it is labelled with this set's id, this run did not
//   apply it, and a run with prune on owned the set before this one (the parent existed):
//   the first run adopts and deletes nothing.
// - Guard rails: Namespaces, CRDs and PersistentVolumeClaims only when allowed; the keep
//   annotation; objects a strategy made (canary copies, blue-green colours), which the strategy
//   removes or keeps itself; a limit on how much one run may delete.
import { createHash } from 'node:crypto'
import { DeployError } from '../errors.js'
import { type KubeObject, type Manifest, resourceName } from '../manifests/types.js'

export const ID_LABEL = 'applyset.kubernetes.io/id'
export const PART_OF = 'applyset.kubernetes.io/part-of'
export const TOOLING = 'applyset.kubernetes.io/tooling'
export const GROUP_KINDS = 'applyset.kubernetes.io/contains-group-kinds'
export const NAMESPACES = 'applyset.kubernetes.io/additional-namespaces'
/** `<tool>/<version>`: the KEP's format; the part before the last slash names the tool */
export const TOOL = 'kube-ship'
export const TOOLING_VALUE = `${TOOL}/v1`
/** An object annotated `kube-ship.dev/prune: "false"` is never pruned. */
export const KEEP = 'kube-ship.dev/prune'
/** Labels the strategies put on what they create (canary-plan.ts, blue-green-plan.ts, traffic/rules.ts). */
const STRATEGY_LABELS = ['kube-ship.dev/canary-of', 'kube-ship.dev/color']
/** More than this many deletions in one run trip the limit, whatever the set's size. */
export const MASS_LIMIT = 20

/** Kinds that hold data or other objects: pruned only when prune-allow names them. */
export const PROTECTED: Record<string, string> = {
  Namespace: 'a Namespace takes everything in it along',
  CustomResourceDefinition: 'a CRD takes every object of its kind along',
  PersistentVolumeClaim: 'a PersistentVolumeClaim holds data'
}
export const PROTECTED_GROUPS: Record<string, string> = { Namespace: '', CustomResourceDefinition: 'apiextensions.k8s.io', PersistentVolumeClaim: '' }
export type PruneAllowance = keyof typeof PROTECTED | 'mass-deletion'
export const ALLOWANCES: readonly PruneAllowance[] = [...Object.keys(PROTECTED), 'mass-deletion']

export interface ParentRef {
  apiVersion: 'v1'
  kind: 'ConfigMap'
  namespace: string
  name: string
}

/** Pure: the parent of an environment's set in a namespace; a name that had to change gets a hash. */
export function parentRef(environment: string, namespace: string): ParentRef {
  const slug = environment
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
  const exact = slug === environment && slug.length <= 40
  const name = exact ? `kube-ship-${slug}` : `kube-ship-${slug.slice(0, 40).replace(/[-.]+$/, '')}-${createHash('sha256').update(environment).digest('hex').slice(0, 8)}`
  return { apiVersion: 'v1', kind: 'ConfigMap', namespace, name: name.replace(/-+$/, '') }
}

/** Pure: the KEP's id: applyset-<base64url(sha256(<name>.<namespace>.<kind>.<group>))>-v1, unpadded. */
export function applySetId(ref: { name: string; namespace: string; kind: string; group: string }): string {
  const hash = createHash('sha256').update([ref.name, ref.namespace, ref.kind, ref.group].join('.')).digest('base64url')
  return `applyset-${hash}-v1`
}

/** Pure: the group of an apiVersion ('' for core). */
export const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '')

/** Pure: Kind.group as the annotation lists it (core kinds have no group part). */
export function groupKind(apiVersion: string, kind: string): string {
  const group = groupOf(apiVersion)
  return group ? `${kind}.${group}` : kind
}

/** Pure: 'Deployment.apps' → {kind, group} (the kind is up to the first dot, as Kubernetes parses it). */
export function parseGroupKind(gk: string): { kind: string; group: string } {
  const dot = gk.indexOf('.')
  return dot < 0 ? { kind: gk, group: '' } : { kind: gk.slice(0, dot), group: gk.slice(dot + 1) }
}

const splitAnnotation = (value: string | undefined): string[] => (value ?? '').split(',').map(v => v.trim()).filter(Boolean)

/** What the live parent says, once it is known to be ours. */
export interface ParentState {
  /** the parent existed before this run: a run with prune on owned the set already */
  existed: boolean
  groupKinds: string[]
  /** every namespace members may be in, the parent's own first */
  namespaces: string[]
}

/**
 * Pure: the live parent read. One another tool manages (its tooling annotation), one without the
 * tooling annotation, or one whose id label differs is refused with one line: the KEP says a tool
 * must not change another tool's set, and kubectl refuses the same way.
 */
export function readParent(live: KubeObject | undefined, ref: ParentRef): ParentState {
  if (!live) return { existed: false, groupKinds: [], namespaces: [ref.namespace] }
  const where = { resource: `${ref.kind}/${ref.namespace}/${ref.name}` }
  const tooling = live.metadata.annotations?.[TOOLING]
  if (!tooling) throw new DeployError(`exists without the ${TOOLING} annotation: it is not an ApplySet parent kube-ship made; not pruning`, { ...where, hint: 'rename or remove it' })
  const tool = tooling.includes('/') ? tooling.slice(0, tooling.lastIndexOf('/')) : tooling
  if (tool !== TOOL) throw new DeployError(`is the ApplySet parent of another tool (${TOOLING}: ${tooling}); kube-ship neither changes nor prunes it`, where)
  const id = live.metadata.labels?.[ID_LABEL]
  const want = applySetId({ ...ref, group: '' })
  if (id !== want) throw new DeployError(`has ${ID_LABEL}=${id ?? '(none)'}, not ${want}; not pruning a set whose id does not match its parent`, where)
  const namespaces = [ref.namespace, ...splitAnnotation(live.metadata.annotations?.[NAMESPACES]).filter(n => n !== ref.namespace)]
  return { existed: true, groupKinds: splitAnnotation(live.metadata.annotations?.[GROUP_KINDS]), namespaces }
}

/** Pure: the parent as server-side applied: id label, tooling, sorted group-kinds, other namespaces. */
export function parentObject(ref: ParentRef, groupKinds: Iterable<string>, namespaces: Iterable<string>): KubeObject {
  const others = [...new Set(namespaces)].filter(n => n !== ref.namespace).sort()
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: {
      name: ref.name,
      namespace: ref.namespace,
      labels: { [ID_LABEL]: applySetId({ ...ref, group: '' }) },
      annotations: { [TOOLING]: TOOLING_VALUE, [GROUP_KINDS]: [...new Set(groupKinds)].sort().join(','), [NAMESPACES]: others.join(',') }
    }
  }
}

/** Pure: the group-kinds and namespaces of documents (cluster-scoped ones add no namespace). */
export function scopeOf(objects: { apiVersion: string; kind: string; metadata: { namespace?: string } }[], fallback: string, clusterScoped: (gk: string) => boolean): { groupKinds: string[]; namespaces: string[] } {
  const groupKinds = new Set<string>()
  const namespaces = new Set<string>([fallback])
  for (const o of objects) {
    const gk = groupKind(o.apiVersion, o.kind)
    groupKinds.add(gk)
    if (!clusterScoped(gk)) namespaces.add(o.metadata.namespace || fallback)
  }
  return { groupKinds: [...groupKinds].sort(), namespaces: [...namespaces] }
}

/**
 * Pure: the documents with the part-of label. A document that already names another set is
 * refused at its file:line (kubectl refuses any part-of label in its input).
 */
export function withMembership(documents: Manifest[], id: string): Manifest[] {
  return documents.map(d => {
    const given = d.object.metadata.labels?.[PART_OF]
    if (given !== undefined && given !== id)
      throw new DeployError(`${resourceName(d.object)} already carries ${PART_OF}=${given}; it belongs to another ApplySet`, { file: d.origin.file, line: d.origin.line, hint: 'remove the label from the manifest' })
    const object = { ...d.object, metadata: { ...d.object.metadata, labels: { ...d.object.metadata.labels, [PART_OF]: id } } }
    return { ...d, object }
  })
}

/** An object this run applied, as the documents and the report name it. */
export interface Desired {
  apiVersion?: string
  kind: string
  namespace?: string
  name: string
}

export interface Kept {
  resource: string
  reason: string
}

export interface PrunePlan {
  /** the members to delete, in order (workloads before what they use) */
  delete: KubeObject[]
  /** members that stay although the manifests no longer have them, and why */
  kept: Kept[]
  /** one line when the limit refuses the whole prune */
  refused?: string
  /** the group-kinds and namespaces the parent lists once the plan is done */
  groupKinds: string[]
  namespaces: string[]
}

export interface PruneInput {
  /** every live object labelled with this set's id, in the group-kinds and namespaces the parent listed */
  live: KubeObject[]
  /** what this run applied (documents with their namespace settled, and what the strategy made) */
  desired: Desired[]
  parent: ParentState
  /** the group-kinds and namespaces of this run's documents */
  scope: { groupKinds: string[]; namespaces: string[] }
  allow: readonly PruneAllowance[]
}

const key = (group: string | undefined, kind: string, namespace: string | undefined, name: string): string => `${group ?? '*'}|${kind}|${namespace ?? ''}|${name}`

/** Pure: which live members go, which stay and why, and whether the limit refuses the lot. */
export function planPrune(input: PruneInput): PrunePlan {
  const applied = new Set<string>()
  for (const d of input.desired) {
    // The report names no group (what a strategy made): it matches the kind in any group.
    const group = d.apiVersion === undefined ? undefined : groupOf(d.apiVersion)
    applied.add(key(group, d.kind, d.namespace, d.name))
    // A cluster-scoped document may carry a stray namespace; the live object has none.
    applied.add(key(group, d.kind, undefined, d.name))
  }
  const candidates: KubeObject[] = []
  const kept: Kept[] = []
  for (const o of input.live) {
    const ns = o.metadata.namespace
    if (applied.has(key(groupOf(o.apiVersion), o.kind, ns, o.metadata.name)) || applied.has(key(undefined, o.kind, ns, o.metadata.name))) continue
    const resource = resourceName(o)
    const reason = keepReason(o, input)
    if (reason) kept.push({ resource, reason })
    else candidates.push(o)
  }
  // Kept members stay members: their group-kinds and namespaces stay listed, so a later run still sees them.
  const stay = input.live.filter(o => !candidates.includes(o))
  const groupKinds = [...new Set([...input.scope.groupKinds, ...stay.map(o => groupKind(o.apiVersion, o.kind))])].sort()
  const namespaces = [...new Set([...input.scope.namespaces, ...stay.flatMap(o => (o.metadata.namespace ? [o.metadata.namespace] : []))])]
  const plan = { delete: candidates.sort(deleteOrder), kept: kept.sort((a, b) => a.resource.localeCompare(b.resource)), groupKinds, namespaces }
  const limit = massLimit(candidates.length, input.live.length)
  if (limit && !input.allow.includes('mass-deletion'))
    return {
      ...plan,
      refused: `prune refused: it would delete ${candidates.length} of the ${input.live.length} objects of the set (${limit}); nothing was deleted (allow it with prune-allow: mass-deletion)`
    }
  return plan
}

/** Pure: why a live member the manifests no longer have stays, or undefined when it may go. */
function keepReason(o: KubeObject, input: PruneInput): string | undefined {
  if (!input.parent.existed) return 'not in the set before this run (the first run with prune adopts and deletes nothing)'
  if (o.metadata.annotations?.[KEEP] === 'false') return `annotated ${KEEP}: "false"`
  if (STRATEGY_LABELS.some(l => o.metadata.labels?.[l] !== undefined)) return 'made by the canary or blue-green strategy, which removes or keeps it'
  const why = PROTECTED[o.kind]
  if (why !== undefined && PROTECTED_GROUPS[o.kind] === groupOf(o.apiVersion) && !input.allow.includes(o.kind as PruneAllowance))
    return `${why}; pruned only with prune-allow: ${o.kind}`
  return undefined
}

/** Pure: the limit a deletion of n out of a set of size trips, or undefined. */
export function massLimit(n: number, size: number): string | undefined {
  if (n > MASS_LIMIT) return `more than ${MASS_LIMIT} in one run`
  if (n * 2 > size) return 'more than half of the set'
  return undefined
}

// Workloads first (nothing restarts for lack of a ConfigMap that is going anyway), then the rest.
const ORDER = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'HorizontalPodAutoscaler', 'Ingress', 'HTTPRoute', 'Service']
const rank = (o: KubeObject): number => {
  const i = ORDER.indexOf(o.kind)
  return o.kind === 'Namespace' ? ORDER.length + 2 : o.kind === 'CustomResourceDefinition' ? ORDER.length + 1 : i < 0 ? ORDER.length : i
}
function deleteOrder(a: KubeObject, b: KubeObject): number {
  return rank(a) - rank(b) || resourceName(a).localeCompare(resourceName(b))
}

/** Pure: the deletions in waves (workloads, then what routes to them, then the rest, CRDs, Namespaces); each wave is gone before the next starts. */
export function deleteWaves(objects: KubeObject[]): KubeObject[][] {
  const tier = (o: KubeObject): number => {
    const r = rank(o)
    return r < ORDER.indexOf('HorizontalPodAutoscaler') ? 0 : r <= ORDER.length ? 1 : r - ORDER.length + 1
  }
  const waves = new Map<number, KubeObject[]>()
  for (const o of [...objects].sort(deleteOrder)) waves.set(tier(o), [...(waves.get(tier(o)) ?? []), o])
  return [...waves.keys()].sort((a, b) => a - b).map(t => waves.get(t)!)
}
