// Server-side apply of the rendered documents, in dependency order: Namespaces, then CRDs (waited
// until Established so their kinds resolve), then everything else, each phase with bounded
// concurrency.
//
// Decisions:
// - Field manager `kube-ship`; the first attempt is not forced, so a conflict with another
//   manager (kubectl edit, an HPA, an earlier client-side apply) is seen and named in a warning;
//   then the apply is repeated with force. The manifests in the repository are the desired state
//   of an environment this action owns (the same stance as Flux's SSA); failing the deploy on the
//   first `kubectl scale` would leave the pipeline stuck until someone fixed ownership by hand.
// - A target namespace that does not exist is created: the action owns the environment, and
//   PR previews deploy to namespaces that are new by design. A kubeconfig that may not read
//   Namespaces (a namespaced Role) is trusted to target an existing one.
// - Each object is reported created (it did not exist), configured (its resourceVersion moved)
//   or unchanged (the apply was a no-op, so the server kept the resourceVersion).
import * as core from '@actions/core'
import { DeployError } from '../errors.js'
import type { Change, ResourceEntry } from '../report/model.js'
import { type KubeObject, type Manifest, resourceName } from '../manifests/types.js'
import type { KubeConfig } from '@kubernetes/client-node'
import { type ApiResource, type Kube, kube, refOf } from './client.js'
import { ApiError, failure } from './errors.js'
import { mapLimit } from './pool.js'

export const FIELD_MANAGER = 'kube-ship'
/** The Update manager that wrote a restored template (rollback.ts); the next apply takes it over quietly. */
export const ROLLBACK_MANAGER = 'kube-ship-rollback'
const CONCURRENCY = 8

export interface Applied {
  manifest: Manifest
  /** the object as sent (namespace defaulted) */
  object: KubeObject
  /** kind/namespace/name */
  resource: string
  rbacResource: string
  /** the live object before the apply; undefined when it did not exist */
  before?: KubeObject
  /** what the server answered (the dry-run result in diff mode) */
  after: KubeObject
  change: Change
}

export interface ApplyOptions {
  /** default namespace for namespaced objects that name none (the `namespace` input) */
  namespace?: string
  /** server-side dry run: nothing is persisted and no namespace is created */
  dryRun?: boolean
  signal?: AbortSignal
  /** called with each warning (conflicts taken over); core.warning by default */
  warn?: (message: string) => void
  /** wait for applied CRDs to be Established (default true; needs the status watcher) */
  waitForCrd?: (kc: KubeConfig, applied: Applied[], signal?: AbortSignal) => Promise<void>
}

export type Phase = 'namespace' | 'crd' | 'rest'

/** Pure: which apply phase an object belongs to. */
export function phaseOf(o: Pick<KubeObject, 'apiVersion' | 'kind'>): Phase {
  if (o.apiVersion === 'v1' && o.kind === 'Namespace') return 'namespace'
  if (o.apiVersion.startsWith('apiextensions.k8s.io/') && o.kind === 'CustomResourceDefinition') return 'crd'
  return 'rest'
}

/** Pure: the object with its namespace settled: set for namespaced kinds, removed for cluster-scoped. */
export function withNamespace(o: KubeObject, namespaced: boolean, fallback: string): KubeObject {
  const metadata = { ...o.metadata }
  if (namespaced) metadata.namespace = metadata.namespace || fallback
  else delete metadata.namespace
  return { ...o, metadata }
}

/** Pure: refuses documents SSA cannot apply, and the same object twice (naming both places). */
export function checkDocuments(manifests: Manifest[]): void {
  const seen = new Map<string, Manifest>()
  for (const m of manifests) {
    const o = m.object
    const place = { file: m.origin.file, line: m.origin.line }
    if (!o.apiVersion || !o.kind) throw new DeployError('document has no apiVersion or kind', place)
    if (!o.metadata?.name)
      throw new DeployError(`${o.kind} has no metadata.name${o.metadata?.generateName ? ' (generateName cannot be applied server-side)' : ''}`, place)
    const key = `${o.apiVersion.split('/').length > 1 ? o.apiVersion.split('/')[0] : ''}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`
    const prior = seen.get(key)
    if (prior) throw new DeployError(`${resourceName(o)} is defined twice (also at ${prior.origin.file}:${prior.origin.line})`, place)
    seen.set(key, m)
  }
}

