// What a canary or a new colour may change before its gates have passed, as data. The previous
// version keeps running on its previous configuration until promotion: the ConfigMaps and
// Secrets the new pod template references that this run creates or changes go to the new pods
// as copies (the template is rewritten to name them), a new ServiceAccount the template names is
// created early (nothing old can use it; a copy would lose its RoleBindings), and every other
// changed document waits for promotion. Pure; canary.ts and blue-green.ts run it.
//
// An early object carries the early labels (which Deployment, which environment) until the
// promotion or switch applies its own document, which does not carry them: server-side apply
// drops fields its manager applied before and no longer sends, so a promoted object is an
// ordinary release object, and one a killed run left behind is found by the labels and removed.
import { createHash } from 'node:crypto'
import { DeployError } from '../errors.js'
import type { Change } from '../report/model.js'
import type { KubeObject, Manifest } from '../manifests/types.js'
import { resourceName } from '../manifests/types.js'
import { PART_OF } from '../kube/applyset.js'
import { ENVIRONMENT } from '../traffic/rules.js'

/** Marks an object created before the gates passed, naming the Deployment (with ENVIRONMENT). */
export const EARLY_OF = 'kube-ship.dev/early-of'

/** The labels of an early object of this environment's run of a Deployment. */
export function earlyLabels(deployment: string, environment: string): Record<string, string> {
  return { [EARLY_OF]: deployment, [ENVIRONMENT]: environment }
}

/** A copy of the document carrying the labels too. */
export function withLabels(m: Manifest, labels: Record<string, string>): Manifest {
  return { ...m, object: { ...m.object, metadata: { ...m.object.metadata, labels: { ...m.object.metadata.labels, ...labels } } } }
}

/** group/kind/namespace/name: one object of a release, whatever its apiVersion's version. */
export function objectKey(o: Pick<KubeObject, 'apiVersion' | 'kind'> & { metadata: { name: string; namespace?: string } }, namespace: string): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : ''
  return `${group}/${o.kind}/${o.metadata.namespace ?? namespace}/${o.metadata.name}`
}

export interface ConfigRefs {
  configMaps: Set<string>
  secrets: Set<string>
}

interface Container {
  envFrom?: { configMapRef?: { name?: string }; secretRef?: { name?: string } }[]
  env?: { valueFrom?: { configMapKeyRef?: { name?: string }; secretKeyRef?: { name?: string } } }[]
  [key: string]: unknown
}
interface Projection {
  configMap?: { name?: string }
  secret?: { name?: string }
  [key: string]: unknown
}
interface PodSpec {
  containers?: Container[]
  initContainers?: Container[]
  ephemeralContainers?: Container[]
  volumes?: { configMap?: { name?: string }; secret?: { secretName?: string }; projected?: { sources?: Projection[] } }[]
  imagePullSecrets?: { name?: string }[]
  serviceAccountName?: string
  [key: string]: unknown
}

/**
 * Every place a pod spec names a ConfigMap or a Secret, as (kind, read, write) over the name.
 * One walk serves both reading the references and rewriting them, so they cannot disagree.
 */
function eachRef(spec: PodSpec, visit: (kind: 'ConfigMap' | 'Secret', holder: Record<string, unknown>, field: string) => void): void {
  const at = (kind: 'ConfigMap' | 'Secret', holder: Record<string, unknown> | undefined, field: string) => {
    if (holder && typeof holder[field] === 'string') visit(kind, holder, field)
  }
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])]) {
    for (const e of c.envFrom ?? []) {
      at('ConfigMap', e.configMapRef, 'name')
      at('Secret', e.secretRef, 'name')
    }
    for (const e of c.env ?? []) {
      at('ConfigMap', e.valueFrom?.configMapKeyRef, 'name')
      at('Secret', e.valueFrom?.secretKeyRef, 'name')
    }
  }
  for (const v of spec.volumes ?? []) {
    at('ConfigMap', v.configMap, 'name')
    at('Secret', v.secret, 'secretName')
    for (const s of v.projected?.sources ?? []) {
      at('ConfigMap', s.configMap, 'name')
      at('Secret', s.secret, 'name')
    }
  }
  for (const s of spec.imagePullSecrets ?? []) at('Secret', s, 'name')
}

export function podSpecOf(workload: KubeObject): PodSpec {
  return ((workload.spec as { template?: { spec?: PodSpec } } | undefined)?.template?.spec ?? {}) as PodSpec
}

/** The ConfigMaps and Secrets a workload's pod template names. */
export function configRefs(workload: KubeObject): ConfigRefs {
  const out: ConfigRefs = { configMaps: new Set(), secrets: new Set() }
  eachRef(podSpecOf(workload), (kind, holder, field) => (kind === 'ConfigMap' ? out.configMaps : out.secrets).add(holder[field] as string))
  return out
}

