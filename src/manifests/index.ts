// The Manifests stage: everything between "we have a digest" and "these objects go to the
// cluster". Plain manifests are loaded and pinned in memory; each Kustomize overlay gets its
// `images:` entry set to the digest in its kustomization file (on disk, so a GitOps write-back
// can commit it), then is rendered by the real kustomize. The combined objects are checked for
// duplicates and run through the policy preflight (enforce fails here, before any apply).
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import * as core from '@actions/core'
import { DeployError } from '../errors.js'
import type { Settings } from '../inputs.js'
import { familiarName, type ImageRef, isDigest, pinned, repository, sameRepository } from '../image/reference.js'
import { type Capabilities, type Hook, hookNames, renderChart } from './chart.js'
import { type ImageEntry, nameRegexWarning, readImages, setImage, splitKustomizeImage, type SetImage } from './kustomize.js'
import { assertNoDuplicates } from './check.js'
import { loadManifests } from './load.js'
import { type PinChange, pinImages } from './pin.js'
import { containersOf, podSpecs } from './pods.js'
import { type AnnotationSink, checkPolicy, coreSink, type Finding, reportPolicy } from './policy.js'
import { findKustomization, renderOverlay } from './render.js'
import { type Manifest, resourceName } from './types.js'

export interface OverlayChange {
  /** the kustomization file, as the user names it (relative to the workspace) */
  file: string
  before: string
  after: string
  /** the edit that produced `after`, to re-apply on a newer copy of the file (GitOps rebase) */
  edit: SetImage
}

export interface ManifestsResult {
  /** every object to apply: plain manifests (pinned) then each overlay's rendering, in input order */
  documents: Manifest[]
  pinned: PinChange[]
  /** kustomization files the stage rewrote (only those that changed) */
  overlays: OverlayChange[]
  /** already emitted as warnings; meant for the report */
  warnings: string[]
  findings: Finding[]
  /** chart hooks (pinned like the release), run by the deliver stage around the rollout */
  hooks: Hook[]
  /** what the chart input rendered, for the report */
  chart?: { name: string; version: string; release: string; source: string; values: string[]; upgrade: boolean }
}

export interface ManifestsOptions {
  /** where relative paths in `manifests` / `kustomize` start (default: the workspace, else cwd) */
  cwd?: string
  /** where warnings and policy annotations go (default @actions/core) */
  sink?: AnnotationSink
  /** what rendering a chart needs from the cluster: the release namespace, capabilities, whether the release exists */
  chart?: { namespace: string; capabilities?: Capabilities; exists?: (documents: Manifest[]) => Promise<boolean>; helm?: string }
}

export type ManifestSettings = Pick<Settings, 'kustomize' | 'manifests' | 'imageName' | 'policy'> & Partial<Pick<Settings, 'chart'>>

/**
 * Loads, pins, renders and checks. With `image` undefined (deploying what the manifests say)
 * nothing is pinned or rewritten. Throws DeployError for bad input and for `policy: enforce`
 * findings; warnings (nothing pinned, a name kustomize cannot match, policy in warn mode) are
 * emitted through the sink and returned.
 */
