// mode: diff — what a deploy would change, without changing anything: every document goes
// through a server-side dry-run apply (admission, defaulting and our field ownership included),
// and the answer is compared with the live object. Fields that always differ and say nothing
// about intent (managedFields, status, resourceVersion, uid, generation, timestamps, the
// last-applied annotation) are removed from both sides first.
import type { KubeConfig } from '@kubernetes/client-node'
import { createTwoFilesPatch } from 'diff'
import { stringify } from 'yaml'
import type { ResourceEntry } from '../report/model.js'
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
    const a = p.live ? stringify(cleanForDiff(p.live)) : ''
    const b = stringify(cleanForDiff(p.planned))
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
  const applied: Applied[] = await applyObjects(kc, manifests, { ...opts, dryRun: true })
  const pairs = applied.map(a => ({ resource: a.resource, live: a.before, planned: a.after }))
  const { text, changed } = renderDiff(pairs)
  // A dry run does not move resourceVersion, so the change is read from the cleaned objects.
  for (const a of applied)
    if (a.before) a.change = stringify(cleanForDiff(a.before)) === stringify(cleanForDiff(a.after)) ? 'unchanged' : 'configured'
  return { text, changed, resources: toResourceEntries(applied) }
}
