// Post step: finish what the main step could not (it was cancelled, killed or timed out) from the
// state it saved (src/state.ts): the registry login on the runner, the GitHub Deployment's final
// status, the environment's deploy lock. It never fails the job. Each piece of work loads its own
// code only when its state is there: most post steps have nothing to do and load no client.
import * as core from '@actions/core'
import { state } from './state.js'

export async function post(): Promise<void> {
  try {
    const registry = state.registryLogout()
    if (registry) await (await import('./image/registry.js')).logout(registry)
  } catch (err) {
    core.warning(`cleanup: registry logout failed: ${(err as Error).message}`)
  }
  await finishDeployment()
  try {
    // The main step clears this state when it releases the lock itself.
    if (state.lock()) {
      const [{ readSettings }, { loadKubeConfig }, { releaseLock }] = await Promise.all([import('./inputs.js'), import('./kube/client.js'), import('./kube/lock.js')])
      if (await releaseLock(loadKubeConfig(readSettings()))) core.info('Released the deploy lock')
    }
  } catch (err) {
    core.warning(`cleanup: deploy lock not released: ${(err as Error).message}`)
  }
}

/** A Deployment main left in_progress gets its final status: the one main decided, else failure. */
async function finishDeployment(): Promise<void> {
  const saved = state.deployment()
  const token = core.getInput('github-token')
  if (!saved || !token || !process.env.GITHUB_REPOSITORY) return
  const { apiLine, runUrl } = await import('./github.js')
  try {
    const [github, { githubClient }] = await Promise.all([import('@actions/github'), import('./report/octokit.js')])
    const ctx = github.context
    const deploymentState = saved.state ?? 'failure'
    const description = (saved.description ?? 'the run ended before it reported (cancelled or killed)').replace(/\s+/g, ' ').slice(0, 140)
    await githubClient(token).rest.repos.createDeploymentStatus({ ...ctx.repo, deployment_id: saved.id, state: deploymentState, log_url: runUrl(ctx), description })
    core.info(`GitHub Deployment ${saved.id} (${saved.environment}) marked ${deploymentState}`)
  } catch (err) {
    core.warning(`cleanup: GitHub Deployment ${saved.id} left in progress (${apiLine(err)})`)
  }
}
