// The sticky PR comment: one per environment, found by its hidden marker and its author, edited in
// place on every run. REST only (list, update, create), no GraphQL.
//
// Whose comment is ours: GET /user names the token's user for a personal token. For GITHUB_TOKEN
// (and GitHub App installation tokens) GET /user answers 403; then any Bot-authored comment that
// carries our marker is taken as ours, github-actions[bot]'s first. If the edit of such a comment
// is refused (another app's), a new comment is created instead of failing.
import * as core from '@actions/core'
import type { CommentMode } from '../inputs.js'
import { ACTIONS_BOT, apiLine, httpStatus, type GitHubContext, type Octokit } from '../github.js'
import { markerFor } from './markdown.js'

const PR_EVENTS = new Set(['pull_request', 'pull_request_target', 'pull_request_review', 'pull_request_review_comment'])

/**
 * Whether this run should try to comment. auto: pull_request* events and push (deploy on merge:
 * the merged PR hears about it); always: any event whose commit belongs to a PR; never: no.
 */
export function wantsComment(mode: CommentMode, eventName: string): boolean {
  if (mode === 'never') return false
  return mode === 'always' || PR_EVENTS.has(eventName) || eventName === 'push'
}

/**
 * The PR this run reports to: from the event payload on pull_request* events, else the PR the
 * commit belongs to (the merged one whose merge commit is this sha, else the first listed).
 * Undefined when there is none. Throws only Octokit errors from the lookup.
 */
export async function findPullRequest(octokit: Octokit, ctx: GitHubContext): Promise<number | undefined> {
  const fromPayload = ctx.payload.pull_request?.number ?? (PR_EVENTS.has(ctx.eventName) ? ctx.payload.number : undefined)
  if (fromPayload) return fromPayload
  const { data } = await octokit.rest.repos.listPullRequestsAssociatedWithCommit({ ...ctx.repo, commit_sha: ctx.sha, per_page: 100 })
  const merged = data.find(p => p.merged_at && p.merge_commit_sha === ctx.sha)
  return (merged ?? data[0])?.number
}

const logins = new WeakMap<Octokit, Promise<string | undefined>>()

/** The token's login, or undefined when GET /user is forbidden (an installation token). */
export function tokenLogin(octokit: Octokit): Promise<string | undefined> {
  let login = logins.get(octokit)
  if (!login) {
    login = octokit.rest.users.getAuthenticated().then(
      r => r.data.login,
      err => {
        if (httpStatus(err) === 403 || httpStatus(err) === 401) return undefined
        throw err
      }
    )
    logins.set(octokit, login)
  }
  return login
}

export interface CommentTarget {
  owner: string
  repo: string
  issue: number
  environment: string
}

export interface UpsertResult {
  id: number
  created: boolean
  url?: string
}

/**
 * Edits this environment's comment on the PR, or creates it. `body` must start with
 * markerFor(environment) (renderReport's `marker` option). Throws Octokit errors (403 for a
 * read-only token); postComment below is the never-throwing wrapper.
 */
export async function upsertComment(octokit: Octokit, target: CommentTarget, body: string): Promise<UpsertResult> {
  const marker = markerFor(target.environment)
  if (!body.includes(marker)) throw new Error(`comment body lacks the marker ${marker}`)
  const { owner, repo, issue } = target
  const login = await tokenLogin(octokit)
  const comments = await octokit.paginate(octokit.rest.issues.listComments, { owner, repo, issue_number: issue, per_page: 100 })
  const ours = comments
    .filter(c => c.body?.includes(marker))
    .filter(c => (login ? sameLogin(c.user?.login, login) : c.user?.type === 'Bot'))
    .sort((a, b) => Number(b.user?.login === ACTIONS_BOT) - Number(a.user?.login === ACTIONS_BOT))

  for (const previous of ours) {
    if (previous.body === body) return { id: previous.id, created: false, url: previous.html_url }
    try {
      const { data } = await octokit.rest.issues.updateComment({ owner, repo, comment_id: previous.id, body })
      return { id: data.id, created: false, url: data.html_url }
    } catch (err) {
      // someone else's bot comment with our marker (login unknown): leave it and try the next
      if (login || httpStatus(err) !== 403) throw err
    }
  }
  const { data } = await octokit.rest.issues.createComment({ owner, repo, issue_number: issue, body })
  return { id: data.id, created: true, url: data.html_url }
}

/** Logins compare without the [bot] suffix (GraphQL and REST differ on it). */
function sameLogin(a: string | undefined, b: string): boolean {
  const bare = (s: string): string => s.replace(/\[bot\]$/, '').toLowerCase()
  return a !== undefined && bare(a) === bare(b)
}

/**
 * Finds the PR and upserts the comment; never throws. Returns the comment id, or undefined when
 * no comment was wanted, no PR was found, or GitHub refused (a notice or warning says which; the
 * job summary still has the report).
 */
export async function postComment(
  octokit: Octokit,
  ctx: GitHubContext,
  opts: { mode: CommentMode; environment: string; body: string }
): Promise<number | undefined> {
  if (!wantsComment(opts.mode, ctx.eventName)) return undefined
  let issue: number | undefined
  try {
    issue = await findPullRequest(octokit, ctx)
  } catch (err) {
    core.warning(`PR comment skipped: cannot list the pull requests of commit ${ctx.sha.slice(0, 12)} (${apiLine(err)}); the report is in the job summary`)
    return undefined
  }
  if (!issue) {
    const line = `PR comment skipped: no pull request contains commit ${ctx.sha.slice(0, 12)}; the report is in the job summary`
    if (opts.mode === 'always') core.warning(line)
    else core.info(line)
    return undefined
  }
  try {
    const result = await upsertComment(octokit, { ...ctx.repo, issue, environment: opts.environment }, opts.body)
    core.info(`PR #${issue}: ${result.created ? 'created' : 'updated'} the ${opts.environment} comment ${result.url ?? result.id}`)
    return result.id
  } catch (err) {
    const status = httpStatus(err)
    if (status === 403 || status === 401)
      core.notice(
        `PR #${issue}: cannot comment (${apiLine(err)}). The token is read-only, as on pull requests from forks, or lacks 'pull-requests: write'; the report is in the job summary`
      )
    else core.warning(`PR #${issue}: comment not posted (${apiLine(err)}); the report is in the job summary`)
    return undefined
  }
}
