// What the report stages need from GitHub: an Octokit (from @actions/github, or one pointed at the
// test stand-in) and the few fields of the run's context they read. github.context fits as is.
import type { getOctokit } from '@actions/github'
import { oneLine } from '../errors.js'

export type Octokit = ReturnType<typeof getOctokit>

export interface GitHubContext {
  eventName: string
  sha: string
  repo: { owner: string; repo: string }
  payload: {
    action?: string
    number?: number
    pull_request?: { number: number; head?: { ref?: string; sha?: string }; [key: string]: unknown }
    [key: string]: unknown
  }
  serverUrl: string
  runId: number
  runAttempt?: number
}

/** The login GITHUB_TOKEN acts as. GET /user is forbidden for it, so it is the fallback. */
export const ACTIONS_BOT = 'github-actions[bot]'

/** HTTP status of an Octokit RequestError, undefined for anything else (network, bugs). */
export function httpStatus(err: unknown): number | undefined {
  const status = (err as { status?: unknown })?.status
  return typeof status === 'number' ? status : undefined
}

/** One line for an API failure: status and GitHub's message, never headers or the token. */
export function apiLine(err: unknown): string {
  const status = httpStatus(err)
  const data = (err as { response?: { data?: { message?: string } } })?.response?.data
  const message = data?.message ?? (err instanceof Error ? err.message : String(err))
  return oneLine(status ? `${status} ${message}` : message)
}

/** The run's page, the log URL for deployment statuses and the report footer. */
export function runUrl(ctx: GitHubContext): string {
  const attempt = ctx.runAttempt && ctx.runAttempt > 1 ? `/attempts/${ctx.runAttempt}` : ''
  return `${ctx.serverUrl}/${ctx.repo.owner}/${ctx.repo.repo}/actions/runs/${ctx.runId}${attempt}`
}
