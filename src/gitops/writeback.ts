// GitOps write-back: the overlay edit made for this deploy is committed to the repository,
// either straight onto the branch (`commit`) or onto a bot branch with a pull request
// (`pull-request`).
//
// The commit is built with git plumbing on top of the remote tip (fetch → read the file at the
// tip → apply the same edit → write a tree through a temporary index → commit-tree), so the
// checkout's HEAD, index and working tree are never touched. When the push is rejected because
// someone pushed in between, the remote is fetched again and the edit re-applied on the new tip
// — a rebase that cannot conflict, since the edit is re-run rather than replayed as a patch —
// a bounded number of times.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { DeployError, oneLine } from '../errors.js'
import { type ProgramResult, runProgram } from '../process.js'
import { ACTIONS_BOT, apiLine, type Octokit } from '../github.js'

export interface FileEdit {
  /** path of the file, relative to `repoDir` or absolute inside it */
  path: string
  /** the edit to apply to the file's text on the branch tip (setImage for overlays) */
  edit: (text: string) => string
}

export interface WriteBackOptions {
  mode: 'commit' | 'pull-request'
  /** the checkout (any directory inside the work tree) */
  repoDir: string
  files: FileEdit[]
  /** what was pinned, for the commit message and the pull request (repository, or repo@digest) */
  image: string
  digest: string
  /** the commit the image was built from (GITHUB_SHA); default the checkout's HEAD */
  sourceCommit?: string
  environment?: string
  remote?: string
  /**
   * commit: the branch to push to; pull-request: the branch the PR targets. Default: the
   * checkout's current branch, else GITHUB_HEAD_REF / GITHUB_REF_NAME.
   */
  branch?: string
  /** pull-request: the bot branch; default `kube-ship/<environment>` so each run updates one PR */
  prBranch?: string
  /** pushes tried before giving up on a moving branch (default 5) */
  maxAttempts?: number
  /** pull-request: an Octokit (getOctokit(token) or one pointed at a stand-in) and the repository */
  github?: { octokit: Octokit; owner: string; repo: string }
}

export interface WriteBackResult {
  /** false when the branch already had the edit (nothing to commit) */
  pushed: boolean
  /** the commit pushed (or the tip that already had the edit) */
  commit: string
  branch: string
  attempts: number
  pullRequest?: { number: number; url: string; created: boolean }
}

const BOT_EMAIL = '41898282+github-actions[bot]@users.noreply.github.com'

export async function writeBack(opts: WriteBackOptions): Promise<WriteBackResult> {
  const remote = opts.remote ?? 'origin'
  const top = (await git(['rev-parse', '--show-toplevel'], opts.repoDir)).trim()
  const files = opts.files.map(f => ({ ...f, path: repoPath(top, opts.repoDir, f.path) }))
  const base = opts.branch ?? (await currentBranch(top))
  const source = opts.sourceCommit ?? process.env.GITHUB_SHA ?? (await git(['rev-parse', 'HEAD'], top)).trim()
  const message = commitMessage(opts.image, opts.digest, source, files.map(f => f.path), opts.environment)
  const env = await identity(top)

  if (opts.mode === 'commit') {
    const max = opts.maxAttempts ?? 5
    for (let attempt = 1; ; attempt++) {
      const tip = await fetchTip(top, remote, base)
      const commit = await commitOnto(top, tip, files, message, env)
      if (!commit) return { pushed: false, commit: tip, branch: base, attempts: attempt }
      const push = await runGit(['push', '--porcelain', remote, `${commit}:refs/heads/${base}`], top)
      if (push.code === 0) return { pushed: true, commit, branch: base, attempts: attempt }
      // Retry only when the branch moved under us; anything else (auth, protection) is final.
      const moved = (await fetchTip(top, remote, base)) !== tip
      if (!moved) throw new DeployError(`git push to ${remote} ${base} failed: ${gitMessage(push)}`, { input: 'write-back' })
      if (attempt >= max)
        throw new DeployError(`git push to ${remote} ${base} was rejected ${attempt} times: the branch kept moving`, {
          input: 'write-back',
          hint: 'another job pushes to it constantly; use write-back: pull-request'
        })
    }
  }

  if (!opts.github) throw new DeployError('pull-request write-back needs a GitHub token', { input: 'github-token' })
  const head = opts.prBranch ?? `kube-ship/${slug(opts.environment ?? 'deploy')}`
  const tip = await fetchTip(top, remote, base)
  const commit = await commitOnto(top, tip, files, message, env)
  if (!commit) return { pushed: false, commit: tip, branch: head, attempts: 1 }
  // The bot branch is ours: each run replaces it with one commit on the current base.
  const push = await runGit(['push', '--porcelain', '--force', remote, `${commit}:refs/heads/${head}`], top)
  if (push.code !== 0) throw new DeployError(`git push to ${remote} ${head} failed: ${gitMessage(push)}`, { input: 'write-back' })
  const pullRequest = await upsertPullRequest(opts.github, head, base, message)
  return { pushed: true, commit, branch: head, attempts: 1, pullRequest }
}

