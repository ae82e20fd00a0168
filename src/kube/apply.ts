// Server-side apply of the rendered documents, in two passes: every document first goes through
// a server-side dry run (same field manager, dryRun=All, fieldValidation=Strict), and only when
// all of them pass is anything written. RBAC, schema, admission webhooks, quota and unknown kinds
// all answer in the dry run, so a refused run changes nothing.
//
// Decisions:
// - Cost: the dry run's answer tells which objects exist (201: it would create it); only those
//   are captured, with one LIST per kind and namespace (one GET when only one object of that
//   kind is there), after their dry run and before any write. With the captured object the
//   dry run's answer tells created / configured / unchanged, and a document whose dry run
//   equals the live object is not written again. A deploy of 200 new objects costs the dry
//   runs and the writes and reads nothing; an unchanged one costs the dry runs and a LIST per
//   kind.
// - Field manager `kube-ship`; the first attempt is not forced, so a conflict with another
//   manager (kubectl edit, an HPA, an earlier client-side apply) is seen and named in a warning;
//   then the apply is repeated with force. The manifests in the repository are the desired state
//   of an environment this action owns (the same stance as Flux's SSA); failing the deploy on the
//   first `kubectl scale` would leave the pipeline stuck until someone fixed ownership by hand.
// - A target namespace that does not exist is created before the dry run (objects cannot be
//   dry-run into a namespace that is not there) and deleted again when the dry run refuses the
//   run. A kubeconfig that may not read Namespaces (a namespaced Role) is trusted to target an
//   existing one.
// - Objects of a kind a CRD of this run adds cannot be dry-run before the CRD exists: they are
//   written after it is Established, and a failure there is undone by rollback.
// - Every capture and every write is recorded in the run's Journal, which rollback reads: what
//   existed before (and how it looked), what this run created, which namespaces it created.
import { isDeepStrictEqual } from 'node:util'
import * as core from '@actions/core'
import { describeError } from '../errors.js'
import type { Change, ResourceEntry } from '../report/model.js'
import { type KubeObject, type Manifest, keptCopy, resourceName } from '../manifests/types.js'
import { assertNoDuplicates, checkObject } from '../manifests/check.js'
import type { KubeConfig } from '@kubernetes/client-node'
import { type ApiResource, type Kube, clientFor, refOf } from './client.js'
import { ApiError, failure, type FailureContext } from './errors.js'
import { mapLimit } from './pool.js'

export const FIELD_MANAGER = 'kube-ship'
/** The Update manager that wrote a restored template (rollback.ts); the next apply takes it over quietly. */
export const ROLLBACK_MANAGER = 'kube-ship-rollback'
const CONCURRENCY = 16

