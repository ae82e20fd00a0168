// Loads the `manifests` input: files, directories and globs → one Manifest per Kubernetes
// object, each remembering the file and line it came from so errors, policy findings and
// annotations can point at it. Parsing is pure (parseManifests); only expandEntries touches disk.
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import * as glob from '@actions/glob'
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Node, type YAMLError } from 'yaml'
import { DeployError } from '../errors.js'
import { assertNoDuplicates, checkObject } from './check.js'
import type { Manifest } from './types.js'

const YAML_FILE = /\.ya?ml$/i
const GLOB_CHARS = /[*?[\]{}]/

/** Reads every entry of the `manifests` input and returns its objects, duplicates rejected. */
export async function loadManifests(entries: string[], cwd = process.cwd()): Promise<Manifest[]> {
  const files = await expandEntries(entries, cwd)
  const manifests: Manifest[] = []
  for (const file of files) {
    const text = await fs.readFile(path.resolve(cwd, file), 'utf8')
    manifests.push(...parseManifests(text, file))
  }
  assertNoDuplicates(manifests)
  return manifests
}

/**
 * Entries → file paths (relative to cwd when inside it, so annotations get repository paths).
 * A file is taken as is, a directory contributes its *.yaml/*.yml recursively, anything else
 * is a glob; an entry that yields nothing is an error, never silently skipped.
 */
export async function expandEntries(entries: string[], cwd: string): Promise<string[]> {
  const seen = new Set<string>()
  const out: string[] = []
  const add = (abs: string): void => {
    const rel = path.relative(cwd, abs)
    const shown = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs
    if (!seen.has(shown)) {
      seen.add(shown)
      out.push(shown)
    }
  }
  for (const entry of entries) {
    const abs = path.resolve(cwd, entry)
    const stat = await fs.stat(abs).catch(() => undefined)
    if (stat?.isFile()) {
      add(abs)
    } else if (stat?.isDirectory()) {
      const found = (await listYaml(abs)).sort()
      if (!found.length) throw new DeployError(`directory '${entry}' has no .yaml or .yml files`, { input: 'manifests' })
      found.forEach(add)
    } else if (GLOB_CHARS.test(entry)) {
      const globber = await glob.create(path.isAbsolute(entry) ? entry : path.join(cwd, entry), { matchDirectories: false })
      const found = (await globber.glob()).filter(f => YAML_FILE.test(f)).sort()
      if (!found.length) throw new DeployError(`'${entry}' matches no .yaml or .yml file`, { input: 'manifests' })
      found.forEach(add)
    } else {
      throw new DeployError(`'${entry}' does not exist`, { input: 'manifests' })
    }
  }
  return out
}

async function listYaml(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await listYaml(full)))
    else if (entry.isFile() && YAML_FILE.test(entry.name)) out.push(full)
  }
  return out
}

/**
 * One YAML stream → its objects. Empty documents (comments only, a trailing `---`) are
 * dropped; `kind: List` (and `*List` with items) is expanded; the first bad document stops
 * the load with file:line:column.
 */
export function parseManifests(text: string, file: string): Manifest[] {
  const counter = new LineCounter()
  const docs = parseAllDocuments(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true })
  const out: Manifest[] = []
  // A stream that is only comments parses to an empty list, not an error.
  for (const doc of Array.isArray(docs) ? docs : []) {
    if (doc.errors.length) throw yamlFailure(doc.errors[0], counter, file)
    const root = doc.contents
    if (root === null || (isScalar(root) && root.value === null)) continue
    const line = counter.linePos(root.range[0]).line
    if (!isMap(root)) throw new DeployError('document is not a mapping (a Kubernetes object)', { file, line })
    const value = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>
    const lines = nodeLines(root, counter)
    const items = value.items
    if (typeof value.kind === 'string' && /List$/.test(value.kind) && Array.isArray(items)) {
      items.forEach((item, i) => {
        const prefix = `items.${i}.`
        const itemLines: Record<string, number> = {}
        for (const [key, l] of Object.entries(lines)) if (key.startsWith(prefix)) itemLines[key.slice(prefix.length)] = l
        const itemLine = lines[`items.${i}`] ?? line
        out.push({ object: checkObject(item, { file, line: itemLine }), origin: { file, line: itemLine, lines: itemLines } })
      })
      continue
    }
    out.push({ object: checkObject(value, { file, line }), origin: { file, line, lines } })
  }
  return out
}

/** A yaml parse error as one line at file:line:column (the library's own "at line" and code frame dropped). */
export function yamlFailure(error: YAMLError, counter: LineCounter, file: string): DeployError {
  const { line, col } = counter.linePos(error.pos[0])
  const message = error.message.split(/ at line \d+, column \d+/)[0].split('\n')[0].trim()
  return new DeployError(`invalid YAML: ${message}`, { file, line, column: col })
}

/** Dotted path → 1-based line for every mapping value and sequence item below the root. */
function nodeLines(root: Node, counter: LineCounter): Record<string, number> {
  const lines: Record<string, number> = {}
  const walk = (node: unknown, at: string): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key) || !pair.key.range) continue
        const key = at ? `${at}.${String(pair.key.value)}` : String(pair.key.value)
        lines[key] = counter.linePos(pair.key.range[0]).line
        walk(pair.value, key)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const key = at ? `${at}.${i}` : String(i)
        const range = (item as Node | null)?.range
        if (range) lines[key] = counter.linePos(range[0]).line
        walk(item, key)
      })
    }
  }
  walk(root, '')
  return lines
}
