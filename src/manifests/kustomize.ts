// Pure Kustomize logic: edit the `images:` list of a kustomization in place, and predict what
// the images transformer does at build time. The semantics follow kustomize v5
// (reference/rollout-canary-kustomize-semantics.md §5):
//   - an entry with `digest` and no `newTag` renders `name@digest` (old tag dropped);
//   - `newTag` + `digest` renders `name:tag@digest`;
//   - our edit keeps an existing `newName` unless told otherwise (`kustomize edit set image
//     name=*@digest`), and drops `tagSuffix`, which a digest makes dead anyway;
//   - `name` matches the image string exactly as written (an anchored regex, no docker.io
//     normalisation), so `nginx` never matches `docker.io/library/nginx`.
// Unlike `kustomize edit`, the file is edited by splicing text at node offsets: comments, key
// order, quoting and indentation stay, and only the lines that carry a changed value differ.
// Checked against kustomize v5.5.0 `edit set image name=*@digest` (and `=new@digest`,
// `=*:tag@digest`) + build: same rendering for new, tagged, renamed, tagSuffix, host:port, flow
// and empty `images:` entries. One deliberate difference: `kustomize edit` re-sorts the list by
// name, which changes the result of chained entries (`nginx → newName app` then `app`); we keep
// the user's order, so the build keeps meaning what the file says.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, stringify, type Pair, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml'
import { DeployError } from '../errors.js'
import { yamlFailure } from './load.js'

/** The file names kustomize accepts, in its order of preference. */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const

export interface ImageEntry {
  name: string
  newName?: string
  newTag?: string
  digest?: string
  tagSuffix?: string
}

export interface SetImage {
  /** the `name` of the entry; matched exactly as a string, as kustomize does when it edits */
  name: string
  /** set newName; when absent an existing newName is kept (`name=*@digest`) */
  newName?: string
  digest: string
  /** keep a tag next to the digest (`name:tag@digest`); when absent newTag is removed */
  tag?: string
}

interface Edit {
  start: number
  end: number
  text: string
}

/**
 * Sets the `images:` entry named `want.name` to the digest, creating `images:` or the entry
 * when absent, and returns the new text. Every entry with that name is set: kustomize applies
 * entries in order, so a later duplicate left alone would re-tag the pinned image.
 */
export function setImage(text: string, want: SetImage, file = 'kustomization.yaml'): { text: string; changed: boolean } {
  const counter = new LineCounter()
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true })
  if (doc.errors.length) throw yamlFailure(doc.errors[0], counter, file)
  const root = doc.contents
  const edits: Edit[] = []

  if (root === null || (isScalar(root) && root.value === null)) {
    edits.push(appendAtEnd(text, 'images:\n' + blockEntry(want, 0, 2)))
  } else if (!isMap(root) || root.flow) {
    throw new DeployError('is not a kustomization (expected a block mapping at the top level)', { file, line: 1 })
  } else {
    const pair = root.items.find(p => isScalar(p.key) && p.key.value === 'images') as Pair<Scalar, unknown> | undefined
    const seqIndent = sequenceIndent(root, text)
    if (!pair) {
      // After the mapping's last content, not at the end of the text: a `...` end marker or a
      // following document must stay after it.
      const at = root.range ? endOfLine(text, lastContent(text, root.range[1])) : text.length
      edits.push(insertLines(text, at, 'images:\n' + blockEntry(want, seqIndent, seqIndent + 2)))
    } else if (pair.value === null || (isScalar(pair.value) && pair.value.value === null)) {
      // `images:` (or `images: ~`): drop the null, keep any comment, entries on the next lines.
      const colon = text.indexOf(':', pair.key.range![1])
      const nullEnd = isScalar(pair.value) && pair.value.source ? pair.value.range![1] : colon + 1
      if (nullEnd > colon + 1) edits.push({ start: colon + 1, end: nullEnd, text: '' })
      edits.push(insertLines(text, endOfLine(text, colon), blockEntry(want, seqIndent, seqIndent + 2)))
    } else if (!isSeq(pair.value)) {
      throw new DeployError("'images' is not a list", { file, line: counter.linePos(pair.key.range![0]).line })
    } else if (pair.value.flow) {
      edits.push(replaceFlow(pair.value, updatedList(pair.value.toJSON() as ImageEntry[], want)))
    } else {
      edits.push(...editBlockList(text, pair.value, want, file, counter))
    }
  }

  const out = apply(text, edits)
  return { text: out, changed: out !== text }
}

