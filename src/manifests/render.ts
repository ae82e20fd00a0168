// Kustomize I/O: find an overlay's kustomization file and render the overlay with the real
// kustomize (`kustomize build`, else `kubectl kustomize`). Rendered objects point at the
// overlay's kustomization file, line 1: kustomize's output carries no per-file positions.
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { DeployError, oneLine } from '../errors.js'
import { runProgram } from '../process.js'
import { KUSTOMIZATION_FILES } from './kustomize.js'
import { parseManifests } from './load.js'
import type { Manifest } from './types.js'

/** The overlay's kustomization file; exactly one of the names kustomize accepts must exist. */
export async function findKustomization(dir: string, cwd = process.cwd()): Promise<string> {
  const abs = path.resolve(cwd, dir)
  const stat = await fs.stat(abs).catch(() => undefined)
  if (!stat?.isDirectory()) throw new DeployError(`overlay directory '${dir}' does not exist`, { input: 'kustomize' })
  // readdir, not stat: on a case-insensitive disk 'Kustomization' would also stat as present.
  const names = await fs.readdir(abs)
  const present = KUSTOMIZATION_FILES.filter(name => names.includes(name))
  if (!present.length) throw new DeployError(`overlay '${dir}' has no ${KUSTOMIZATION_FILES.join(', ')}`, { input: 'kustomize' })
  if (present.length > 1) throw new DeployError(`overlay '${dir}' has several kustomization files (${present.join(', ')}); keep one`, { input: 'kustomize' })
  return path.join(dir, present[0])
}

/** Which program renders: `kustomize build` when on PATH, else `kubectl kustomize`. */
export type Renderer = { file: string; args: string[] }

export const RENDERERS: Renderer[] = [
  { file: 'kustomize', args: ['build'] },
  { file: 'kubectl', args: ['kustomize'] }
]

/**
 * Runs kustomize on the overlay and parses its output; a failure is one line with kustomize's
 * own message. `dir` is shown as given and resolved against `cwd`.
 */
export async function renderOverlay(dir: string, cwd = process.cwd(), renderers: Renderer[] = RENDERERS): Promise<Manifest[]> {
  const file = await findKustomization(dir, cwd)
  let lastMissing = ''
  for (const r of renderers) {
    const result = await runProgram(r.file, [...r.args, path.resolve(cwd, dir)])
    if (result.missing) {
      lastMissing = r.file
      continue
    }
    if (result.code !== 0) {
      const message = shortKustomizeMessage(kustomizeMessage(result.stderr || result.stdout), cwd)
      throw new DeployError(`kustomize failed to render overlay '${dir}': ${message || `exit code ${result.code}`}`, { input: 'kustomize' })
    }
    return parseManifests(result.stdout, file).map(m => ({ object: m.object, origin: { file, line: 1, rendered: true } }))
  }
  throw new DeployError(`cannot render overlay '${dir}': neither kustomize nor kubectl is on PATH (last tried ${lastMissing})`, {
    input: 'kustomize'
  })
}

/**
 * kustomize's own message from its stderr: `Error: …` from kustomize, or kubectl's klog line
 * `E1125 … run.go:72] "command failed" err="…"` with the quoted message unescaped.
 */
export function kustomizeMessage(stderr: string): string {
  stderr = stderr.trim()
  const klog = /"command failed" err="((?:[^"\\]|\\.)*)"/.exec(stderr)
  if (klog) {
    try {
      return oneLine(JSON.parse(`"${klog[1]}"`) as string)
    } catch {
      return oneLine(klog[1])
    }
  }
  return oneLine(stderr).replace(/^(error|Error): /, '')
}

/** Pure: every absolute path in the text, shown relative to `root` (the workspace). */
export function relativePaths(text: string, root: string): string {
  return text.replace(/(?<![\w:/.~-])\/[^\s'",;]+/g, p => {
    const tail = /[:.)\]]+$/.exec(p)?.[0] ?? ''
    const abs = tail ? p.slice(0, -tail.length) : p
    return (path.relative(root, abs) || '.') + tail
  })
}

/**
 * Pure: kustomize's message as one short line with workspace-relative paths. A long message is
 * kustomize's chain of "accumulating resources from …" wrappers, each repeating the paths of the
 * one inside; what people need is the innermost resource and the final cause.
 */
export function shortKustomizeMessage(message: string, root: string, max = 300): string {
  const line = relativePaths(oneLine(message), root)
  if (line.length <= max) return line
  const from = [...line.matchAll(/accumulating resources from '([^']+)'/g)].at(-1)?.[1]
  const cause = line.split(/:\s+/).filter(Boolean).slice(-2).join(': ')
  const short = `${from ? `resource '${from}': ` : ''}${cause}`
  return short.length <= max ? short : `${short.slice(0, max - 1)}…`
}