/** A copy of the workload whose pod template names the renamed ConfigMaps and Secrets instead. */
export function renameConfigRefs(workload: KubeObject, renames: Map<string, string>): KubeObject {
  const copy = structuredClone(workload)
  eachRef(podSpecOf(copy), (kind, holder, field) => {
    const to = renames.get(`${kind}/${holder[field] as string}`)
    if (to) holder[field] = to
  })
  return copy
}

export interface SplitInput {
  /** the release's documents other than the workload being stepped */
  rest: Manifest[]
  /** the new workload (canary or colour) whose pod template is checked */
  workload: KubeObject
  namespace: string
  /** objectKey → what applying the document would do (the server-side dry run's answer) */
  changes: Map<string, Change>
  /** appended to a copy's name: '-canary', '-blue' */
  suffix: string
  /** labels every copy carries (whose it is), so leftover removal and abort find it */
  labels: Record<string, string>
  /** labels every early object carries until promotion (earlyLabels) */
  earlyLabels: Record<string, string>
}

export interface Split {
  /** ConfigMap/Secret copies for the new pods, applied with them and deleted with them */
  copies: Manifest[]
  /** objects the new pods need that do not exist yet and nothing old uses: created early (labelled), deleted on abort */
  early: Manifest[]
  /** the early objects' own documents, applied on promotion / switch: the apply drops the early labels */
  adopt: Manifest[]
  /** every other document this run creates or changes: applied on promotion / switch */
  later: Manifest[]
  /** the new workload, its pod template naming the copies */
  workload: KubeObject
}

// Metadata a copy must not take from its source: the server's, and the last-applied record.
const SERVER_FIELDS = ['resourceVersion', 'uid', 'creationTimestamp', 'generation', 'managedFields', 'ownerReferences', 'selfLink', 'deletionTimestamp']

export function splitRelease(input: SplitInput): Split {
  const { namespace, changes } = input
  const refs = configRefs(input.workload)
  const changed = (m: Manifest) => changes.get(objectKey(m.object, namespace)) !== 'unchanged'
  const inNs = (m: Manifest) => (m.object.metadata.namespace ?? namespace) === namespace
  const referenced = (m: Manifest) =>
    m.object.apiVersion === 'v1' && inNs(m) && ((m.object.kind === 'ConfigMap' && refs.configMaps.has(m.object.metadata.name)) || (m.object.kind === 'Secret' && refs.secrets.has(m.object.metadata.name)))
  const account = podSpecOf(input.workload).serviceAccountName
  const newAccounts = input.rest.filter(
    m => m.object.apiVersion === 'v1' && m.object.kind === 'ServiceAccount' && inNs(m) && m.object.metadata.name === account && changes.get(objectKey(m.object, namespace)) === 'created'
  )
  const copies: Manifest[] = []
  const renames = new Map<string, string>()
  for (const m of input.rest.filter(m => referenced(m) && changed(m))) {
    const name = copyName(m.object.metadata.name, input.suffix, resourceName({ ...m.object, metadata: { ...m.object.metadata, namespace } }))
    renames.set(`${m.object.kind}/${m.object.metadata.name}`, name)
    // Not a member of the release's ApplySet: prune must not take a copy the new pods still use.
    const { [PART_OF]: _member, ...own } = m.object.metadata.labels ?? {}
    const metadata: Record<string, unknown> = { ...m.object.metadata, name, namespace, labels: { ...own, ...input.labels } }
    for (const f of SERVER_FIELDS) delete metadata[f]
    const annotations = { ...m.object.metadata.annotations }
    delete annotations['kubectl.kubernetes.io/last-applied-configuration']
    metadata.annotations = Object.keys(annotations).length ? annotations : undefined
    if (!metadata.annotations) delete metadata.annotations
    copies.push({ object: { ...m.object, metadata: metadata as KubeObject['metadata'] }, origin: m.origin })
  }
  return {
    copies,
    early: newAccounts.map(m => withLabels(m, input.earlyLabels)),
    adopt: newAccounts,
    later: input.rest.filter(m => changed(m) && !newAccounts.includes(m)),
    workload: renames.size ? renameConfigRefs(input.workload, renames) : input.workload
  }
}

/** <name><suffix>, within the 253 characters of an object name. */
function copyName(name: string, suffix: string, resource: string): string {
  const out = `${name}${suffix}`
  if (out.length > 253) throw new DeployError(`the copy ${out} of ${resource} would be longer than 253 characters`, { resource, hint: 'shorten its name' })
  return out
}

/** The environment as a label value (63 characters of [A-Za-z0-9-_.]); hashed when it is not one already. */
export function environmentLabel(environment: string): string {
  if (/^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)$/.test(environment)) return environment
  const hash = createHash('sha256').update(environment).digest('hex').slice(0, 10)
  const slug = environment.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 50).replace(/[^A-Za-z0-9]+$/, '')
  return slug ? `${slug}-${hash}` : hash
}
