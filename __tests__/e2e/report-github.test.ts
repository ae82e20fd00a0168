// The report stage against the GitHub REST stand-in: every request our code sends is checked
// against GitHub's OpenAPI description, so each test also asserts there were no violations.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getOctokit } from '@actions/github'
import { startGitHub, type GitHubStandIn } from '../../test/github/server.js'
import { publishReport, beginReport, type ReportContext } from '../../src/report/index.js'
import { findPullRequest, upsertComment } from '../../src/report/pr-comment.js'
import { deactivateEnvironment } from '../../src/report/deployments.js'
import { markerFor } from '../../src/report/markdown.js'
import type { GitHubContext } from '../../src/github.js'
import type { DeployReport } from '../../src/report/model.js'
import { rollbackReport, successReport } from '../unit/report-fixtures.js'

// loading GitHub's 13 MB OpenAPI description in beforeAll can take more than jest's default 5s
jest.setTimeout(60_000)

const owner = 'acme'
const repo = 'shop'
const SHA = 'a'.repeat(40)

let gh: GitHubStandIn
let out: string[]
let summaryDir: string

beforeAll(async () => {
  gh = await startGitHub()
  // @actions/core reads $GITHUB_STEP_SUMMARY once per process: one file for the whole suite
  summaryDir = mkdtempSync(join(tmpdir(), 'kube-ship-summary-'))
  process.env.GITHUB_STEP_SUMMARY = join(summaryDir, 'summary.md')
})
afterAll(async () => {
  await gh.stop()
  rmSync(summaryDir, { recursive: true, force: true })
})
beforeEach(() => {
  gh.state.comments.length = 0
  gh.state.pulls.length = 0
  gh.state.deployments.length = 0
  gh.violations.length = 0
  gh.requests.length = 0
  Object.assign(gh.options, { login: 'github-actions[bot]', userForbidden: true, readOnly: false })
  out = []
  jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
    out.push(String(chunk))
    return true
  })
  writeFileSync(process.env.GITHUB_STEP_SUMMARY as string, '') // the runner creates it before the step
  delete process.env.GITHUB_OUTPUT
})
afterEach(() => {
  jest.restoreAllMocks()
  // the heart of the stand-in: nothing we sent was a wrong path, verb or body
  expect(gh.violations).toEqual([])
})

function octokit(): ReturnType<typeof getOctokit> {
  return getOctokit('ghs_test_token', { baseUrl: gh.url })
}

function prContext(number: number, eventName = 'pull_request'): GitHubContext {
  return {
    eventName,
    sha: SHA,
    repo: { owner, repo },
    payload: { action: 'synchronize', number, pull_request: { number, head: { ref: 'feature/x', sha: SHA } } },
    serverUrl: 'https://github.com',
    runId: 42,
    runAttempt: 1
  }
}

function pushContext(sha = SHA): GitHubContext {
  return { eventName: 'push', sha, repo: { owner, repo }, payload: {}, serverUrl: 'https://github.com', runId: 43 }
}

function ctx(github: GitHubContext, over: Partial<ReportContext['settings']> = {}): ReportContext {
  return { github, octokit: octokit(), settings: { comment: 'auto', githubToken: 'ghs_test_token', preview: false, mode: 'deploy', ...over } }
}

const report = (environment: string, make: () => DeployReport = successReport): DeployReport => ({ ...make(), environment })

