// The pipeline: inputs → image → manifests → deliver → rollout (strategy) → report.
// Each stage runs in its own log group; whatever happens, outputs and the report are written.
import * as core from '@actions/core'
import { describeError } from './errors.js'
import { readSettings, type Settings } from './inputs.js'
import { prepareImage } from './image/index.js'
import { type DeployReport, newReport } from './report/model.js'

export async function run(): Promise<void> {
  const report = newReport({ environment: core.getInput('environment') || 'production', mode: 'deploy', strategy: 'rolling' })
  let settings: Settings | undefined
  try {
    settings = readSettings()
    Object.assign(report, { environment: settings.environment, mode: settings.mode, strategy: settings.strategy })
    report.commit = process.env.GITHUB_SHA
    report.runUrl = runUrl()
    const s = settings
    await core.group('Image', () => prepareImage(s, buildContext(), report))
  } catch (err) {
    report.status = report.rollback.length ? 'rolled-back' : 'failed'
    report.error = describeError(err)
    if (err instanceof Error && err.stack) core.debug(err.stack)
    core.setFailed(report.error)
  } finally {
    report.endedAt = new Date().toISOString()
    setOutputs(report)
  }
}

function buildContext(): { sha?: string; sourceUrl?: string } {
  const { GITHUB_SHA, GITHUB_SERVER_URL, GITHUB_REPOSITORY } = process.env
  return { sha: GITHUB_SHA, sourceUrl: GITHUB_REPOSITORY ? `${GITHUB_SERVER_URL ?? 'https://github.com'}/${GITHUB_REPOSITORY}` : undefined }
}

function runUrl(): string | undefined {
  const { GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID } = process.env
  return GITHUB_REPOSITORY && GITHUB_RUN_ID ? `${GITHUB_SERVER_URL ?? 'https://github.com'}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}` : undefined
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
