// The report stage: the DeployReport goes to the job summary, the GitHub Deployment and the sticky
// PR comment. beginReport runs before the deploy (the deployment shows in progress), publishReport
// at the end of every run, in `finally`. Neither throws: reporting never fails a deploy.
import * as core from '@actions/core'
import { describeError } from '../errors.js'
import { redact } from '../redact.js'
import type { Settings } from '../inputs.js'
import { deactivateEnvironment, finishDeployment, startDeployment, type DeploymentHandle } from './deployments.js'
import { runUrl, type GitHubContext, type Octokit } from '../github.js'
import { githubClient } from './octokit.js'
import { COMMENT_LIMIT, markerFor, renderReport, SUMMARY_LIMIT } from './markdown.js'
import type { DeployReport } from './model.js'
import { postComment } from './pr-comment.js'
import { writeSummary } from './summary.js'

export interface ReportContext {
  settings: Pick<Settings, 'comment' | 'githubToken' | 'preview' | 'mode'> & { githubDeployment?: boolean; commentLogs?: boolean }
  /** github.context from @actions/github */
  github: GitHubContext
  /** defaults to githubClient(settings.githubToken); tests pass one pointed at the stand-in */
  octokit?: Octokit
}

export interface ReportSession {
  deployment?: DeploymentHandle
}

export interface Published {
  commentId?: number
  deploymentId?: number
  summaryWritten: boolean
}

function octokitFor(ctx: ReportContext): Octokit | undefined {
  if (ctx.octokit) return ctx.octokit
  if (!ctx.settings.githubToken) return undefined
  return (ctx.octokit = githubClient(ctx.settings.githubToken))
}

/** Before the deploy: a GitHub Deployment in progress for `environment` (mode deploy only). */
export async function beginReport(environment: string, ctx: ReportContext, url?: string): Promise<ReportSession> {
  try {
    const octokit = octokitFor(ctx)
    if (!octokit || ctx.settings.mode !== 'deploy' || ctx.settings.githubDeployment === false) return {}
    const deployment = await startDeployment(octokit, ctx.github, { environment, transient: ctx.settings.preview, logUrl: runUrl(ctx.github), url })
    return { deployment }
  } catch (err) {
    core.warning(`GitHub Deployment not started: ${describeError(err)}`)
    return {}
  }
}

/**
 * After the run, success or failure: job summary, deployment status (or inactive after a
 * cleanup), sticky PR comment, and the `comment-id` output.
 */
export async function publishReport(report: DeployReport, ctx: ReportContext, session: ReportSession = {}): Promise<Published> {
  report.runUrl ??= runUrl(ctx.github)
  const published: Published = { summaryWritten: false }
  try {
    published.summaryWritten = await writeSummary(renderReport(report, { limit: SUMMARY_LIMIT }))
    const octokit = octokitFor(ctx)
    if (!octokit) {
      core.info('No github-token: the report is in the job summary only')
      return published
    }
    const logUrl = report.runUrl
    // github-deployment: false leaves deployments to the job's `environment:` key
    const deployments = ctx.settings.githubDeployment !== false
    if (deployments && report.mode === 'cleanup') {
      await deactivateEnvironment(octokit, ctx.github, report.environment, logUrl)
    } else if (deployments && report.mode === 'deploy') {
      const deployment =
        session.deployment ?? (await startDeployment(octokit, ctx.github, { environment: report.environment, transient: ctx.settings.preview, logUrl }))
      if (deployment && (await finishDeployment(octokit, ctx.github, deployment, report, logUrl))) published.deploymentId = deployment.id
    }
    // Known secrets are replaced after rendering: the runner masks only its own log.
    const body = redact(renderReport(report, { limit: COMMENT_LIMIT, marker: markerFor(report.environment), logs: ctx.settings.commentLogs === true }))
    published.commentId = await postComment(octokit, ctx.github, { mode: ctx.settings.comment, environment: report.environment, body })
    if (published.commentId !== undefined) core.setOutput('comment-id', String(published.commentId))
  } catch (err) {
    core.warning(`report not fully published: ${describeError(err)}`)
  }
  return published
}
