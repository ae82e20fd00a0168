// Post step: undo what the main step left behind — a registry login on the runner, and the
// environment's deploy lock when the main step could not release it (killed, timed out). It
// never fails the job.
import * as core from '@actions/core'
import { logout } from './image/registry.js'
import { readSettings } from './inputs.js'
import { loadKubeConfig } from './kube/client.js'
import { LOCK_STATE, releaseLock } from './kube/lock.js'

export async function post(): Promise<void> {
  try {
    const registry = core.getState('docker-logout')
    if (registry) await logout(registry)
  } catch (err) {
    core.warning(`cleanup: registry logout failed: ${(err as Error).message}`)
  }
  try {
    // The main step clears this state when it releases the lock itself.
    if (core.getState(LOCK_STATE) && (await releaseLock(loadKubeConfig(readSettings())))) core.info('Released the deploy lock')
  } catch (err) {
    core.warning(`cleanup: deploy lock not released: ${(err as Error).message}`)
  }
}
