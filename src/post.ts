// Post step: finish what the main step could not (it was cancelled, killed or timed out) from the
// state it saved: the GitHub Deployment's final status, the environment's deploy lock, and the
// registry login on the runner. It never fails the job.
import * as core from '@actions/core'
import * as github from '@actions/github'
import { logout } from './image/registry.js'
import { readSettings } from './inputs.js'
import { loadKubeConfig } from './kube/client.js'
import { LOCK_STATE, releaseLock } from './kube/lock.js'
import { DEPLOYMENT_STATE } from './report/deployments.js'
import { apiLine, runUrl } from './report/github.js'
import { githubClient } from './report/octokit.js'

/** What main saved about a Deployment it started and could not finish. */
interface SavedDeployment {
  id: number
  environment: string
  /** the decided state, when main got that far */
  state?: 'success' | 'failure' | 'inactive'
  description?: string
}

export async function post(): Promise<void> {
  try {
    const registry = core.getState('docker-logout')
    if (registry) await logout(registry)
  } catch (err) {
    core.warning(`cleanup: registry logout failed: ${(err as Error).message}`)
  }
  await finishDeployment()
  try {
    // The main step clears this state when it releases the lock itself.
    if (core.getState(LOCK_STATE) && (await releaseLock(loadKubeConfig(readSettings())))) core.info('Released the deploy lock')
  } catch (err) {
    core.warning(`cleanup: deploy lock not released: ${(err as Error).message}`)
  }
}

/** A Deployment main left in_progress gets its final status: the one main decided, else failure. */
async function finishDeployment(): Promise<void> {
  const text = core.getState(DEPLOYMENT_STATE)
  if (!text) return
  let saved: SavedDeployment
  try {
    saved = JSON.parse(text) as SavedDeployment
  } catch {
    return
  }
  try {
    const token = core.getInput('github-token')
    if (!token || !process.env.GITHUB_REPOSITORY) return
    const ctx = github.context
    const state = saved.state ?? 'failure'
    const description = (saved.description ?? 'the run ended before it reported (cancelled or killed)').replace(/\s+/g, ' ').slice(0, 140)
    await githubClient(token).rest.repos.createDeploymentStatus({ ...ctx.repo, deployment_id: saved.id, state, log_url: runUrl(ctx), description })
    core.info(`GitHub Deployment ${saved.id} (${saved.environment}) marked ${state}`)
  } catch (err) {
    core.warning(`cleanup: GitHub Deployment ${saved.id} left in progress (${apiLine(err)})`)
  }
}
