// What every stage that talks to GitHub needs (report/, gitops/ write-back, preview/, post.ts):
// the Octokit type (from @actions/github, or one pointed at the test stand-in), the few fields
// of the run's context they read (github.context fits as is), the bot's login, one line for an
// API failure, and GitHub's answers for the one retry policy. Imports only errors and retry.
import type { getOctokit } from '@actions/github'
import { oneLine } from './errors.js'
import { type Failure, parseRetryAfter, withRetry } from './retry.js'

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

/**
 * Pure: what a failed GitHub request tells the one retry policy. GitHub throttles with 429, or
 * with 403 plus Retry-After / an exhausted rate limit (secondary limits); both wait as asked.
 */
export function classifyGitHub(err: unknown): Failure | undefined {
  const status = httpStatus(err)
  const headers = (err as { response?: { headers?: Record<string, string | undefined> } })?.response?.headers ?? {}
  const retryAfterMs = parseRetryAfter(headers['retry-after'])
  if (status === undefined || (status === 500 && !(err as { response?: unknown }).response)) {
    // Octokit turns "no answer" into a RequestError without a response.
    return err instanceof Error ? { network: true } : undefined
  }
  if (status === 403 && (retryAfterMs !== undefined || headers['x-ratelimit-remaining'] === '0')) {
    const reset = Number(headers['x-ratelimit-reset'])
    return { status: 429, retryAfterMs: retryAfterMs ?? (Number.isFinite(reset) ? Math.max(0, reset * 1000 - Date.now()) : undefined) }
  }
  return { status, retryAfterMs }
}

/** An Octokit plugin: every request goes through the one retry policy (src/retry.ts). */
export function retryPlugin(octokit: { hook: { wrap: (name: 'request', fn: (request: (o: unknown) => Promise<unknown>, options: { method?: string }) => Promise<unknown>) => void } }): void {
  octokit.hook.wrap('request', (request, options) => withRetry(() => request(options), { method: options.method ?? 'GET', classify: classifyGitHub }))
}