/**
 * What write-back needs, checked before anything is deployed so a deploy is not left running
 * with a write-back that was bound to fail: a git work tree, the branch, the remote and read
 * access to it (ls-remote), and for pull-request mode a token that reaches the repository's pull
 * requests. Push rights cannot be proven without pushing; a refused push still fails afterwards.
 */
export async function checkWriteBack(opts: Pick<WriteBackOptions, 'mode' | 'repoDir' | 'remote' | 'branch' | 'github'>): Promise<void> {
  const remote = opts.remote ?? 'origin'
  const inside = await runGit(['rev-parse', '--show-toplevel'], opts.repoDir)
  if (inside.code !== 0)
    throw new DeployError(`${opts.mode} needs a git work tree, and ${opts.repoDir} is not inside one`, { input: 'write-back', hint: 'check out the repository (actions/checkout) first' })
  const top = inside.stdout.trim()
  const branch = opts.branch ?? (await currentBranch(top))
  if ((await runGit(['remote', 'get-url', remote], top)).code !== 0)
    throw new DeployError(`${opts.mode} needs the git remote '${remote}', and the checkout has none`, { input: 'write-back' })
  const heads = await runGit(['ls-remote', '--exit-code', '--heads', remote, `refs/heads/${branch}`], top)
  if (heads.code === 2) throw new DeployError(`branch ${branch} does not exist on ${remote}`, { input: 'write-back' })
  if (heads.code !== 0) throw new DeployError(`cannot read ${remote}: ${gitMessage(heads)}`, { input: 'write-back' })
  if (opts.mode !== 'pull-request') return
  if (!opts.github) throw new DeployError('pull-request write-back needs a GitHub token', { input: 'github-token' })
  const { octokit, owner, repo } = opts.github
  try {
    await octokit.rest.pulls.list({ owner, repo, state: 'open', base: branch, per_page: 1 })
  } catch (err) {
    throw new DeployError(`the token cannot reach the pull requests of ${owner}/${repo}: ${apiLine(err)}`, {
      input: 'github-token',
      hint: 'the token needs pull-requests: write and contents: write'
    })
  }
}

/** Opens the PR for the bot branch, or updates the open one (pulls.list by head, then update or create). */
async function upsertPullRequest(
  gh: NonNullable<WriteBackOptions['github']>,
  head: string,
  base: string,
  message: string
): Promise<{ number: number; url: string; created: boolean }> {
  const [title, ...rest] = message.split('\n')
  const body = rest.join('\n').trim()
  const { owner, repo, octokit } = gh
  try {
    const { data: open } = await octokit.rest.pulls.list({ owner, repo, state: 'open', head: `${owner}:${head}`, base })
    if (open.length) {
      const { data } = await octokit.rest.pulls.update({ owner, repo, pull_number: open[0].number, title, body })
      return { number: data.number, url: data.html_url, created: false }
    }
    const { data } = await octokit.rest.pulls.create({ owner, repo, head, base, title, body })
    return { number: data.number, url: data.html_url, created: true }
  } catch (err) {
    throw new DeployError(`could not open or update the write-back pull request: ${apiLine(err)}`, {
      input: 'write-back',
      hint: 'the token needs pull-requests: write and contents: write'
    })
  }
}

