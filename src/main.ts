// The pipeline: inputs → image (build, verify) → manifests (kustomize | plain | chart) → lock →
// deliver (diff, or hooks + the strategy's plan: apply, wait, gates, rollback) → write-back →
// report. Each stage runs in its own log group and records facts; status.ts decides the status
// once, at the end. Whatever happens, the lock is released, the report is published and the
// outputs are written.
import * as path from 'node:path'
import * as core from '@actions/core'
import type { KubeConfig } from '@kubernetes/client-node'
import { CancelledError, DeadlineError, DeployError, describeError } from './errors.js'
import { decideStatus } from './status.js'
import { state } from './state.js'
import { readSettings, type Settings } from './inputs.js'
import { prepareImage, type ImageResult } from './image/index.js'
import type { BuildContext } from './image/build.js'
import type { ManifestsResult } from './manifests/index.js'
import type { LockHandle } from './kube/lock.js'
import { previewManifests, resolvePreview, withPreview, type Preview } from './preview/index.js'
import type { ReportContext, ReportSession } from './report/index.js'
import { runUrl, type GitHubContext } from './github.js'
import { renderReport, SUMMARY_LIMIT } from './report/markdown.js'
import { writeSummary } from './report/summary.js'
import { type DeployReport, newReport } from './report/model.js'
// The stages after the image are imported where they run (`await import`): a run that fails at
// its first docker command never loads the Kubernetes client, YAML or Octokit (see
// bench/cold-start.mjs).

/** Stages of the run, as a deadline error names them (deliver is 'rollout' to people). */
type Stage = 'image' | 'manifests' | 'lock' | 'rollout' | 'write-back' | 'cleanup'