/** Pure: created / configured / unchanged from the object before and after. */
export function changeOf(before: KubeObject | undefined, after: KubeObject, code: number): Change {
  if (!before || code === 201) return 'created'
  return before.metadata.resourceVersion === after.metadata.resourceVersion ? 'unchanged' : 'configured'
}

export function toResourceEntries(applied: Applied[]): ResourceEntry[] {
  return applied.map(a => ({ kind: a.object.kind, namespace: a.object.metadata.namespace, name: a.object.metadata.name, change: a.change }))
}

/** Applies every document; answers one Applied per document in the order applied. */
export async function applyObjects(kc: KubeConfig, manifests: Manifest[], opts: ApplyOptions = {}): Promise<Applied[]> {
  checkDocuments(manifests)
  const k = kube(kc)
  const fallback = opts.namespace || k.contextNamespace
  const byPhase = (p: Phase) => manifests.filter(m => phaseOf(m.object) === p)
  const results: Applied[] = []

  const namespaces = await mapLimit(byPhase('namespace'), CONCURRENCY, m => applyOne(k, m, fallback, opts))
  results.push(...namespaces)
  const crds = await mapLimit(byPhase('crd'), CONCURRENCY, m => applyOne(k, m, fallback, opts))
  results.push(...crds)
  if (crds.length && !opts.dryRun && opts.waitForCrd) await opts.waitForCrd(kc, crds, opts.signal)

  const rest = byPhase('rest')
  // In a dry run the CRDs were not created, so their kinds are not served yet.
  const planned = opts.dryRun ? kindsDefinedBy(crds.map(a => a.object)) : new Map<string, boolean>()
  // Resolve kinds first so an unknown kind fails before anything in this phase changes.
  const resolved = await mapLimit(rest, CONCURRENCY, async m => {
    try {
      return await k.resource(m.object.apiVersion, m.object.kind)
    } catch (err) {
      const namespaced = planned.get(`${m.object.apiVersion}|${m.object.kind}`)
      if (namespaced !== undefined) return { group: '', version: '', kind: m.object.kind, plural: '', namespaced, plannedOnly: true }
      throw failure(err, { verb: 'apply', resource: resourceName(m.object), origin: m.origin })
    }
  })
  const targets = new Set<string>()
  rest.forEach((m, i) => resolved[i].namespaced && targets.add(m.object.metadata.namespace || fallback))
  const declared = new Set(namespaces.map(a => a.object.metadata.name))
  if (!opts.dryRun) for (const ns of targets) if (!declared.has(ns)) await ensureNamespace(k, ns, opts.signal)
  results.push(
    ...(await mapLimit(rest, CONCURRENCY, (m, i) => {
      const r = resolved[i]
      if (!('plannedOnly' in r)) return applyOne(k, m, fallback, opts, r)
      const object = withNamespace(m.object, r.namespaced, fallback)
      return Promise.resolve<Applied>({ manifest: m, object, resource: resourceName(object), rbacResource: r.kind, after: object, change: 'created' })
    }))
  )
  return results
}

/** Pure: the kinds the given CRDs serve, as 'group/version|Kind' → namespaced. */
export function kindsDefinedBy(crds: KubeObject[]): Map<string, boolean> {
  const kinds = new Map<string, boolean>()
  for (const crd of crds) {
    const spec = (crd as { spec?: { group?: string; scope?: string; names?: { kind?: string }; versions?: { name: string }[] } }).spec
    for (const v of spec?.versions ?? []) if (spec?.group && spec.names?.kind) kinds.set(`${spec.group}/${v.name}|${spec.names.kind}`, spec.scope !== 'Cluster')
  }
  return kinds
}

