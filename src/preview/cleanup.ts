// PR preview environments, the I/O half: on the PR's `closed` event delete the preview Namespace
// and watch until it is gone (the namespace controller deletes what is inside first). Only a
// namespace carrying the preview label of this PR is deleted; one already gone is success.
import type { KubeConfig } from '@kubernetes/client-node'
import { DeployError } from '../errors.js'
import { clientFor } from '../kube/client.js'
import { ApiError, failure } from '../kube/errors.js'
import { listWatch } from '../kube/status/watch.js'
import type { KubeObject } from '../manifests/types.js'
import type { DeployReport } from '../report/model.js'
import { PREVIEW_LABEL, type Preview } from './index.js'

export interface CleanupResult {
  namespace: string
  /** false when it was gone before we looked (a second cleanup) */
  deleted: boolean
}

export interface CleanupOptions {
  /** the run's deadline; it bounds the wait for the namespace to disappear */
  signal?: AbortSignal
  /** a bound of its own for that wait (default: the signal alone, else 5 minutes) */
  timeoutMs?: number
}

/** Deletes the preview namespace and waits until the API server no longer has it. */
export async function cleanupPreview(kc: KubeConfig, preview: Pick<Preview, 'namespace' | 'number'>, opts: CleanupOptions = {}): Promise<CleanupResult> {
  const api = clientFor(kc)
  const name = preview.namespace
  const path = `/api/v1/namespaces/${encodeURIComponent(name)}`
  const what = { resource: `Namespace/${name}`, rbacResource: 'namespaces' }
  const ns = await api.get({ apiVersion: 'v1', kind: 'Namespace', name }, opts.signal).catch(err => {
    throw failure(err, { verb: 'get', ...what })
  })
  if (!ns) return { namespace: name, deleted: false }
  const label = ns.metadata.labels?.[PREVIEW_LABEL]
  if (label !== String(preview.number))
    throw new DeployError(
      `not deleting namespace ${name}: it is not the preview of PR #${preview.number} (label ${PREVIEW_LABEL} is ${label === undefined ? 'missing' : `'${label}'`})`,
      { input: 'preview-namespace', hint: 'cleanup deletes only namespaces a preview deploy of the same PR created' }
    )

  if (!ns.metadata.deletionTimestamp) {
    try {
      await api.request('DELETE', path, { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' }, signal: opts.signal })
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw failure(err, { verb: 'delete', ...what })
    }
  }
  await waitGone(kc, name, opts)
  return { namespace: name, deleted: true }
}

async function waitGone(kc: KubeConfig, name: string, opts: CleanupOptions): Promise<void> {
  // the run's deadline bounds the wait; without one (or with timeoutMs) a bound of our own does
  const bound = opts.timeoutMs ?? (opts.signal ? undefined : 300_000)
  const signals = [opts.signal, bound === undefined ? undefined : AbortSignal.timeout(bound)].filter((x): x is AbortSignal => x !== undefined)
  const signal = AbortSignal.any(signals)
  const started = Date.now()
  let gone = false
  let last: KubeObject | undefined
  await listWatch(clientFor(kc), '/api/v1/namespaces', `metadata.name=${name}`, signal, {
    onList: items => {
      last = items[0]
      gone = items.length === 0
    },
    onEvent: (type, obj) => {
      last = obj
      if (type === 'DELETED') gone = true
    },
    finished: () => gone,
    what: { resource: `Namespace/${name}`, rbacResource: 'namespaces' }
  })
  if (gone) return
  // a cancelled job says so itself; a deadline becomes the line below
  if (opts.signal?.aborted && opts.signal.reason instanceof DeployError) throw opts.signal.reason
  const conditions = ((last?.status as { conditions?: { type: string; status: string; message?: string }[] })?.conditions ?? [])
    .filter(c => c.status === 'True')
    .map(c => c.message ?? c.type)
  throw new DeployError(`namespace ${name} is still terminating after ${Math.round((Date.now() - started) / 1000)}s${conditions.length ? `: ${conditions.join('; ')}` : ''}`, {
    resource: `Namespace/${name}`,
    hint: `an object inside may have a finalizer no controller removes; see kubectl get all -n ${name}`
  })
}

/**
 * The cleanup mode as one stage: delete the preview and record it in the report (namespace,
 * status cleaned-up, the Namespace as deleted, or a note that it was already gone). Throws the
 * DeployError of a refused or stuck deletion; the caller reports it like any failure.
 */
export async function runCleanup(kc: KubeConfig, preview: Preview, report: DeployReport, opts: CleanupOptions = {}): Promise<CleanupResult> {
  report.namespace = preview.namespace
  report.environment = preview.environment
  const result = await cleanupPreview(kc, preview, opts)
  report.status = 'cleaned-up'
  if (result.deleted) report.resources.push({ kind: 'Namespace', name: preview.namespace, change: 'deleted' })
  else report.warnings.push(`namespace ${preview.namespace} was already gone; nothing to delete`)
  return result
}