export interface Applied {
  manifest: Manifest
  /** the object as sent (namespace defaulted) */
  object: KubeObject
  /** kind/namespace/name */
  resource: string
  rbacResource: string
  /** the live object before the apply (a workload's as its journal entry keeps it); undefined when it did not exist */
  before?: KubeObject
  /** what the server answered, as keptCopy keeps it (the whole dry-run result in diff mode) */
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
  /** records captures, writes and created namespaces for rollback (a fresh one when not given) */
  journal?: Journal
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

/** Pure: refuses documents SSA cannot apply, and the same object twice (the checks and messages of manifests/check.ts). */
export function checkDocuments(manifests: Manifest[]): void {
  for (const m of manifests) checkObject(m.object, { file: m.origin.file, line: m.origin.line })
  assertNoDuplicates(manifests)
}

/** Pure: created / configured / unchanged from the object before and after. */
export function changeOf(before: KubeObject | undefined, after: KubeObject, code: number): Change {
  if (!before || code === 201) return 'created'
  return before.metadata.resourceVersion === after.metadata.resourceVersion ? 'unchanged' : 'configured'
}

export function toResourceEntries(applied: Applied[]): ResourceEntry[] {
  return applied.map(a => ({ kind: a.object.kind, namespace: a.object.metadata.namespace, name: a.object.metadata.name, change: a.change }))
}

/** What one document will do, settled before any write. */
interface Plan {
  manifest: Manifest
  object: KubeObject
  resource: string
  rbacResource: string
  phase: Phase
  /** its kind is added by a CRD of this run: neither captured nor dry-run before the CRD exists */
  planned: boolean
  entry: JournalEntry
  /** the dry run met a conflict: the real write is forced (the warning was given once) */
  force?: boolean
  /** the dry run's answer */
  dry?: { code: number; body: KubeObject }
}

/**
 * Pure: undone by writing back a pod template (rollback.ts), so its captured object is read only
 * for the template, the revision annotation and the images, never written back whole.
 */
export function undoneByTemplate(o: { apiVersion: string; kind: string }): boolean {
  return o.apiVersion === 'apps/v1' && (o.kind === 'Deployment' || o.kind === 'StatefulSet' || o.kind === 'DaemonSet')
}

/** One document of a run as rollback needs it. */
export interface JournalEntry {
  apiVersion: string
  kind: string
  namespace?: string
  name: string
  resource: string
  rbacResource: string
  /**
   * the live object before the run; undefined when it did not exist (or could not be read).
   * Whole, as a replace puts it back; a workload's (undoneByTemplate) as keptCopy keeps it once
   * it is written.
   */
  before?: KubeObject
  /** false when the identity may not read it: `before` says nothing then */
  readable: boolean
  /** a real write was sent (it may have landed even when it failed) */
  written: boolean
  /** the outcome of the write, when it answered */
  change?: Change
}

/** What a run captured and changed, for rollback: filled by applyObjects (and ensureNamespace). */
export interface Journal {
  entries: JournalEntry[]
  /** namespaces this run created, in creation order */
  createdNamespaces: string[]
}

export const newJournal = (): Journal => ({ entries: [], createdNamespaces: [] })

// Namespaces created through ensureNamespace (the pipeline makes the lock's namespace before
// the deliver stage starts); applyObjects adds them to its journal.
const createdBy = new WeakMap<Kube, Set<string>>()

/** Applies every document; answers one Applied per document in the order applied. */
export async function applyObjects(kc: KubeConfig, manifests: Manifest[], opts: ApplyOptions = {}): Promise<Applied[]> {
  checkDocuments(manifests)
  const k = clientFor(kc)
  const fallback = opts.namespace || k.contextNamespace
  const journal = opts.journal ?? newJournal()
  const { signal } = opts
  const say = (p: Plan) => (summary: string, ours: boolean) =>
    (ours ? core.info : (opts.warn ?? core.warning))(`${p.resource}: took over fields from ${ours ? 'the last rollback' : 'another manager'}: ${summary}`)

  if (opts.dryRun) {
    const plans = await prepare(k, manifests, fallback, journal, signal)
    await mapLimit(plans, CONCURRENCY, async p => {
      if (p.planned) return
      try {
        p.dry = await patch(k, p, { dryRun: true, signal, onConflict: say(p) })
      } catch (err) {
        // A dry run cannot go into a namespace that a real run would create first: show it as new.
        if (err instanceof ApiError && err.code === 404) return
        throw failure(err, context(p))
      }
    })
    await capture(k, plans.filter(p => p.dry), signal)
    return plans.map(p => (p.dry ? { ...applied(p, p.dry.body), change: dryChange(p) } : { ...applied(p, p.object), change: 'created' as Change }))
  }

  // The namespaces created earlier in this run (the lock's) belong to this journal: a refused
  // run deletes them again.
  for (const ns of createdBy.get(k) ?? []) if (!journal.createdNamespaces.includes(ns)) journal.createdNamespaces.push(ns)
  createdBy.delete(k)
  let plans: Plan[]
  let created: Plan[]
  try {
    plans = await prepare(k, manifests, fallback, journal, signal)
    // 2. Namespaces: the dry run needs every target namespace to exist. The run's own Namespace
    // documents (and CRDs) are dry-run first, then the missing namespaces are created (and recorded).
    const of = (phase: Phase) => plans.filter(p => p.phase === phase)
    await dryRunAll(k, [...of('namespace'), ...of('crd')], signal, say)
    await capture(k, [...of('namespace'), ...of('crd')], signal)
    const declared = new Set(of('namespace').map(p => p.object.metadata.name))
    created = of('namespace').filter(p => p.entry.readable && !p.entry.before)
    await mapLimit(created, CONCURRENCY, async p => {
      await write(k, p, signal, say)
      journal.createdNamespaces.push(p.object.metadata.name)
    })
    const targets = new Set(plans.filter(p => p.object.metadata.namespace).map(p => p.object.metadata.namespace!))
    for (const ns of targets) if (!declared.has(ns)) await ensureNamespace(k, ns, signal, journal)
    // 3. The dry run of everything else, before the first real write of it.
    await dryRunAll(k, of('rest').filter(p => !p.planned), signal, say)
    await capture(k, of('rest').filter(p => !p.planned), signal)
  } catch (err) {
    await removeNamespaces(k, journal)
    throw err
  }

  // 4. The real writes, in dependency order; a document whose dry run changed nothing is skipped.
  const of = (phase: Phase) => plans.filter(p => p.phase === phase)
  const results: Applied[] = []
  results.push(...(await mapLimit(of('namespace'), CONCURRENCY, p => (created.includes(p) ? Promise.resolve(done(p)) : write(k, p, signal, say)))))
  const crds = await mapLimit(of('crd'), CONCURRENCY, p => write(k, p, signal, say))
  results.push(...crds)
  if (crds.length && opts.waitForCrd) await opts.waitForCrd(kc, crds, signal)
  results.push(
    ...(await mapLimit(of('rest'), CONCURRENCY, async p => {
      if (p.planned) await settlePlanned(k, p, fallback)
      return write(k, p, signal, say)
    }))
  )
  return results
}

/** 1. No request changes anything yet: every kind is looked up (an unknown kind fails here). */
async function prepare(k: Kube, manifests: Manifest[], fallback: string, journal: Journal, signal?: AbortSignal): Promise<Plan[]> {
  const planned = kindsDefinedBy(manifests.filter(m => phaseOf(m.object) === 'crd').map(m => m.object))
  signal?.throwIfAborted()
  const plans = await mapLimit(manifests, CONCURRENCY, m => plan(k, m, fallback, planned))
  for (const p of plans) journal.entries.push(p.entry)
  return plans
}

/** Pure: created / configured / unchanged from a dry run's answer and the captured object. */
function dryChange(p: Plan): Change {
  if (!p.entry.readable) return p.dry!.code === 201 ? 'created' : 'configured'
  if (!p.entry.before || p.dry!.code === 201) return 'created'
  return sameObject(p.entry.before, p.dry!.body) ? 'unchanged' : 'configured'
}

/** Pure: the same object, whatever the key order; list items carry no apiVersion/kind. */
export function sameObject(live: KubeObject, answer: KubeObject): boolean {
  const strip = ({ apiVersion: _a, kind: _k, ...rest }: KubeObject) => rest
  return isDeepStrictEqual(strip(live), strip(answer))
}

function applied(p: Plan, after: KubeObject): Omit<Applied, 'change'> {
  return { manifest: p.manifest, object: p.object, resource: p.resource, rbacResource: p.rbacResource, before: p.entry.before, after }
}

/** A document already written in this run (a Namespace created before the dry run). */
function done(p: Plan): Applied {
  return { ...applied(p, p.dry?.body ?? p.object), change: p.entry.change ?? 'created' }
}

function context(p: Plan): FailureContext {
  return { verb: 'apply', resource: p.resource, rbacResource: p.rbacResource, namespace: p.object.metadata.namespace, origin: p.manifest.origin }
}

async function plan(k: Kube, m: Manifest, fallback: string, planned: Map<string, boolean>): Promise<Plan> {
  let r: ApiResource | undefined
  try {
    r = await k.resource(m.object.apiVersion, m.object.kind)
  } catch (err) {
    if (!planned.has(`${m.object.apiVersion}|${m.object.kind}`)) throw failure(err, { verb: 'apply', resource: resourceName(m.object), origin: m.origin })
  }
  const namespaced = r ? r.namespaced : planned.get(`${m.object.apiVersion}|${m.object.kind}`)!
  const object = withNamespace(m.object, namespaced, fallback)
  const resource = resourceName(object)
  const rbacResource = r ? (r.group ? `${r.plural}.${r.group}` : r.plural) : m.object.kind.toLowerCase()
  const { apiVersion, kind } = object
  const entry: JournalEntry = { apiVersion, kind, namespace: object.metadata.namespace, name: object.metadata.name, resource, rbacResource, readable: true, written: false }
  return { manifest: m, object, resource, rbacResource, phase: phaseOf(object), planned: !r, entry }
}

/** The kind of a CRD of this run is served now: its plural and scope are known. */
async function settlePlanned(k: Kube, p: Plan, fallback: string): Promise<void> {
  const r = await k.resource(p.object.apiVersion, p.object.kind).catch(err => {
    throw failure(err, context(p))
  })
  p.object = withNamespace(p.manifest.object, r.namespaced, fallback)
  p.rbacResource = r.group ? `${r.plural}.${r.group}` : r.plural
}

/**
 * Reads the live objects, after their dry run and before any real write of them: a dry run that
 * answered 201 says the object does not exist, so only those answered 200 are read, with one
 * LIST per kind and namespace, a GET when one object is there (a Role may grant get without
 * list). A deploy of new objects reads nothing. What cannot be read (403) is marked
 * unreadable; the apply still goes ahead.
 */
async function capture(k: Kube, plans: Plan[], signal?: AbortSignal): Promise<void> {
  const groups = new Map<string, Plan[]>()
  for (const p of plans) {
    if (!p.dry || p.dry.code === 201) continue
    const key = `${p.object.apiVersion}|${p.object.kind}|${p.object.metadata.namespace ?? ''}`
    groups.set(key, [...(groups.get(key) ?? []), p])
  }
  const one = async (p: Plan) => {
    try {
      p.entry.before = await k.get(refOf(p.object), signal)
    } catch (err) {
      if (err instanceof ApiError && err.code === 403) return void (p.entry.readable = false)
      throw failure(err, { ...context(p), verb: 'get' })
    }
  }
  await mapLimit([...groups.values()], CONCURRENCY, async group => {
    if (group.length === 1) return one(group[0])
    const first = group[0].object
    const path = await k.path({ apiVersion: first.apiVersion, kind: first.kind, namespace: first.metadata.namespace })
    const live = new Map<string, KubeObject>()
    try {
      let cont: string | undefined
      // Bounded: 100 pages of 500 is more than any namespace holds of one kind in practice.
      for (let page = 0; page < 100; page++) {
        const list = await k.request<{ items?: KubeObject[]; metadata?: { continue?: string } }>('GET', path, { query: { limit: 500, continue: cont }, signal })
        for (const { apiVersion: _a, kind: _k, ...item } of list.items ?? []) live.set(item.metadata.name, { kind: first.kind, apiVersion: first.apiVersion, ...item }) // a GET's key order
        cont = list.metadata?.continue
        if (!cont) break
      }
      if (cont) return void (await mapLimit(group, CONCURRENCY, one))
    } catch (err) {
      if (err instanceof ApiError && err.code === 403) return void (await mapLimit(group, CONCURRENCY, one))
      throw failure(err, { ...context(group[0]), verb: 'list' })
    }
    for (const p of group) p.entry.before = live.get(p.object.metadata.name)
  })
}

async function dryRunAll(k: Kube, plans: Plan[], signal: AbortSignal | undefined, say: (p: Plan) => (summary: string, ours: boolean) => void): Promise<void> {
  await mapLimit(plans, CONCURRENCY, async p => {
    try {
      p.dry = await patch(k, p, { dryRun: true, signal, onConflict: say(p) })
    } catch (err) {
      throw failure(err, context(p))
    }
  })
}

/** The real write of one document; skipped when its dry run showed it would change nothing. */
async function write(k: Kube, p: Plan, signal: AbortSignal | undefined, say: (p: Plan) => (summary: string, ours: boolean) => void): Promise<Applied> {
  if (p.dry && p.entry.readable && p.entry.before && p.dry.code !== 201 && sameObject(p.entry.before, p.dry.body)) {
    p.entry.change = 'unchanged'
    keep(p)
    return { ...applied(p, keptCopy(p.entry.before)), change: 'unchanged' }
  }
  p.entry.written = true
  let answer: { code: number; body: KubeObject }
  try {
    answer = await patch(k, p, { dryRun: false, signal, onConflict: say(p) })
  } catch (err) {
    throw failure(err, context(p))
  }
  const before = p.entry.readable ? p.entry.before : undefined
  const change: Change = answer.code === 201 ? 'created' : !p.entry.readable ? 'configured' : changeOf(before, answer.body, answer.code)
  p.entry.change = change
  keep(p)
  return { ...applied(p, keptCopy(answer.body)), change }
}

/**
 * Written: the captured object is compared no more, and a run keeps its journal (and the
 * applied objects) until it ends, so a workload's capture keeps only what rollback reads of it.
 */
function keep(p: Plan): void {
  if (p.entry.before && undoneByTemplate(p.entry)) p.entry.before = keptCopy(p.entry.before)
}

/** One server-side apply (PATCH application/apply-patch+yaml); a conflict is named, then forced. */
async function patch(
  k: Kube,
  p: Plan,
  o: { dryRun: boolean; signal?: AbortSignal; onConflict: (summary: string, ours: boolean) => void }
): Promise<{ code: number; body: KubeObject }> {
  const path = await k.path(refOf(p.object))
  // Apply is idempotent: Kube.send retries throttling, 5xx and dropped connections (src/retry.ts).
  const send = (force: boolean) =>
    k.send<KubeObject>('PATCH', path, {
      query: { fieldManager: FIELD_MANAGER, fieldValidation: 'Strict', force: force || undefined, dryRun: o.dryRun ? 'All' : undefined },
      body: p.object,
      contentType: 'application/apply-patch+yaml',
      signal: o.signal
    })
  if (p.force) return send(true)
  try {
    return await send(false)
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 409)) throw err
    const summary = conflictSummary(err.status.message)
    const ours = [...summary.matchAll(/conflict with "([^"]+)"/g)].every(m => m[1] === ROLLBACK_MANAGER)
    o.onConflict(summary, ours)
    p.force = true
    return send(true)
  }
}