async function applyOne(k: Kube, m: Manifest, fallback: string, opts: ApplyOptions, known?: ApiResource): Promise<Applied> {
  const base = { verb: 'apply', resource: resourceName(m.object), origin: m.origin }
  let r: ApiResource
  try {
    r = known ?? (await k.resource(m.object.apiVersion, m.object.kind))
  } catch (err) {
    throw failure(err, base)
  }
  const object = withNamespace(m.object, r.namespaced, fallback)
  const resource = resourceName(object)
  const rbacResource = r.group ? `${r.plural}.${r.group}` : r.plural
  const ctx = { ...base, resource, rbacResource, namespace: object.metadata.namespace }
  try {
    const path = await k.path(refOf(object))
    // An identity allowed to patch but not get still deploys; the change then comes from the code.
    let unreadable = false
    const before = await k.get(refOf(object), opts.signal).catch(err => {
      if (err instanceof ApiError && err.code === 403) return void (unreadable = true)
      throw failure(err, { ...ctx, verb: 'get' })
    })
    // Apply is idempotent: Kube.send retries throttling, 5xx and dropped connections (src/retry.ts).
    const patch = (force: boolean) =>
      k.send<KubeObject>('PATCH', path, {
        query: { fieldManager: FIELD_MANAGER, fieldValidation: 'Strict', force: force || undefined, dryRun: opts.dryRun ? 'All' : undefined },
        body: object,
        contentType: 'application/apply-patch+yaml',
        signal: opts.signal
      })
    let answer: { code: number; body: KubeObject }
    try {
      answer = await patch(false)
    } catch (err) {
      // A dry run cannot go into a namespace that a real run would create first: show it as new.
      if (opts.dryRun && !before && err instanceof ApiError && err.code === 404)
        return { manifest: m, object, resource, rbacResource, after: object, change: 'created' }
      if (!(err instanceof ApiError && err.code === 409)) throw err
      const summary = conflictSummary(err.status.message)
      const ours = [...summary.matchAll(/conflict with "([^"]+)"/g)].every(m => m[1] === ROLLBACK_MANAGER)
      const say = ours ? core.info : (opts.warn ?? core.warning)
      say(`${resource}: took over fields from ${ours ? 'the last rollback' : 'another manager'}: ${summary}`)
      answer = await patch(true)
    }
    const change = unreadable ? (answer.code === 201 ? 'created' : 'configured') : changeOf(before, answer.body, answer.code)
    return { manifest: m, object, resource, rbacResource, before, after: answer.body, change }
  } catch (err) {
    throw failure(err, ctx)
  }
}

/** 'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas' → the part after the colon. */
export function conflictSummary(message = ''): string {
  return message.replace(/^Apply failed with \d+ conflicts?: /, '').replace(/\s+/g, ' ').trim()
}

export async function ensureNamespace(k: Kube, name: string, signal?: AbortSignal): Promise<void> {
  const ref = { apiVersion: 'v1', kind: 'Namespace', name }
  try {
    if (await k.get(ref, signal)) return
  } catch (err) {
    // A namespaced Role cannot read Namespaces; the apply itself will say if it is missing.
    if (err instanceof ApiError && err.code === 403) return
    throw failure(err, { verb: 'get', resource: `Namespace/${name}`, rbacResource: 'namespaces' })
  }
  try {
    await k.request('PATCH', await k.path(ref), {
      query: { fieldManager: FIELD_MANAGER },
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      contentType: 'application/apply-patch+yaml',
      signal
    })
    core.info(`Namespace/${name} created (it did not exist)`)
  } catch (err) {
    throw failure(err, { verb: 'create', resource: `Namespace/${name}`, rbacResource: 'namespaces' })
  }
}