/** Subject names image and digest; the body adds the source commit and the files. `image` may already carry @digest. */
export function commitMessage(image: string, digest: string, source: string, files: string[], environment?: string): string {
  image = image.replace(/@.*$/, '')
  const short = digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]*$/, '$1')
  return [
    `Pin ${image} to ${short}${environment ? ` for ${environment}` : ''}`,
    '',
    `Image: ${image}@${digest}`,
    `Source commit: ${source}`,
    'Files:',
    ...files.map(f => `- ${f}`),
    '',
    'Written by kube-ship write-back.'
  ].join('\n')
}

/** A branch-name-safe form of the environment. */
export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'deploy'
}

async function fetchTip(top: string, remote: string, branch: string): Promise<string> {
  const r = await runGit(['fetch', '--quiet', '--no-tags', remote, `refs/heads/${branch}`], top)
  if (r.code !== 0) throw new DeployError(`git fetch ${remote} ${branch} failed: ${gitMessage(r)}`, { input: 'write-back' })
  return (await git(['rev-parse', 'FETCH_HEAD'], top)).trim()
}

/** A commit on `tip` with the edits applied, or undefined when the tip already has them. */
async function commitOnto(top: string, tip: string, files: FileEdit[], message: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'kube-ship-index-'))
  const indexEnv = { ...env, GIT_INDEX_FILE: path.join(scratch, 'index') }
  try {
    await git(['read-tree', tip], top, indexEnv)
    let changed = false
    for (const f of files) {
      const entry = (await git(['ls-tree', tip, '--', f.path], top)).trim()
      if (!entry) throw new DeployError(`${f.path} is not on the branch tip ${tip.slice(0, 12)}; commit it first`, { input: 'write-back' })
      const mode = entry.split(/\s/)[0]
      const before = await git(['cat-file', 'blob', `${tip}:${f.path}`], top)
      const after = f.edit(before)
      if (after === before) continue
      changed = true
      const blob = (await git(['hash-object', '-w', '--stdin'], top, env, after)).trim()
      await git(['update-index', '--cacheinfo', `${mode},${blob},${f.path}`], top, indexEnv)
    }
    if (!changed) return undefined
    const tree = (await git(['write-tree'], top, indexEnv)).trim()
    return (await git(['commit-tree', tree, '-p', tip, '-F', '-'], top, env, message)).trim()
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

/** The checkout's configured identity, else the Actions bot (a fresh runner has none). */
async function identity(top: string): Promise<NodeJS.ProcessEnv> {
  const env = { ...process.env }
  const name = (await runGit(['config', 'user.name'], top)).stdout.trim()
  const email = (await runGit(['config', 'user.email'], top)).stdout.trim()
  if (!name || !email) {
    env.GIT_AUTHOR_NAME = env.GIT_COMMITTER_NAME = ACTIONS_BOT
    env.GIT_AUTHOR_EMAIL = env.GIT_COMMITTER_EMAIL = BOT_EMAIL
  }
  return env
}

async function currentBranch(top: string): Promise<string> {
  const r = await runGit(['symbolic-ref', '--quiet', '--short', 'HEAD'], top)
  const branch = r.code === 0 ? r.stdout.trim() : process.env.GITHUB_HEAD_REF || process.env.GITHUB_REF_NAME
  if (!branch || /^\d+\/merge$/.test(branch))
    throw new DeployError('cannot tell which branch to write back to (detached HEAD)', { input: 'write-back', hint: 'check out a branch' })
  return branch
}

function repoPath(top: string, dir: string, file: string): string {
  const rel = path.relative(top, path.resolve(dir, file))
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new DeployError(`${file} is outside the repository ${top}`, { input: 'write-back' })
  return rel.split(path.sep).join('/')
}

function gitMessage(r: ProgramResult): string {
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').filter(l => /^(error|fatal|!|remote: error)/.test(l.trim()))
  return oneLine(lines.join('\n') || r.stderr || `exit code ${r.code}`)
}

async function git(args: string[], cwd: string, env?: NodeJS.ProcessEnv, input?: string): Promise<string> {
  const r = await runGit(args, cwd, env, input)
  if (r.code !== 0) throw new DeployError(`git ${args[0]} failed: ${gitMessage(r)}`, { input: 'write-back' })
  return r.stdout
}

/** git without a terminal to prompt on: a missing credential fails instead of waiting. */
function runGit(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env, input?: string): Promise<ProgramResult> {
  return runProgram('git', args, { cwd, env: { ...env, GIT_TERMINAL_PROMPT: '0' }, input })
}
