// docker buildx build: the argument list is decided here from Settings (pure), the run and the
// metadata file are read in buildImage. The digest comes from buildx's --metadata-file, which
// holds the registry's manifest digest after a push (containerimage.digest).
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import * as core from '@actions/core'
import type { Settings } from '../inputs.js'
import { DeployError } from '../errors.js'
import { type AttestContext, attestPlan } from './attest.js'
import { probeBuilder } from './builder.js'
import { type ImageRef, repository } from './reference.js'
import { lastErrorLine } from './tool-output.js'
import { runProgram } from '../process.js'

export interface BuildPlan {
  args: string[]
  tags: string[]
  /** `secrets` values to write (mode 0600) before buildx runs; argv names only their paths */
  secretFiles: { path: string; value: string }[]
}

export interface BuildContext extends Partial<AttestContext> {
  /** commit the image is built from */
  sha?: string
  /** https://github.com/owner/repo, for the OCI source label */
  sourceUrl?: string
}

/**
 * The buildx argv for one build; metadataFile receives buildx's JSON, attest holds the
 * --provenance/--sbom flags attest.ts chose (by default provenance off: one manifest). Build secrets go as
 * `--secret id=ID,src=FILE`: a `secrets` value is written to a file in secretDir (never put on
 * the command line, which the log echoes and `ps` shows), a `secret-files` path is passed as is.
 */
export function buildPlan(s: Settings, image: ImageRef, ctx: BuildContext, metadataFile: string, attest = ['--provenance=false'], secretDir = path.dirname(metadataFile)): BuildPlan {
  const tags = s.tags.length ? s.tags : ctx.sha ? [ctx.sha.slice(0, 7)] : []
  if (!tags.length) throw new DeployError('no tag to push: give tags, or run where GITHUB_SHA is set', { input: 'tags' })
  const repo = repository(image)
  const labels = [
    ...(ctx.sourceUrl ? [`org.opencontainers.image.source=${ctx.sourceUrl}`] : []),
    ...(ctx.sha ? [`org.opencontainers.image.revision=${ctx.sha}`] : []),
    ...s.labels
  ]
  const args = ['buildx', 'build', '--metadata-file', metadataFile]
  if (s.builder) args.push('--builder', s.builder)
  args.push(...attest)
  if (s.file) args.push('--file', s.file)
  for (const a of s.buildArgs) args.push('--build-arg', a)
  if (s.network) args.push('--network', s.network)
  const secretFiles: BuildPlan['secretFiles'] = []
  s.buildSecrets.forEach((secret, i) => {
    let src: string
    if ('file' in secret) src = path.resolve(secret.file)
    else {
      src = path.join(secretDir, `secret-${i}`)
      secretFiles.push({ path: src, value: secret.value })
    }
    args.push('--secret', `id=${secret.id},src=${src}`)
  })
  if (s.platforms.length) args.push('--platform', s.platforms.join(','))
  for (const t of tags) args.push('--tag', `${repo}:${t}`)
  for (const l of labels) args.push('--label', l)
  for (const c of s.cacheFrom) args.push('--cache-from', c)
  for (const c of s.cacheTo) args.push('--cache-to', c)
  if (s.push) args.push('--push')
  args.push(s.context)
  return { args, tags, secretFiles }
}

/** containerimage.digest from buildx's metadata JSON; the error says why there is none. */
export function digestFromMetadata(json: string, pushed: boolean): string {
  let meta: Record<string, unknown>
  try {
    meta = JSON.parse(json) as Record<string, unknown>
  } catch {
    throw new DeployError('buildx wrote no readable metadata file, so the pushed digest is unknown')
  }
  const digest = meta['containerimage.digest']
  if (typeof digest === 'string' && /^sha256:[a-f0-9]{64}$/.test(digest)) return digest
  throw new DeployError(
    pushed
      ? 'buildx pushed nothing it reported a digest for (no containerimage.digest in its metadata); check the build exported an image'
      : "push is false, so nothing was pushed and there is no digest to deploy; set push: true or pass 'digest'",
    { input: pushed ? undefined : 'push' }
  )
}

/** Checks the paths before buildx so a typo names the input instead of a buildx trace. */
export function checkBuildPaths(s: Settings): void {
  if (!fs.existsSync(s.context) || !fs.statSync(s.context).isDirectory())
    throw new DeployError(`build context '${s.context}' is not a directory`, { input: 'context' })
  const file = s.file ?? path.join(s.context, 'Dockerfile')
  if (!fs.existsSync(file)) throw new DeployError(`Dockerfile '${file}' does not exist`, { input: s.file ? 'file' : 'context' })
  for (const secret of s.buildSecrets)
    if ('file' in secret && !(fs.existsSync(secret.file) && fs.statSync(secret.file).isFile()))
      throw new DeployError(`secret '${secret.id}': '${secret.file}' is not a file`, { input: 'secret-files' })
}

export interface Built {
  /** the pushed manifest's (or, with attestations, image index's) digest; absent when push is false */
  digest?: string
  tags: string[]
  /** attestations attached, e.g. "provenance (mode=max)" */
  attestations: string[]
}

/**
 * Builds (and pushes). The signal (the job's cancellation) stops buildx itself, not only the
 * wait for it: a cancelled job must not leave a build or a push running on the runner.
 */
export async function buildImage(s: Settings, image: ImageRef, ctx: BuildContext, signal?: AbortSignal): Promise<Built> {
  checkBuildPaths(s)
  const caps = await probeBuilder(s.builder)
  const attest = attestPlan(s.provenance, s.sbom, caps, { privateRepo: ctx.privateRepo ?? false, runUrl: ctx.runUrl })
  for (const w of attest.warnings) core.warning(w)
  if (attest.note) core.info(attest.note)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-build-'))
  const metadataFile = path.join(dir, 'metadata.json')
  const plan = buildPlan(s, image, ctx, metadataFile, attest.args)
  try {
    // mkdtemp made the directory 0700; each file is readable by this user only, and removed below
    for (const f of plan.secretFiles) fs.writeFileSync(f.path, f.value, { mode: 0o600 })
    const r = await runProgram('docker', plan.args, { stream: true, signal })
    if (signal?.aborted) throw signal.reason
    if (r.code !== 0) throw new DeployError(`docker buildx build failed: ${lastErrorLine(r.stderr)}`, { resource: repository(image) })
    if (!s.push) return { tags: plan.tags, attestations: attest.made }
    const json = fs.existsSync(metadataFile) ? fs.readFileSync(metadataFile, 'utf8') : ''
    return { digest: digestFromMetadata(json, s.push), tags: plan.tags, attestations: attest.made }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