export async function runPipeline(): Promise<void> {
  const report = newReport({ environment: core.getInput('environment') || 'production', mode: 'deploy', strategy: 'rolling' })
  report.commit = process.env.GITHUB_SHA
  const gh = await githubContext()
  report.runUrl = gh && runUrl(gh)
  const cancel = cancellation()
  let reportCtx: ReportContext | undefined
  let session: ReportSession = {}
  let lock: { kc: KubeConfig; handle: LockHandle } | undefined
  let deadline: Deadline | undefined
  // Facts for the one status decision (src/status.ts).
  const facts = { completed: false, failed: false, delivered: false, rolledBack: false }
  // A rollback a cancelled stage left for after the report (rolling's; canary and blue-green
  // restore traffic in their own abort, which is quick).
  let deferred: ((signal: AbortSignal) => Promise<void>) | undefined
  let stage: Stage = 'image'
  try {
    const settings = readSettings()
    Object.assign(report, { environment: settings.environment, mode: settings.mode, strategy: settings.strategy, url: settings.environmentUrl })
    reportCtx = gh ? { settings, github: gh } : undefined
    const preview = settings.preview ? applyPreview(settings, report, gh) : undefined

    if (settings.mode === 'cleanup') {
      stage = 'cleanup'
      deadline = new Deadline(settings.timeoutMs, () => stage)
      await cleanup(settings, report, preview, AbortSignal.any([deadline.signal, cancel.signal]))
      facts.completed = true
      return
    }
    // A write-back bound to fail (no work tree, branch or token) fails the run before the deploy.
    if (settings.mode === 'deploy' && settings.writeBack !== 'none') await (await import('./gitops/writeback.js')).checkWriteBack(await writeBackTarget(settings))

    // The build honours cancellation: buildx (or cosign) is stopped, and the run reports.
    const image = await untilAborted(core.group('Image', () => prepareImage(settings, buildContext(gh), report, cancel.signal)), cancel.signal)
    if (!settings.kustomize.length && !settings.manifests.length && !settings.chart) {
      if (settings.mode !== 'deploy' || settings.strategy !== 'rolling') throw new DeployError(`mode ${settings.mode} with strategy ${settings.strategy} needs manifests`, { input: 'kustomize' })
      core.info(`No kustomize or manifests input: the image is ${settings.push ? 'pushed' : 'built'} and nothing is deployed`)
      facts.completed = true
      return
    }

    // The deadline covers everything after the build: a slow build must not eat the rollout's time.
    stage = 'manifests'
    deadline = new Deadline(settings.timeoutMs, () => stage)
    const signals = [deadline.signal, cancel.signal]
    let signal = AbortSignal.any(signals)
    if (reportCtx) {
      session = await (await import('./report/index.js')).beginReport(report.environment, reportCtx, report.url)
      if (session.deployment) state.saveDeployment(session.deployment)
    }

    const { renderManifests } = await import('./manifests/index.js')
    // A chart renders against the cluster: its capabilities, and install or upgrade.
    const rendered = await core.group('Manifests', async () => renderManifests(settings, image, settings.chart ? { chart: await chartCluster(settings, signal) } : {}))
    if (rendered.chart) report.chart = { ...rendered.chart, hooks: [] }
    report.pinned = rendered.pinned
    report.warnings.push(...rendered.warnings)
    const documents = preview ? previewManifests(rendered.documents, preview) : rendered.documents
    // Secret values are masked in the log before anything can echo one
    ;(await import('./kube/diff.js')).registerSecretValues(documents.map(d => d.object))

    const { clientFor, loadKubeConfig } = await import('./kube/client.js')
    const kc = loadKubeConfig(settings)
    const namespace = settings.namespace || clientFor(kc).contextNamespace
    report.namespace = namespace
    if (preview) await (await import('./preview/confine.js')).confinePreview(kc, documents, preview)

    if (settings.mode === 'deploy' && settings.lock) {
      stage = 'lock'
      // The Lease lives in the target namespace, which a first deploy has yet to create.
      await (await import('./kube/apply.js')).ensureNamespace(clientFor(kc), namespace, signal)
      const { acquireLock } = await import('./kube/lock.js')
      const handle = await core.group('Lock', () => acquireLock(kc, { environment: report.environment, namespace, waitMs: Math.min(settings.timeoutMs / 2, 300_000), signal }))
      lock = { kc, handle }
      // A run that can no longer prove it holds the lock stops before its next write.
      if (handle.lost) signal = AbortSignal.any([...signals, handle.lost])
    }

    // Prune's ApplySet: the parent records every group-kind before a member is applied; members are labelled.
    const applySet = settings.prune ? await (await import('./kube/prune.js')).openApplySet(kc, { environment: report.environment, namespace, documents, write: settings.mode === 'deploy', allow: settings.pruneAllow, signal }) : undefined

    stage = 'rollout'
    const { deliver } = await import('./deliver/index.js')
    const release = rendered.chart && { hooks: rendered.hooks, upgrade: rendered.chart.upgrade }
    const plan = await deliver(
      { kc, settings, documents: applySet?.documents ?? documents, report, signal, cancelled: cancel.signal, namespace, release, deferRollback: undo => void (deferred = undo) },
      facts
    )
    if (plan !== settings.strategy && plan !== 'diff') core.info(`Delivered with the ${plan} plan (strategy ${settings.strategy})`)
    // Only after the rollout and health gates passed (a failed or rolled-back run threw above).
    if (applySet) await core.group('Prune', () => applySet.prune(report, signal))

    stage = 'write-back'
    if (settings.mode === 'deploy' && settings.writeBack !== 'none' && image) {
      try {
        await core.group('Write-back', () => gitWriteBack(settings, image, rendered, report))
      } catch (err) {
        // The rollout was good: the cluster runs the new version, and the job says write-back failed.
        const why = err instanceof DeployError && err.place.input === 'write-back' ? err.message : describeError(err)
        throw new DeployError(`write-back failed after a good rollout (the cluster runs the new version): ${why}`, { input: 'write-back' })
      }
    }
    facts.completed = true
  } catch (err) {
    facts.failed = true
    report.error = errorLine(err, [cancel.signal, lock?.handle.lost, deadline?.signal])
    // Formatting a stack is work; only step debug logging shows it (mapped to src/, see index.ts).
    if (core.isDebug() && err instanceof Error && err.stack) core.debug(err.stack)
  } finally {
    // The signal handlers stay until the end: a default SIGTERM would end the process mid-report.
    deadline?.dispose()
    const mode = report.mode
    const decision = decideStatus({ mode, cancelled: cancel.signal.aborted, ...facts })
    report.status = decision.status
    report.deploymentState = decision.deployment
    if (decision.jobFails) core.setFailed(report.error ?? 'the run ended before a verdict')
    if (deferred) report.warnings.push('the job was cancelled: the rollback runs after this report (see the job log for its result)')
    report.endedAt = new Date().toISOString()
    // Cancelled: the runner kills the job ~10 s after its SIGINT, so the report goes out first.
    const published = reportCtx ? await (await import('./report/index.js')).publishReport(report, reportCtx, session) : (await writeSummary(renderReport(report, { limit: SUMMARY_LIMIT })), undefined)
    if (published?.deploymentId !== undefined || !session.deployment) state.saveDeployment(undefined)
    else state.saveDeployment({ ...session.deployment, state: decision.deployment, description: report.error ?? report.status })
    setOutputs(report)
    if (deferred) await core.group('Rollback', () => deferred!(AbortSignal.timeout(60_000))).catch(err => core.warning(`rollback after cancel: ${describeError(err)}`))
    if (lock) await (await import('./kube/lock.js')).releaseLock(lock.kc, lock.handle)
    cancel.dispose()
  }
}

