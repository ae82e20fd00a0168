// What the main step leaves for the post step (core.saveState / core.getState; the runner keeps
// it between the two steps). Every key and its shape is here: the stage that creates a fact
// saves it, and clears it once it has finished the work itself, so the post step does only what
// main could not (it was cancelled, killed or timed out).
import * as core from '@actions/core'

const KEYS = {
  /** set by the main step: the next run of dist/index.js is the post step */
  isPost: 'isPost',
  /** the registry `docker login` logged into */
  registryLogout: 'docker-logout',
  /** the environment's deploy lock (a Lease) while this run holds it */
  lock: 'kube-ship-lock',
  /** the GitHub Deployment main started and has not finished */
  deployment: 'kube-ship-deployment'
} as const

/** The Lease that is the deploy lock, as the post step needs it to release it. */
export interface SavedLock {
  namespace: string
  name: string
  holder: string
}

/** A GitHub Deployment main started; `state` once main decided it. */
export interface SavedDeployment {
  id: number
  environment: string
  /** the decided state, when main got that far */
  state?: 'success' | 'failure' | 'inactive'
  description?: string
}

function readJson<T>(key: string): T | undefined {
  const text = core.getState(key)
  if (!text) return undefined
  try {
    return JSON.parse(text) as T
  } catch {
    return undefined
  }
}

function saveJson(key: string, value: object | undefined): void {
  core.saveState(key, value ? JSON.stringify(value) : '')
}

export const state = {
  isPost: (): boolean => core.getState(KEYS.isPost) === 'true',
  markMainStarted: (): void => core.saveState(KEYS.isPost, 'true'),

  registryLogout: (): string => core.getState(KEYS.registryLogout),
  saveRegistryLogout: (registry: string): void => core.saveState(KEYS.registryLogout, registry),

  lock: (): SavedLock | undefined => readJson<SavedLock>(KEYS.lock),
  /** undefined clears it: the lock was released */
  saveLock: (lock: SavedLock | undefined): void => saveJson(KEYS.lock, lock && { namespace: lock.namespace, name: lock.name, holder: lock.holder }),

  deployment: (): SavedDeployment | undefined => readJson<SavedDeployment>(KEYS.deployment),
  /** undefined clears it: the Deployment got its final status */
  saveDeployment: (deployment: SavedDeployment | undefined): void => saveJson(KEYS.deployment, deployment)
}

/** The key's name as the runner passes it back (STATE_<key>), for tests that stage a post step. */
export const STATE_KEYS = KEYS
