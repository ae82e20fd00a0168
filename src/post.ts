// Post step: undo what the main step left on the runner. It never fails the job.
import * as core from '@actions/core'
import { logout } from './image/registry.js'

export async function post(): Promise<void> {
  try {
    const registry = core.getState('docker-logout')
    if (registry) await logout(registry)
  } catch (err) {
    core.warning(`cleanup: ${(err as Error).message}`)
  }
}
