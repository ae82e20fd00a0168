// Prune, the I/O half (applyset.ts decides): read the ApplySet parent and record the superset
// before anything is applied; after a good rollout list the members per group-kind and namespace,
// delete what the plan says with foreground propagation (the object stays until its dependents
// are gone) and wait until each is gone, then narrow the parent to what remains.
import * as core from '@actions/core'
import type { KubeConfig } from '@kubernetes/client-node'
import { DeployError } from '../errors.js'
import { type KubeObject, type Manifest, resourceName } from '../manifests/types.js'
import type { DeployReport } from '../report/model.js'
import {
  type Desired,
  type ParentRef,
  type ParentState,
  type PruneAllowance,
  type PrunePlan,
  PART_OF,
  applySetId,
  deleteWaves,
  groupKind,
  parentObject,
  parentRef,
  parseGroupKind,
  planPrune,
  readParent,
  scopeOf,
  withMembership
} from './applyset.js'
import { FIELD_MANAGER, ensureNamespace, kindsDefinedBy } from './apply.js'
import { type Kube, clientFor, refOf } from './client.js'
import { ApiError, failure } from './errors.js'
import { deleteIfExists, getIn, listIn } from './objects.js'
import { mapLimit } from './pool.js'
import { listWatch } from './status/watch.js'

export interface OpenOptions {
  environment: string
  /** the target namespace: the parent lives there */
  namespace: string
  documents: Manifest[]
  /** false in mode diff: nothing is written */
  write: boolean
  allow: readonly PruneAllowance[]
  signal: AbortSignal
}

export interface ApplySet {
  parent: ParentRef
  id: string
  /** the documents with the part-of label: what the strategies apply */
  documents: Manifest[]
  /** lists the members, deletes what the manifests no longer have (or, not writing, says what it would) */
  prune(report: DeployReport, signal: AbortSignal): Promise<PrunePlan>
}

/**
 * Checks the parent is ours, labels the documents and (writing) records the superset of
 * group-kinds and namespaces before the first member is applied.
 */
export async function openApplySet(kc: KubeConfig, options: OpenOptions): Promise<ApplySet> {
  const api = clientFor(kc)
  const ref = parentRef(options.environment, options.namespace)
  const id = applySetId({ ...ref, group: '' })
  const parent = readParent(await getIn(api, ref, options.signal), ref)
  const documents = withMembership(options.documents, id)
  const scope = scopeOf(await settled(api, documents, options.namespace), options.namespace, gk => clusterScoped.has(gk))
  if (options.write) {
    // The parent's namespace must exist before the parent; the apply deletes it again if it refuses the run.
    await ensureNamespace(api, options.namespace, options.signal)
    await applyParent(api, parentObject(ref, [...parent.groupKinds, ...scope.groupKinds], [...parent.namespaces, ...scope.namespaces]), options.signal)
  }
  core.info(`ApplySet ${ref.kind}/${ref.namespace}/${ref.name} (${id})${parent.existed ? '' : ': new, this run adopts what it applies'}`)
  return {
    parent: ref,
    id,
    documents,
    prune: async (report, signal) => {
      // What this run applied: the documents, and what the strategy reported (colours, copies).
      const desired: Desired[] = [
        ...(await settled(api, documents, options.namespace)).map(d => ({ apiVersion: d.apiVersion, kind: d.kind, namespace: d.metadata.namespace, name: d.metadata.name })),
        ...report.resources.map(r => ({ kind: r.kind, namespace: r.namespace, name: r.name }))
      ]
      const live = await listMembers(api, id, parent, scope, documents, signal)
      const plan = planPrune({ live, desired, parent, scope, allow: options.allow })
      for (const x of plan.kept) core.info(`Prune: keeping ${x.resource} (${x.reason})`)
      const names = plan.delete.map(resourceName)
      report.prune = { deleted: [], planned: names, kept: plan.kept, refused: plan.refused }
      if (!options.write) {
        for (const m of plan.delete) report.resources.push({ kind: m.kind, namespace: m.metadata.namespace, name: m.metadata.name, change: 'deleted' })
        for (const n of names) core.info(`Prune: would delete ${n}`)
        if (plan.refused) report.warnings.push(`a deploy would refuse the prune: ${plan.refused}`)
        return plan
      }
      if (plan.refused) throw new DeployError(plan.refused, { input: 'prune-allow' })
      for (const wave of deleteWaves(plan.delete))
        await mapLimit(wave, 8, async m => {
          await deleteIfExists(api, refOf(m), signal, 'Foreground')
          await waitGone(api, m, signal)
          report.prune!.deleted.push(resourceName(m))
          report.resources.push({ kind: m.kind, namespace: m.metadata.namespace, name: m.metadata.name, change: 'deleted' })
          core.info(`Prune: deleted ${resourceName(m)}`)
        })
      report.prune.deleted.sort()
      await applyParent(api, parentObject(ref, plan.groupKinds, plan.namespaces), signal)
      if (!names.length) core.info('Prune: nothing to delete')
      return plan
    }
  }
}