describe('sticky PR comment', () => {
  it('creates the comment once, then edits it in place', async () => {
    gh.addPull(owner, repo, { number: 12, head: { ref: 'feature/x', sha: SHA } })
    const first = await publishReport(report('staging'), ctx(prContext(12)))
    const second = await publishReport(report('staging', rollbackReport), ctx(prContext(12)))

    const comments = gh.commentsOn(owner, repo, 12)
    expect(comments).toHaveLength(1)
    expect(first.commentId).toBe(comments[0].id)
    expect(second.commentId).toBe(comments[0].id)
    expect(comments[0].body.startsWith(`${markerFor('staging')}\n\n### ❌ Deploy to staging failed and was rolled back`)).toBe(true)
    expect(gh.requests.filter(r => r.operationId === 'issues/update-comment')).toHaveLength(1)
    expect(out.join('')).toContain('::set-output name=comment-id::' + comments[0].id)
  })

  it('keeps one comment per environment', async () => {
    gh.addPull(owner, repo, { number: 3, head: { ref: 'feature/x', sha: SHA } })
    await publishReport(report('staging'), ctx(prContext(3)))
    await publishReport(report('production'), ctx(prContext(3)))
    await publishReport(report('staging'), ctx(prContext(3)))
    const bodies = gh.commentsOn(owner, repo, 3).map(c => c.body.split('\n')[0])
    expect(bodies).toEqual([markerFor('staging'), markerFor('production')])
    // the third report is the first one again: nothing to edit
    expect(gh.requests.filter(r => r.operationId === 'issues/update-comment')).toEqual([])
  })

  it('finds its comment past the first page and leaves other authors alone', async () => {
    gh.addPull(owner, repo, { number: 5, head: { ref: 'feature/x', sha: SHA } })
    for (let i = 0; i < 120; i++) gh.addComment(owner, repo, 5, `chatter ${i}`, 'octocat')
    // a person pasting our marker is not us
    const pasted = gh.addComment(owner, repo, 5, `${markerFor('production')}\nquoted`, 'octocat')
    const ours = gh.addComment(owner, repo, 5, `${markerFor('production')}\nold report`, 'github-actions[bot]')

    const result = await upsertComment(octokit(), { owner, repo, issue: 5, environment: 'production' }, `${markerFor('production')}\nnew report`)
    expect(result).toMatchObject({ id: ours.id, created: false })
    expect(gh.state.comments.find(c => c.id === pasted.id)?.body).toBe(`${markerFor('production')}\nquoted`)
    expect(gh.state.comments.find(c => c.id === ours.id)?.body).toBe(`${markerFor('production')}\nnew report`)
    expect(gh.commentsOn(owner, repo, 5)).toHaveLength(122)
  })

  it('with a personal token, matches comments by its own login from GET /user', async () => {
    Object.assign(gh.options, { login: 'deploy-bot-user', userForbidden: false })
    gh.addPull(owner, repo, { number: 6, head: { ref: 'feature/x', sha: SHA } })
    gh.addComment(owner, repo, 6, `${markerFor('production')}\nby the actions bot`, 'github-actions[bot]')
    const result = await upsertComment(octokit(), { owner, repo, issue: 6, environment: 'production' }, `${markerFor('production')}\nmine`)
    expect(result.created).toBe(true)
    expect(gh.commentsOn(owner, repo, 6).map(c => c.user.login)).toEqual(['github-actions[bot]', 'deploy-bot-user'])
  })

  it('falls back to the job summary with a notice when the token is read-only (fork PR)', async () => {
    Object.assign(gh.options, { readOnly: true })
    gh.addPull(owner, repo, { number: 8, head: { ref: 'feature/x', sha: SHA } })
    const published = await publishReport(report('pr-8'), ctx(prContext(8), { preview: true }))
    expect(published.summaryWritten).toBe(true)
    expect(published.commentId).toBeUndefined()
    expect(gh.commentsOn(owner, repo, 8)).toEqual([])
    const log = out.join('')
    expect(log).toMatch(/::notice::PR #8: cannot comment \(403 Resource not accessible by integration\)\. The token is read-only/)
    expect(log).toMatch(/::warning::GitHub Deployment for pr-8 not recorded \(403 Resource not accessible by integration\)/)
    expect(log).not.toContain('::error')
    expect(readFileSync(process.env.GITHUB_STEP_SUMMARY as string, 'utf8')).toContain('### ✅ Deployed to pr-8')
  })

  it('comments nothing when comment is never', async () => {
    gh.addPull(owner, repo, { number: 9, head: { ref: 'feature/x', sha: SHA } })
    const published = await publishReport(report('staging'), ctx(prContext(9), { comment: 'never' }))
    expect(published.commentId).toBeUndefined()
    expect(gh.commentsOn(owner, repo, 9)).toEqual([])
  })
})

describe('PR discovery on push', () => {
  it.each<[string, () => void, number | undefined]>([
    [
      'the merged PR whose merge commit is the sha',
      () => {
        gh.addPull(owner, repo, { number: 20, head: { ref: 'other', sha: SHA } })
        gh.addPull(owner, repo, { number: 21, head: { ref: 'feature/y', sha: 'b'.repeat(40) }, merge_commit_sha: SHA })
      },
      21
    ],
    ['else the first PR containing the commit', () => void gh.addPull(owner, repo, { number: 22, head: { ref: 'feature/z', sha: SHA } }), 22],
    ['none', () => void gh.addPull(owner, repo, { number: 23, head: { ref: 'feature/z', sha: 'c'.repeat(40) } }), undefined]
  ])('%s', async (_name, seed, expected) => {
    seed()
    expect(await findPullRequest(octokit(), pushContext())).toBe(expected)
  })

  it('comments on the merged PR after deploy-on-merge', async () => {
    gh.addPull(owner, repo, { number: 30, head: { ref: 'feature/y', sha: 'b'.repeat(40) }, merge_commit_sha: SHA })
    const published = await publishReport(report('production'), ctx(pushContext()))
    expect(gh.commentsOn(owner, repo, 30).map(c => c.id)).toEqual([published.commentId])
  })

  it('says in one line when no PR holds the commit, and fails nothing', async () => {
    const published = await publishReport(report('production'), ctx(pushContext(), { comment: 'always' }))
    expect(published.commentId).toBeUndefined()
    expect(out.join('')).toContain(`::warning::PR comment skipped: no pull request contains commit ${SHA.slice(0, 12)}; the report is in the job summary`)
  })
})

describe('GitHub Deployments', () => {
  it('records in_progress then success with the environment and log URLs', async () => {
    const c = ctx(prContext(12))
    const session = await beginReport('production', c, 'https://shop.example.com')
    expect(gh.state.deployments.map(d => d.statuses.map(s => s.state))).toEqual([['in_progress']])
    const published = await publishReport(report('production'), c, session)

    const [d] = gh.state.deployments
    expect(published.deploymentId).toBe(d.id)
    expect(d).toMatchObject({ ref: SHA, environment: 'production', auto_merge: false, required_contexts: [], transient_environment: false })
    expect(d.statuses.map(s => s.state)).toEqual(['in_progress', 'success'])
    expect(d.statuses[1]).toMatchObject({
      environment_url: 'https://shop.example.com',
      log_url: 'https://github.com/acme/shop/actions/runs/123456789/attempts/1'
    })
  })

  it('records failure for a rolled-back run, transient for a preview', async () => {
    const c = ctx(prContext(12), { preview: true })
    const session = await beginReport('pr-12', c)
    await publishReport(report('pr-12', rollbackReport), c, session)
    const [d] = gh.state.deployments
    expect(d.transient_environment).toBe(true)
    expect(d.statuses.map(s => s.state)).toEqual(['in_progress', 'failure'])
    expect(d.statuses[1].description.length).toBeLessThanOrEqual(140)
  })

  it('records nothing with github-deployment: false (the job environment does)', async () => {
    gh.addPull(owner, repo, { number: 12, head: { ref: 'feature/x', sha: SHA } })
    const c: ReportContext = { ...ctx(prContext(12)), settings: { comment: 'auto', githubToken: 't', preview: false, mode: 'deploy', githubDeployment: false } }
    const published = await publishReport(report('production'), c, await beginReport('production', c))
    expect(published.deploymentId).toBeUndefined()
    expect(gh.requests.filter(r => r.path.includes('/deployments'))).toEqual([])
    expect(gh.commentsOn(owner, repo, 12)).toHaveLength(1)
  })

  it('marks the environment inactive after cleanup, once', async () => {
    gh.addPull(owner, repo, { number: 12, head: { ref: 'feature/x', sha: SHA } })
    const c = ctx(prContext(12), { preview: true })
    await publishReport(report('pr-12'), c, await beginReport('pr-12', c))
    await publishReport(report('pr-12'), c, await beginReport('pr-12', c))
    await publishReport({ ...report('pr-12'), status: 'cleaned-up', mode: 'cleanup' }, ctx(prContext(12), { preview: true, mode: 'cleanup' }))
    expect(gh.state.deployments.map(d => d.statuses.at(-1)?.state)).toEqual(['inactive', 'inactive'])
    expect(await deactivateEnvironment(octokit(), prContext(12), 'pr-12', 'https://github.com/acme/shop/actions/runs/42')).toBe(0)
    const comments = gh.commentsOn(owner, repo, 12)
    expect(comments).toHaveLength(1)
    expect(comments[0].body).toContain('### ✅ Preview pr-12 removed')
  })
})

describe('job summary', () => {
  it('is written for a failed run too', async () => {
    await publishReport(report('production', rollbackReport), { ...ctx(prContext(1)), octokit: undefined, settings: { comment: 'auto', preview: false, mode: 'deploy' } })
    expect(readFileSync(process.env.GITHUB_STEP_SUMMARY as string, 'utf8')).toContain('### ❌ Deploy to production failed and was rolled back')
    expect(gh.requests).toEqual([])
  })

  it('never fails the job when it cannot be written', async () => {
    const file = process.env.GITHUB_STEP_SUMMARY as string
    rmSync(file)
    mkdirSync(file) // a directory where the file should be: every write fails
    const published = await publishReport(report('production'), { ...ctx(prContext(1)), settings: { comment: 'never', preview: false, mode: 'diff' } })
    rmSync(file, { recursive: true })
    expect(published.summaryWritten).toBe(false)
    expect(out.join('')).toMatch(/::warning::job summary not written: .*summary\.md/)
  })
})

describe('the stand-in itself', () => {
  it('rejects and records a wrong path, verb or body', async () => {
    const o = octokit()
    const createComment: string = 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments' // untyped: the body is wrong on purpose
    await expect(o.request(createComment, { owner, repo, issue_number: 1, text: 'typo' })).rejects.toMatchObject({ status: 422 })
    await expect(o.request('GET /repos/{owner}/{repo}/no-such-thing', { owner, repo })).rejects.toMatchObject({ status: 404 })
    await expect(o.request('PUT /repos/{owner}/{repo}/deployments', { owner, repo })).rejects.toMatchObject({ status: 404 })
    expect(gh.violations.map(v => `${v.method} ${v.status}`)).toEqual(['POST 422', 'GET 404', 'PUT 404'])
    expect(gh.violations[0].problem).toMatch(/issues\/create-comment: .*body/)
    gh.violations.length = 0
  })
})