export async function renderManifests(
  settings: ManifestSettings,
  image: { ref: ImageRef; digest: string } | undefined,
  options: ManifestsOptions = {}
): Promise<ManifestsResult> {
  const cwd = options.cwd ?? process.env.GITHUB_WORKSPACE ?? process.cwd()
  const sink = options.sink ?? coreSink
  const warnings: string[] = []
  const warn = (message: string, file?: string): void => {
    warnings.push(message)
    sink.warning(message, file ? { file, startLine: 1 } : {})
  }
  if (image && !isDigest(image.digest)) throw new DeployError(`'${image.digest}' is not a sha256 digest`, { input: 'digest' })
  const to = image ? pinned(image.ref, image.digest) : undefined
  const names = image ? [...new Set([settings.imageName ?? repository(image.ref)])] : []

  const documents: Manifest[] = []
  const pinnedChanges: PinChange[] = []
  const overlays: OverlayChange[] = []
  let matched = 0

  if (settings.manifests.length) {
    const plain = await loadManifests(settings.manifests, cwd)
    if (to) {
      const result = pinImages(plain, names, to)
      documents.push(...result.documents)
      pinnedChanges.push(...result.changes)
      matched += result.matched
    } else documents.push(...plain)
  }

  for (const dir of settings.kustomize) {
    if (!image || !to) {
      documents.push(...(await renderOverlay(dir, cwd)))
      continue
    }
    const file = await findKustomization(dir, cwd)
    const before = await fs.readFile(path.resolve(cwd, file), 'utf8')
    const renderedBefore = await renderOverlay(dir, cwd)
    const edit = planEdit(settings.imageName, image.ref, image.digest, readImages(before), imagesOf(renderedBefore))
    const regex = nameRegexWarning(edit.name)
    if (regex) warn(`${file}: ${regex}`, file)
    const { text: after, changed } = setImage(before, edit, file)
    if (changed) {
      await fs.writeFile(path.resolve(cwd, file), after)
      overlays.push({ file, before, after, edit })
    }
    const rendered = await renderOverlay(dir, cwd)
    pinnedChanges.push(...imageChanges(renderedBefore, rendered))
    // What kustomize did not pin (its name match is exact, without normalisation) is pinned
    // here in memory, loudly: the deploy is right, but the committed overlay would not be.
    const fallback = pinImages(rendered, [...names, edit.name], to)
    matched += fallback.matched
    if (fallback.changes.length) {
      warn(
        `${file}: images entry '${edit.name}' did not match ${fallback.changes.map(c => `${c.resource} ${c.container} (${c.from})`).join(', ')}; ` +
          'kustomize matches the name exactly as written in the base, so they were pinned in memory only — set image-name to that name',
        file
      )
      pinnedChanges.push(...fallback.changes)
    } else if (!fallback.matched) {
      warn(`${file}: images entry '${edit.name}' matches no container image of overlay '${dir}' (images there: ${listImages(rendered)})`, file)
    }
    documents.push(...fallback.documents)
  }

  const hooks: Hook[] = []
  let chart: ManifestsResult['chart']
  if (settings.chart) {
    const c = settings.chart
    const rendered = await renderChart(c, { cwd, namespace: options.chart?.namespace ?? 'default', ...options.chart, log: line => core.info(line) })
    chart = { name: rendered.name, version: rendered.version, release: rendered.release, source: c.chart, values: c.values, upgrade: rendered.upgrade }
    core.info(`Chart ${rendered.name} ${rendered.version} as release ${rendered.release} (${rendered.upgrade ? 'upgrade' : 'install'}): ${rendered.documents.length} objects, ${rendered.hooks.length} hooks${rendered.hooks.length ? ` (${hookNames(rendered.hooks)})` : ''}`)
    // Hooks run the app's image too (a migration Job), so they are pinned like the release.
    const all = [...rendered.documents, ...rendered.hooks.map(h => h.manifest)]
    const result = to ? pinImages(all, names, to) : { documents: all, changes: [], matched: 0 }
    documents.push(...result.documents.slice(0, rendered.documents.length))
    rendered.hooks.forEach((h, i) => hooks.push({ ...h, manifest: result.documents[rendered.documents.length + i] }))
    pinnedChanges.push(...result.changes)
    matched += result.matched
  }

  if (to && !matched)
    warn(`nothing pinned: no container image in the manifests or overlays${settings.chart ? ' or chart' : ''} names ${names.map(n => `'${n}'`).join(' or ')}; set image-name to the name your manifests use`)

  assertNoDuplicates(documents)
  const findings = settings.policy === 'off' ? [] : checkPolicy(documents)
  warnings.push(...reportPolicy(settings.policy, findings, sink))
  return { documents, pinned: pinnedChanges, overlays, warnings, findings, hooks, ...(chart ? { chart } : {}) }
}

/**
 * Which `images:` entry to set, and whether it needs newName. The name is, in order:
 * image-name; an existing entry whose name or newName is the image's repository; the name the
 * overlay's containers use for that repository (kustomize matches it exactly as written);
 * Docker's short form of the repository.
 */
export function planEdit(imageName: string | undefined, ref: ImageRef, digest: string, entries: ImageEntry[], images: string[]): SetImage {
  const repo = repository(ref)
  const entry = imageName
    ? entries.find(e => e.name === imageName)
    : entries.find(e => sameRepository(e.name, repo) || (e.newName !== undefined && sameRepository(e.newName, repo)))
  const fromImages = images.map(i => splitKustomizeImage(i).name).find(n => sameRepository(n, repo))
  const name = imageName ?? entry?.name ?? fromImages ?? familiarName(ref)
  const keepNewName = entry?.newName !== undefined && sameRepository(entry.newName, repo)
  const newName = keepNewName || (sameRepository(name, repo) && !entry?.newName) ? undefined : familiarName(ref)
  return { name, digest, ...(newName ? { newName } : {}) }
}

/** Containers whose image changed between two renderings of one overlay. */
export function imageChanges(before: Manifest[], after: Manifest[]): PinChange[] {
  const old = new Map<string, string>()
  for (const { key, image } of containerImages(before)) old.set(key, image)
  const out: PinChange[] = []
  for (const { key, image, resource, container } of containerImages(after)) {
    const from = old.get(key)
    if (from !== undefined && from !== image) out.push({ resource, container, from, to: image })
  }
  return out
}

function containerImages(docs: Manifest[]): { key: string; image: string; resource: string; container: string }[] {
  const out: { key: string; image: string; resource: string; container: string }[] = []
  for (const { object } of docs) {
    for (const pod of podSpecs(object)) {
      for (const c of containersOf(pod)) {
        if (typeof c.container.image !== 'string') continue
        const resource = resourceName(object)
        out.push({ key: `${object.apiVersion}|${resource}|${c.path}`, image: c.container.image, resource, container: `${c.container.name ?? '?'}${c.init ? ' (init)' : ''}` })
      }
    }
  }
  return out
}

function imagesOf(docs: Manifest[]): string[] {
  return containerImages(docs).map(c => c.image)
}

function listImages(docs: Manifest[]): string {
  const images = [...new Set(imagesOf(docs))].sort()
  return images.length ? images.join(', ') : 'none'
}

/** The `resources` output: kind/namespace/name of every object, in apply order. */
export function resourcesOutput(documents: Manifest[]): string {
  return JSON.stringify(
    documents.map(({ object }) => ({
      kind: object.kind,
      ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
      name: object.metadata.name
    }))
  )
}