// Group-kinds discovery found cluster-scoped (filled by settled and listMembers).
const clusterScoped = new Set<string>()

/** The documents with their namespace as the apply settles it (none for cluster-scoped kinds). */
async function settled(api: Kube, documents: Manifest[], fallback: string): Promise<KubeObject[]> {
  const planned = kindsDefinedBy(documents.map(d => d.object).filter(o => o.kind === 'CustomResourceDefinition'))
  return mapLimit(documents, 8, async ({ object: o }) => {
    const namespaced = await api
      .resource(o.apiVersion, o.kind)
      .then(r => r.namespaced)
      .catch(() => planned.get(`${o.apiVersion}|${o.kind}`) ?? true)
    if (!namespaced) clusterScoped.add(groupKind(o.apiVersion, o.kind))
    const metadata = { ...o.metadata, namespace: namespaced ? o.metadata.namespace || fallback : undefined }
    return { ...o, metadata }
  })
}

/** Every live object labelled with the id, in every group-kind and namespace the parent or this run lists. */
async function listMembers(api: Kube, id: string, parent: ParentState, scope: { groupKinds: string[]; namespaces: string[] }, documents: Manifest[], signal: AbortSignal): Promise<KubeObject[]> {
  const groupKinds = [...new Set([...parent.groupKinds, ...scope.groupKinds])].sort()
  const namespaces = [...new Set([...parent.namespaces, ...scope.namespaces])]
  const lists = await mapLimit(groupKinds, 8, async gk => {
    const { kind, group } = parseGroupKind(gk)
    const apiVersion = documents.find(d => groupKind(d.object.apiVersion, d.object.kind) === gk)?.object.apiVersion ?? (await preferredVersion(api, group, signal))
    const r = apiVersion && (await api.resource(apiVersion, kind).catch(() => undefined))
    if (!apiVersion || !r) {
      core.warning(`Prune: ${gk} is no longer served by the cluster; its members (if any) are not pruned`)
      return []
    }
    if (!r.namespaced) clusterScoped.add(gk)
    const where = r.namespaced ? namespaces : [undefined]
    const found = await mapLimit(where, 4, namespace => listIn(api, { apiVersion, kind, namespace }, signal, `${PART_OF}=${id}`))
    return found.flat()
  })
  return lists.flat()
}

/** The group's preferred version ('v1' for core), undefined when the group is not served. */
async function preferredVersion(api: Kube, group: string, signal: AbortSignal): Promise<string | undefined> {
  if (!group) return 'v1'
  try {
    return (await api.request<{ preferredVersion?: { groupVersion?: string } }>('GET', `/apis/${encodeURIComponent(group)}`, { signal })).preferredVersion?.groupVersion
  } catch (err) {
    if (err instanceof ApiError && err.code === 404) return undefined
    throw failure(err, { verb: 'get', resource: `API group ${group}` })
  }
}

/** Server-side apply of the parent; it is ours (readParent checked), so a conflict is taken over. */
async function applyParent(api: Kube, body: KubeObject, signal: AbortSignal): Promise<void> {
  const resource = resourceName(body)
  try {
    await api.request('PATCH', await api.path(refOf(body)), { query: { fieldManager: FIELD_MANAGER, force: true }, body, contentType: 'application/apply-patch+yaml', signal })
  } catch (err) {
    throw failure(err, { verb: 'apply', resource, namespace: body.metadata.namespace, rbacResource: 'configmaps' })
  }
}

/** Until the API server no longer has the object (a finalizer may hold it until the run's deadline). */
async function waitGone(api: Kube, object: KubeObject, signal: AbortSignal): Promise<void> {
  const ref = refOf(object)
  const r = await api.resource(object.apiVersion, object.kind)
  let gone = false
  await listWatch(api, await api.path({ ...ref, name: undefined }), `metadata.name=${object.metadata.name}`, signal, {
    onList: items => void (gone = items.length === 0),
    onEvent: type => void (type === 'DELETED' && (gone = true)),
    finished: () => gone,
    what: { resource: resourceName(object), namespace: ref.namespace, rbacResource: r.group ? `${r.plural}.${r.group}` : r.plural }
  })
  if (!gone && !signal.aborted) throw new DeployError('was deleted but is still there', { resource: resourceName(object), hint: 'a finalizer may hold it' })
  if (!gone) throw signal.reason
}