/** The `images:` entries of a kustomization (for choosing the name and reading newName). */
export function readImages(text: string): ImageEntry[] {
  const doc = parseDocument(text)
  if (doc.errors.length) return []
  const images = doc.toJS()?.images
  return Array.isArray(images) ? images.filter(e => e && typeof e.name === 'string').map(e => stringFields(e)) : []
}

function stringFields(e: Record<string, unknown>): ImageEntry {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(e)) if (v !== null && v !== undefined) out[k] = String(v)
  return out as unknown as ImageEntry
}

/** The entry as kustomize would hold it after the edit (what the renderer sees). */
export function updatedEntry(old: ImageEntry | undefined, want: SetImage): ImageEntry {
  const entry: ImageEntry = { name: want.name }
  const newName = want.newName ?? old?.newName
  if (newName) entry.newName = newName
  if (want.tag) entry.newTag = want.tag
  entry.digest = want.digest
  return entry
}

function updatedList(list: ImageEntry[], want: SetImage): ImageEntry[] {
  let found = false
  const out = list.map(e => {
    if (String(e?.name) !== want.name) return e
    found = true
    return reorder(e, updatedEntry(stringFields(e as unknown as Record<string, unknown>), want))
  })
  if (!found) out.push(updatedEntry(undefined, want))
  return out
}

/** Keeps the original key order of an entry, new keys after the old ones. */
function reorder(old: ImageEntry, next: ImageEntry): ImageEntry {
  const out: Record<string, string> = {}
  for (const k of Object.keys(old)) if (k in next) out[k] = (next as unknown as Record<string, string>)[k]
  for (const [k, v] of Object.entries(next)) if (!(k in out)) out[k] = v
  return out as unknown as ImageEntry
}

/** Edits inside a block `images:` sequence: scalar values replaced, keys added or removed line by line. */
function editBlockList(text: string, seq: YAMLSeq, want: SetImage, file: string, counter: LineCounter): Edit[] {
  const edits: Edit[] = []
  let found = false
  for (const item of seq.items) {
    if (!isMap(item)) continue
    const namePair = item.items.find(p => isScalar(p.key) && p.key.value === 'name')
    if (!namePair || !isScalar(namePair.value) || String(namePair.value.value) !== want.name) continue
    found = true
    const old = stringFields(item.toJSON() as Record<string, unknown>)
    const next = updatedEntry(old, want)
    if (item.flow) {
      edits.push(replaceFlow(item, reorder(old, next)))
      continue
    }
    edits.push(...editBlockEntry(text, item, next, file, counter))
  }
  if (!found) {
    const last = seq.items[seq.items.length - 1] as { range?: [number, number, number] } | undefined
    const dashCol = column(text, seq.range![0])
    const first = seq.items[0]
    const keyCol = isMap(first) && !first.flow && first.range ? column(text, first.range[0]) : dashCol + 2
    const at = last?.range ? endOfLine(text, lastContent(text, last.range[2])) : endOfLine(text, seq.range![0])
    edits.push(insertLines(text, at, blockEntry(want, dashCol, keyCol)))
  }
  return edits
}

