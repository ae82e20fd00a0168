// GitHub Deployments for the environment: created at the start of a deploy (in_progress), finished
// with success or failure plus environment_url and log_url, made inactive when a preview is
// cleaned up. Needs 'deployments: write'; every function here is safe to await without a try:
// a refusal becomes one warning and the deploy goes on.
import * as core from '@actions/core'
import type { DeployReport } from './model.js'
import { apiLine, type GitHubContext, type Octokit } from '../github.js'

export interface DeploymentHandle {
  id: number
  environment: string
}

/** GitHub allows 140 characters in a status description. */
const DESCRIPTION = 140

function short(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim()
  return line.length > DESCRIPTION ? `${line.slice(0, DESCRIPTION - 1)}…` : line
}

/**
 * Creates the deployment (ref = the commit, no auto-merge, no required status contexts;
 * transient for previews) and marks it in_progress. Undefined when GitHub refused.
 */
export async function startDeployment(
  octokit: Octokit,
  ctx: GitHubContext,
  opts: { environment: string; transient: boolean; logUrl: string; url?: string }
): Promise<DeploymentHandle | undefined> {
  try {
    const res = await octokit.rest.repos.createDeployment({
      ...ctx.repo,
      ref: ctx.sha,
      environment: opts.environment,
      auto_merge: false,
      required_contexts: [],
      transient_environment: opts.transient,
      production_environment: !opts.transient && opts.environment === 'production',
      description: short(`kube-ship ${ctx.sha.slice(0, 7)} to ${opts.environment}`)
    })
    // 202 means GitHub merged the default branch instead of deploying; auto_merge:false avoids it
    if (!('id' in res.data)) throw new Error(res.data.message ?? 'no deployment created')
    const handle = { id: res.data.id, environment: opts.environment }
    await octokit.rest.repos.createDeploymentStatus({
      ...ctx.repo,
      deployment_id: handle.id,
      state: 'in_progress',
      log_url: opts.logUrl,
      ...(opts.url ? { environment_url: opts.url } : {}),
      description: 'Deploying'
    })
    return handle
  } catch (err) {
    core.warning(`GitHub Deployment for ${opts.environment} not recorded (${apiLine(err)}); grant 'deployments: write' to record it`)
    return undefined
  }
}

/** The deployment status a finished report maps to. */
export function deploymentState(report: DeployReport): 'success' | 'failure' | 'inactive' {
  if (report.deploymentState) return report.deploymentState
  if (report.status === 'succeeded') return 'success'
  if (report.status === 'cleaned-up') return 'inactive'
  return 'failure'
}

/** Final status of a deployment started with startDeployment. False when GitHub refused. */
export async function finishDeployment(
  octokit: Octokit,
  ctx: GitHubContext,
  handle: DeploymentHandle,
  report: DeployReport,
  logUrl: string
): Promise<boolean> {
  const state = deploymentState(report)
  const description = state === 'success' ? `Deployed ${report.image?.digest.slice(0, 19) ?? ctx.sha.slice(0, 7)}` : (report.error ?? report.status)
  try {
    await octokit.rest.repos.createDeploymentStatus({
      ...ctx.repo,
      deployment_id: handle.id,
      state,
      log_url: logUrl,
      ...(report.url && state === 'success' ? { environment_url: report.url } : {}),
      description: short(description)
    })
    return true
  } catch (err) {
    core.warning(`GitHub Deployment ${handle.id} (${handle.environment}) left in progress (${apiLine(err)})`)
    return false
  }
}

/**
 * Marks every deployment of the environment that is not inactive yet as inactive (a transient
 * environment then shows as destroyed). Returns how many were changed; 0 when GitHub refused.
 */
export async function deactivateEnvironment(octokit: Octokit, ctx: GitHubContext, environment: string, logUrl: string): Promise<number> {
  try {
    const deployments = await octokit.paginate(octokit.rest.repos.listDeployments, { ...ctx.repo, environment, per_page: 100 })
    let changed = 0
    for (const d of deployments) {
      const { data: statuses } = await octokit.rest.repos.listDeploymentStatuses({ ...ctx.repo, deployment_id: d.id, per_page: 1 })
      if (statuses[0]?.state === 'inactive') continue
      await octokit.rest.repos.createDeploymentStatus({
        ...ctx.repo,
        deployment_id: d.id,
        state: 'inactive',
        log_url: logUrl,
        description: 'Preview removed'
      })
      changed++
    }
    return changed
  } catch (err) {
    core.warning(`GitHub Deployments of ${environment} not marked inactive (${apiLine(err)})`)
    return 0
  }
}