/** Deletes the namespaces this run created (a refused dry run): nothing in them ever served. */
async function removeNamespaces(k: Kube, journal: Journal): Promise<void> {
  for (const name of [...journal.createdNamespaces].reverse()) {
    try {
      await k.request('DELETE', await k.path({ apiVersion: 'v1', kind: 'Namespace', name }), { body: { propagationPolicy: 'Background' } })
      journal.createdNamespaces = journal.createdNamespaces.filter(n => n !== name)
      // Gone with its contents: nothing of this document remains for rollback to undo.
      for (const e of journal.entries) if (e.apiVersion === 'v1' && e.kind === 'Namespace' && e.name === name) Object.assign(e, { written: false, change: undefined })
      core.info(`Namespace/${name} deleted again (this run created it and deployed nothing)`)
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) continue
      core.warning(`Namespace/${name} was created by this run and could not be deleted again: ${describeError(failure(err, { verb: 'delete', resource: `Namespace/${name}`, rbacResource: 'namespaces' }))}`)
    }
  }
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

/** 'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas' → the part after the colon. */
export function conflictSummary(message = ''): string {
  return message.replace(/^Apply failed with \d+ conflicts?: /, '').replace(/\s+/g, ' ').trim()
}

/** Creates the namespace when it does not exist, and records that this run created it. */
export async function ensureNamespace(k: Kube, name: string, signal?: AbortSignal, journal?: Journal): Promise<void> {
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
  if (journal) journal.createdNamespaces.push(name)
  else createdBy.set(k, (createdBy.get(k) ?? new Set()).add(name))
}