function editBlockEntry(text: string, item: YAMLMap, next: ImageEntry, file: string, counter: LineCounter): Edit[] {
  const edits: Edit[] = []
  const pairs = item.items as Pair<Scalar, unknown>[]
  const byKey = new Map(pairs.filter(p => isScalar(p.key)).map(p => [String(p.key.value), p]))
  const keyCol = column(text, item.range![0])
  const dropped = (['newTag', 'tagSuffix', 'newName', 'digest'] as const).filter(k => byKey.has(k) && !(k in next))
  const added = (['newName', 'newTag', 'digest'] as const).filter(k => k in next && !byKey.has(k))

  for (const key of ['newName', 'newTag', 'digest'] as const) {
    const pair = byKey.get(key)
    const value = next[key]
    if (!pair || value === undefined) continue
    if (!isScalar(pair.value)) throw new DeployError(`images entry '${next.name}' has a non-scalar ${key}`, { file, line: counter.linePos(pair.key.range![0]).line })
    if (String(pair.value.value) !== value) edits.push({ start: pair.value.range![0], end: pair.value.range![1], text: scalar(value, pair.value.type) })
  }
  // A removed key whose line can be reused takes a new key's place: one changed line, not two.
  const handled = new Set<string>()
  for (const key of dropped) {
    if (handled.has(key)) continue
    const pair = byKey.get(key)!
    const keyStart = pair.key.range![0]
    const lineStart = startOfLine(text, keyStart)
    const valueEnd = (pair.value as Scalar).range?.[1] ?? pair.key.range![1]
    const reuse = added.shift()
    if (reuse) {
      edits.push({ start: keyStart, end: valueEnd, text: `${reuse}: ${scalar(next[reuse]!)}` })
    } else if (text.slice(lineStart, keyStart).trim() !== '') {
      // The key shares its line with the `- `: pull the next kept key up onto that line instead
      // of removing the line (which would remove the item).
      const from = pairs.indexOf(pair)
      const kept = pairs.slice(from + 1).find(p => !dropped.includes(String(p.key.value) as never))!
      pairs.slice(from + 1, pairs.indexOf(kept)).forEach(p => handled.add(String(p.key.value)))
      edits.push({ start: keyStart, end: kept.key.range![0], text: '' })
    } else {
      const end = endOfLine(text, lastContent(text, (pair.value as Scalar).range?.[2] ?? valueEnd))
      edits.push({ start: lineStart, end, text: '' })
    }
  }
  if (added.length) {
    const last = pairs[pairs.length - 1]
    const lastEnd = (last.value as Scalar | null)?.range?.[2] ?? last.key.range![1]
    const at = endOfLine(text, lastContent(text, lastEnd))
    const lines = added.map(k => `${' '.repeat(keyCol)}${k}: ${scalar(next[k]!)}\n`).join('')
    edits.push(insertLines(text, at, lines))
  }
  return edits
}

function blockEntry(want: SetImage, dashCol: number, keyCol: number): string {
  const e = updatedEntry(undefined, want)
  const keys = (['name', 'newName', 'newTag', 'digest'] as const).filter(k => e[k] !== undefined)
  return keys
    .map((k, i) => (i === 0 ? `${' '.repeat(dashCol)}-${' '.repeat(Math.max(1, keyCol - dashCol - 1))}` : ' '.repeat(keyCol)) + `${k}: ${scalar(e[k]!)}\n`)
    .join('')
}

/** A flow collection is rewritten whole, still in flow style, on its own range. */
function replaceFlow(node: YAMLSeq | YAMLMap, value: unknown): Edit {
  return { start: node.range![0], end: node.range![1], text: stringify(value, { collectionStyle: 'flow', lineWidth: 0, version: '1.1' }).trimEnd() }
}

/**
 * A scalar in the original quoting when given; plain otherwise unless YAML 1.1 (what kustomize's
 * Go parser speaks) would read it as something other than this string: `1.10`, `y`, `3.2e2`.
 */
function scalar(value: string, type?: Scalar['type']): string {
  if (type === 'QUOTE_DOUBLE') return JSON.stringify(value)
  if (type === 'QUOTE_SINGLE') return `'${value.replace(/'/g, "''")}'`
  return stringify(value, { lineWidth: 0, version: '1.1' }).trimEnd()
}

