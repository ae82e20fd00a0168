// mode: diff — what a deploy would change, without changing anything: every document goes
// through a server-side dry-run apply (admission, defaulting and our field ownership included),
// and the answer is compared with the live object. Fields that always differ and say nothing
// about intent (managedFields, status, resourceVersion, uid, generation, timestamps, the
// last-applied annotation) are removed from both sides first. Secret values never reach the
// text: they are masked as `kubectl diff` masks them (keys kept, values `***`, a changed value
// `*** (before)` / `*** (after)`), with stringData folded into data as the API server folds it.
import type { KubeConfig } from '@kubernetes/client-node'
import { createTwoFilesPatch } from 'diff'
import { stringify } from 'yaml'
import type { ResourceEntry } from '../report/model.js'
import { registerSecret } from '../redact.js'
import type { KubeObject, Manifest } from '../manifests/types.js'
import { type Applied, applyObjects, toResourceEntries } from './apply.js'

const NOISE_METADATA = ['managedFields', 'resourceVersion', 'uid', 'generation', 'creationTimestamp', 'selfLink']
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

/** Pure: the object without the fields every read changes. */
export function cleanForDiff(o: KubeObject | undefined): KubeObject | undefined {
  if (!o) return undefined
  const copy = structuredClone(o) as KubeObject & { status?: unknown }
  delete copy.status
  for (const f of NOISE_METADATA) delete copy.metadata[f]
  if (copy.metadata.annotations) {
    delete copy.metadata.annotations[LAST_APPLIED]
    if (!Object.keys(copy.metadata.annotations).length) delete copy.metadata.annotations
  }
  return copy
}

/** kubectl diff's masks (k8s.io/kubectl/pkg/cmd/diff: sensitiveMask*) */
export const SECRET_MASK = '***'
export const SECRET_MASK_BEFORE = '*** (before)'
export const SECRET_MASK_AFTER = '*** (after)'

/** A core/v1 Secret: the only kind whose values are masked, as in kubectl. */
export function isSecret(o: KubeObject | undefined): boolean {
  return o?.kind === 'Secret' && o.apiVersion === 'v1'
}

/**
 * Pure: data with stringData folded in, as the API server stores it (stringData wins, encoded
 * base64), so a value moved from stringData to data compares equal.
 */
export function secretData(o: KubeObject): Record<string, string> {
  const raw = o as KubeObject & { data?: Record<string, unknown> | null; stringData?: Record<string, unknown> | null }
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(raw.data ?? {})) out[k] = String(v ?? '')
  for (const [k, v] of Object.entries(raw.stringData ?? {})) out[k] = Buffer.from(String(v ?? ''), 'utf8').toString('base64')
  return out
}

/**
 * Pure: both sides of a Secret with every value masked, kubectl's rule: a key on both sides with
 * the same value is `***` on both; with different values `*** (before)` and `*** (after)`; a key
 * on one side only is `***`. Keys stay visible; other kinds pass through unchanged.
 */
export function maskSecretPair(live: KubeObject | undefined, planned: KubeObject): { live?: KubeObject; planned: KubeObject } {
  if (!isSecret(planned) && !isSecret(live)) return { live, planned }
  const from = live ? secretData(live) : {}
  const to = secretData(planned)
  const maskedFrom: Record<string, string> = {}
  const maskedTo: Record<string, string> = {}
  for (const k of Object.keys(from)) {
    const changed = k in to && from[k] !== to[k]
    maskedFrom[k] = changed ? SECRET_MASK_BEFORE : SECRET_MASK
    if (k in to) maskedTo[k] = changed ? SECRET_MASK_AFTER : SECRET_MASK
  }
  for (const k of Object.keys(to)) if (!(k in from)) maskedTo[k] = SECRET_MASK
  const fold = (o: KubeObject, data: Record<string, string>): KubeObject => {
    const copy = { ...o } as KubeObject & { data?: unknown; stringData?: unknown }
    delete copy.stringData
    if (Object.keys(data).length) copy.data = data
    else delete copy.data
    return copy
  }
  return { live: live && fold(live, maskedFrom), planned: fold(planned, maskedTo) }
}

/**
 * Masks every value of the Secrets among the objects in the job log from now on (as base64 and
 * decoded), so nothing that later echoes one (an error, a log line) shows it.
 */
export function registerSecretValues(objects: (KubeObject | undefined)[]): void {
  for (const o of objects) {
    if (!o || !isSecret(o)) continue
    for (const b64 of Object.values(secretData(o))) {
      registerSecret(b64)
      registerSecret(Buffer.from(b64, 'base64').toString('utf8'))
    }
  }
}

export interface DiffPair {
  /** kind/namespace/name */
  resource: string
  live?: KubeObject
  planned: KubeObject
}

/** Pure: a unified diff of every pair that differs; new objects show as all added. */
export function renderDiff(pairs: DiffPair[]): { text: string; changed: number } {
  const parts: string[] = []
  for (const p of pairs) {
    const masked = maskSecretPair(cleanForDiff(p.live), cleanForDiff(p.planned) as KubeObject)
    const a = masked.live ? stringify(masked.live) : ''
    const b = stringify(masked.planned)
    if (a === b) continue
    parts.push(createTwoFilesPatch(p.live ? `live/${p.resource}` : '/dev/null', `planned/${p.resource}`, a, b, undefined, undefined, { context: 3 }).replace(/^=+\n/, ''))
  }
  return { text: parts.join(''), changed: parts.length }
}

export interface DiffResult {
  text: string
  changed: number
  /** each document with the change the apply would make */
  resources: ResourceEntry[]
}

/** Dry-runs every document and renders the diff against the live objects; persists nothing. */
export async function diffObjects(kc: KubeConfig, manifests: Manifest[], opts: { namespace?: string; signal?: AbortSignal } = {}): Promise<DiffResult> {
  registerSecretValues(manifests.map(m => m.object))
  const applied: Applied[] = await applyObjects(kc, manifests, { ...opts, dryRun: true })
  registerSecretValues(applied.flatMap(a => [a.before, a.after]))
  const pairs = applied.map(a => ({ resource: a.resource, live: a.before, planned: a.after }))
  const { text, changed } = renderDiff(pairs)
  // A dry run does not move resourceVersion, so the change is read from the cleaned objects.
  for (const a of applied)
    if (a.before) a.change = stringify(cleanForDiff(a.before)) === stringify(cleanForDiff(a.after)) ? 'unchanged' : 'configured'
  return { text, changed, resources: toResourceEntries(applied) }
}