/**
 * The one line for the error that ended the run. A deadline or a cancel that aborted the run
 * says so first (the errors it caused below it are its symptoms); a lost lock is its own line.
 */
function errorLine(err: unknown, causes: (AbortSignal | undefined)[]): string {
  const line = describeError(err)
  const cause = causes.find(c => c?.aborted)?.reason
  if (!(cause instanceof DeployError) || err === cause) return line
  const symptom = line.includes(cause.message) || /operation was aborted/i.test(line) ? '' : `; ${line}`
  return `${cause.line()}${symptom}`
}

/** The run's timeout as an AbortSignal whose reason names the stage it interrupted. */
class Deadline {
  private readonly controller = new AbortController()
  private readonly timer: NodeJS.Timeout
  constructor(ms: number, stage: () => Stage) {
    this.timer = setTimeout(() => {
      this.controller.abort(new DeadlineError(`the ${stage()} stage did not finish within ${formatDuration(ms)}`, { input: 'timeout' }))
    }, ms)
    this.timer.unref()
  }
  get signal(): AbortSignal {
    return this.controller.signal
  }
  dispose(): void {
    clearTimeout(this.timer)
  }
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000)
  if (seconds < 120) return `${seconds}s`
  return seconds % 60 ? `${Math.floor(seconds / 60)}m${seconds % 60}s` : `${seconds / 60}m`
}

/** Resolves as work does, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** What rendering a chart reads from the cluster before anything is applied. */
async function chartCluster(settings: Settings, signal: AbortSignal) {
  const { clientFor, loadKubeConfig } = await import('./kube/client.js')
  const { anyExists, clusterCapabilities } = await import('./kube/capabilities.js')
  const kc = loadKubeConfig(settings)
  const namespace = settings.namespace || clientFor(kc).contextNamespace
  return { namespace, capabilities: await clusterCapabilities(kc, signal), exists: (docs: ManifestsResult['documents']) => anyExists(kc, docs, namespace, signal) }
}

/** A preview deploy: the PR's own namespace, environment and URL replace the configured ones. */
function applyPreview(settings: Settings, report: DeployReport, gh: GitHubContext | undefined): Preview {
  if (!gh) throw new DeployError('a preview needs the GitHub event of a pull request (GITHUB_REPOSITORY and GITHUB_EVENT_PATH are not set)', { input: 'preview' })
  const preview = resolvePreview(settings, gh)
  Object.assign(settings, withPreview(settings, preview))
  Object.assign(report, { environment: preview.environment, namespace: preview.namespace, url: preview.url })
  return preview
}

async function cleanup(settings: Settings, report: DeployReport, preview: Preview | undefined, signal: AbortSignal): Promise<void> {
  if (!preview) throw new DeployError('mode cleanup removes a PR preview environment and needs preview: true', { input: 'mode' })
  const kc = (await import('./kube/client.js')).loadKubeConfig(settings)
  const { runCleanup } = await import('./preview/cleanup.js')
  const result = await core.group('Cleanup', () => runCleanup(kc, preview, report, { signal }))
  core.info(result.deleted ? `Deleted namespace ${result.namespace}` : `Namespace ${result.namespace} was already gone`)
}