/** How far `- ` sits right of its parent key in this file (0 = kustomize style, 2 = indented). */
function sequenceIndent(root: YAMLMap, text: string): number {
  for (const pair of root.items) {
    if (isPair(pair) && isSeq(pair.value) && !pair.value.flow && pair.value.range && isScalar(pair.key) && pair.key.range)
      return column(text, pair.value.range[0]) - column(text, pair.key.range[0])
  }
  return 0
}

function appendAtEnd(text: string, block: string): Edit {
  return insertLines(text, text.length, block)
}

/** Whole lines inserted at a line start; a missing final newline is supplied first. */
function insertLines(text: string, at: number, lines: string): Edit {
  return { start: at, end: at, text: (at > 0 && text[at - 1] !== '\n' ? '\n' : '') + lines }
}

function apply(text: string, edits: Edit[]): string {
  let out = text
  for (const e of [...edits].sort((a, b) => b.start - a.start || b.end - a.end)) out = out.slice(0, e.start) + e.text + out.slice(e.end)
  return out
}

function column(text: string, offset: number): number {
  return offset - startOfLine(text, offset)
}

function startOfLine(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1
}

/** Offset just past the newline ending the line that holds `offset` (or the end of the text). */
function endOfLine(text: string, offset: number): number {
  const nl = text.indexOf('\n', offset)
  return nl < 0 ? text.length : nl + 1
}

/** Node ends may run past trailing newlines and comments; step back to the last content character. */
function lastContent(text: string, end: number): number {
  let i = Math.min(end, text.length) - 1
  while (i > 0 && /\s/.test(text[i])) i--
  return i
}

// --- What the transformer does at build time -------------------------------------------------

const TAG_CHARS = '[A-Za-z0-9_.{}-]*'
const DIGEST_PART = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:${TAG_CHARS}`

/** Does kustomize's `images[].name` match this image string? (`name` is a raw, anchored regex.) */
export function kustomizeMatches(name: string, image: string): boolean {
  let re: RegExp
  try {
    re = new RegExp(`^${name}(:${TAG_CHARS})?(@${DIGEST_PART})?$`)
  } catch {
    return false
  }
  return re.test(image)
}

/** kustomize's split of an image string: ':' and '@' are only looked for after the first '/'. */
export function splitKustomizeImage(image: string): { name: string; tag: string; digest: string } {
  const slash = image.indexOf('/')
  const from = slash > 0 ? slash : 0
  const at = image.indexOf('@', from)
  const colon = image.indexOf(':', from)
  if (at >= 0 && (colon < 0 || at < colon)) return { name: image.slice(0, at), tag: '', digest: image.slice(at + 1) }
  if (colon < 0) return { name: image, tag: '', digest: '' }
  if (at < 0) return { name: image.slice(0, colon), tag: image.slice(colon + 1), digest: '' }
  return { name: image.slice(0, colon), tag: image.slice(colon + 1, at), digest: image.slice(at + 1) }
}

/** The image string one entry turns `image` into, or undefined when the entry does not match it. */
export function transformImage(entry: ImageEntry, image: string): string | undefined {
  if (!kustomizeMatches(entry.name, image)) return undefined
  let { name, tag, digest } = splitKustomizeImage(image)
  if (entry.newName) name = entry.newName
  if (entry.newTag && entry.digest) [tag, digest] = [entry.newTag, entry.digest]
  else if (entry.newTag) [tag, digest] = [entry.newTag, '']
  else if (entry.digest) [tag, digest] = ['', entry.digest]
  else if (entry.tagSuffix) [tag, digest] = [tag + entry.tagSuffix, '']
  return name + (tag ? `:${tag}` : '') + (digest ? `@${digest}` : '')
}

/** Regex characters in a name make kustomize match more (or less) than the literal string. */
export function nameRegexWarning(name: string): string | undefined {
  return /[\\^$*+?()[\]{}|]/.test(name)
    ? `images entry name '${name}' contains regex characters; kustomize reads the name as a regular expression`
    : undefined
}