/** Commits (or proposes) the patched overlays, so git says what runs. */
async function gitWriteBack(settings: Settings, image: ImageResult, rendered: ManifestsResult, report: DeployReport): Promise<void> {
  if (!rendered.overlays.length) return core.info('Write-back: no overlay changed')
  const target = await writeBackTarget(settings)
  const { writeBack } = await import('./gitops/writeback.js')
  const { setImage } = await import('./manifests/kustomize.js')
  const result = await writeBack({
    ...target,
    files: rendered.overlays.map(o => ({ path: path.resolve(target.repoDir, o.file), edit: (text: string) => setImage(text, o.edit, o.file).text })),
    image: image.pinnedRef,
    digest: image.digest,
    environment: report.environment
  })
  const pr = result.pullRequest ? `, pull request #${result.pullRequest.number} ${result.pullRequest.url}` : ''
  core.info(`Write-back: ${result.pushed ? `pushed ${result.commit.slice(0, 7)} to ${result.branch}` : `${result.branch} already has the digest`}${pr}`)
}

/** Where write-back goes: the checkout, and for pull-request mode the repository and token. */
async function writeBackTarget(settings: Settings): Promise<Pick<import('./gitops/writeback.js').WriteBackOptions, 'mode' | 'repoDir' | 'github'>> {
  const gh = await githubContext()
  return {
    mode: settings.writeBack as 'commit' | 'pull-request',
    repoDir: process.env.GITHUB_WORKSPACE ?? process.cwd(),
    github: settings.writeBack === 'pull-request' && gh && settings.githubToken ? { octokit: (await import('./report/octokit.js')).githubClient(settings.githubToken), ...gh.repo } : undefined
  }
}

/**
 * The runner sends SIGINT, SIGTERM ~7.5 s later, then kills; the first aborts the run so traffic
 * is made safe and the report goes out, the second is only noted.
 */
function cancellation(): AbortController & { dispose(): void } {
  const controller = new AbortController() as AbortController & { dispose(): void }
  const onSignal = (name: string) => () => {
    if (controller.signal.aborted) return core.info(`${name} received; still finishing the report and the rollback`)
    core.info(`${name} received: the job was cancelled; making traffic safe, then reporting`)
    controller.abort(new CancelledError(`the job was cancelled (${name})`))
  }
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') }
  for (const [sig, fn] of Object.entries(handlers)) process.on(sig, fn)
  controller.dispose = () => {
    for (const [sig, fn] of Object.entries(handlers)) process.off(sig, fn)
  }
  return controller
}

/** github.context when running under Actions; undefined elsewhere (e.g. a local run). */
async function githubContext(): Promise<GitHubContext | undefined> {
  return process.env.GITHUB_REPOSITORY ? (await import('@actions/github')).context : undefined
}

/** Labels and provenance defaults: the commit, the repository (and whether it is private), the run. */
function buildContext(gh: GitHubContext | undefined): BuildContext {
  const { GITHUB_SHA, GITHUB_SERVER_URL, GITHUB_REPOSITORY } = process.env
  const repository = gh?.payload.repository as { private?: boolean } | undefined
  return {
    sha: GITHUB_SHA,
    sourceUrl: GITHUB_REPOSITORY ? `${GITHUB_SERVER_URL ?? 'https://github.com'}/${GITHUB_REPOSITORY}` : undefined,
    privateRepo: repository?.private ?? false,
    runUrl: gh && runUrl(gh)
  }
}

function setOutputs(report: DeployReport): void {
  if (report.image) {
    core.setOutput('digest', report.image.digest)
    core.setOutput('image-ref', report.image.ref)
    core.setOutput('tags', report.image.tags.join(','))
  }
  core.setOutput('status', report.status)
  core.setOutput('rolled-back', String(report.status === 'rolled-back'))
  core.setOutput('resources', JSON.stringify(report.resources))
  if (report.namespace) core.setOutput('namespace', report.namespace)
  if (report.previousImage) core.setOutput('previous-image', report.previousImage)
  if (report.url) core.setOutput('url', report.url)
  if (report.strategy === 'canary') core.setOutput('canary-weight', String(report.canary.finalWeight))
  if (report.diff !== undefined) core.setOutput('diff', report.diff)
}
