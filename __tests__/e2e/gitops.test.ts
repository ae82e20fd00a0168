// GitOps write-back against real git: a bare remote on disk, the CI checkout cloned from it,
// and a second clone that pushes in between (through a real pre-push hook in the CI checkout,
// so the race happens exactly between our fetch and our push). Pull requests go to the GitHub
// REST stand-in, which validates every request against GitHub's OpenAPI description.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getOctokit } from '@actions/github'
import { checkWriteBack, commitMessage, slug, writeBack, type FileEdit } from '../../src/gitops/writeback.js'
import { setImage } from '../../src/manifests/kustomize.js'
import { describeError } from '../../src/errors.js'
import { startGitHub, type GitHubStandIn } from '../../test/github/server.js'

const D1 = `sha256:${'1'.repeat(64)}`
const D2 = `sha256:${'2'.repeat(64)}`
const IMAGE = 'localhost:5000/kube-ship/web'
const FILE = 'overlays/prod/kustomization.yaml'
const KUSTOMIZATION = '# prod\nresources:\n- ../../base\nimages:\n- name: localhost:5000/kube-ship/web\n  newTag: v1\n- name: redis\n  newTag: "7"\n'

let root: string
let remote: string
let ci: string
let other: string

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 'dev', GIT_AUTHOR_EMAIL: 'dev@example.com', GIT_COMMITTER_NAME: 'dev', GIT_COMMITTER_EMAIL: 'dev@example.com' }
  })
const onRemote = (ref: string, file: string): string => git(remote, 'show', `${ref}:${file}`)
const pin = (digest: string): FileEdit => ({ path: FILE, edit: text => setImage(text, { name: IMAGE, digest }).text })

/** Makes the `other` clone change `file` (by `change`) and push, as a colleague would. */
function otherPushes(file: string, change: (text: string) => string): void {
  git(other, 'pull', '--quiet', '--rebase', 'origin', 'main')
  writeFileSync(join(other, file), change(readFileSync(join(other, file), 'utf8')))
  git(other, 'commit', '--quiet', '-am', `colleague edits ${file}`)
  git(other, 'push', '--quiet', 'origin', 'HEAD:main')
}

/** A pre-push hook in the CI checkout that makes `other` push first, `times` times. */
function raceOnPush(times: number): void {
  const counter = join(root, 'races')
  writeFileSync(counter, '0')
  const hook = join(ci, '.git/hooks/pre-push')
  writeFileSync(
    hook,
    `#!/bin/sh
n=$(cat ${counter}); [ "$n" -ge ${times} ] && exit 0; echo $((n+1)) > ${counter}
cd ${other} && git pull --quiet --rebase origin main && echo "race $n" >> NOTES && git add NOTES && git -c user.name=o -c user.email=o@x commit --quiet -m "race $n" && git push --quiet origin HEAD:main
`
  )
  chmodSync(hook, 0o755)
}

// The machine's own git identity must not leak in: a fresh runner has none.
const savedEnv = { global: process.env.GIT_CONFIG_GLOBAL, nosystem: process.env.GIT_CONFIG_NOSYSTEM }
beforeAll(() => {
  process.env.GIT_CONFIG_GLOBAL = '/dev/null'
  process.env.GIT_CONFIG_NOSYSTEM = '1'
})
afterAll(() => {
  if (savedEnv.global === undefined) delete process.env.GIT_CONFIG_GLOBAL
  else process.env.GIT_CONFIG_GLOBAL = savedEnv.global
  if (savedEnv.nosystem === undefined) delete process.env.GIT_CONFIG_NOSYSTEM
  else process.env.GIT_CONFIG_NOSYSTEM = savedEnv.nosystem
})

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'kube-ship-gitops-'))
  remote = join(root, 'remote.git')
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', remote)
  const seed = join(root, 'seed')
  git(root, 'clone', '--quiet', remote, seed)
  git(seed, 'checkout', '--quiet', '-b', 'main')
  mkdirSync(join(seed, 'overlays/prod'), { recursive: true })
  writeFileSync(join(seed, FILE), KUSTOMIZATION)
  writeFileSync(join(seed, 'NOTES'), 'notes\n')
  git(seed, 'add', '.')
  git(seed, 'commit', '--quiet', '-m', 'seed')
  git(seed, 'push', '--quiet', 'origin', 'main')
  ci = join(root, 'ci')
  other = join(root, 'other')
  git(root, 'clone', '--quiet', remote, ci)
  git(root, 'clone', '--quiet', remote, other)
})
afterEach(() => rmSync(root, { recursive: true, force: true }))

describe('write-back: commit', () => {
  it('commits the edited overlay onto the branch with image, digest and source commit in the message; the checkout is untouched', async () => {
    const head = git(ci, 'rev-parse', 'HEAD').trim()
    const fromSubdir = { path: 'prod/kustomization.yaml', edit: pin(D1).edit }
    const result = await writeBack({ mode: 'commit', repoDir: join(ci, 'overlays'), files: [fromSubdir], image: IMAGE, digest: D1, sourceCommit: 'abc123', environment: 'prod' })
    expect(result).toMatchObject({ pushed: true, branch: 'main', attempts: 1 })
    expect(git(remote, 'rev-parse', 'main').trim()).toBe(result.commit)
    expect(onRemote('main', FILE)).toBe(setImage(KUSTOMIZATION, { name: IMAGE, digest: D1 }).text)
    expect(git(remote, 'log', '-1', '--format=%B', 'main').trim()).toBe(commitMessage(IMAGE, D1, 'abc123', [FILE], 'prod'))
    expect(git(remote, 'log', '-1', '--format=%an <%ae>', 'main').trim()).toBe('github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>')
    expect(git(ci, 'rev-parse', 'HEAD').trim()).toBe(head)
    expect(git(ci, 'status', '--porcelain')).toBe('')

    // The checkout's own identity is used when it has one.
    git(ci, 'config', 'user.name', 'Release Bot')
    git(ci, 'config', 'user.email', 'release@example.com')
    await writeBack({ mode: 'commit', repoDir: ci, files: [pin(D2)], image: IMAGE, digest: D2 })
    expect(git(remote, 'log', '-1', '--format=%an <%ae>', 'main').trim()).toBe('Release Bot <release@example.com>')

    // Same digest again: nothing to commit.
    const tip = git(remote, 'rev-parse', 'main').trim()
    const again = await writeBack({ mode: 'commit', repoDir: ci, files: [pin(D2)], image: IMAGE, digest: D2 })
    expect(again).toMatchObject({ pushed: false, commit: tip })
  })

  it('survives a push race: another clone pushes between our fetch and our push; the edit is re-applied on the new tip', async () => {
    // The colleague already changed the same file (another entry) before we start...
    otherPushes(FILE, t => t.replace('newTag: "7"', 'newTag: "7.2"'))
    // ...and pushes again while our push is in flight.
    raceOnPush(1)
    const result = await writeBack({ mode: 'commit', repoDir: ci, files: [pin(D2)], image: IMAGE, digest: D2, sourceCommit: 'def456' })
    expect(result).toMatchObject({ pushed: true, attempts: 2 })
    expect(git(remote, 'log', '--format=%s', 'main').trim().split('\n')).toEqual([
      `Pin ${IMAGE} to ${D2.slice(0, 19)}`,
      'race 0',
      `colleague edits ${FILE}`,
      'seed'
    ])
    const file = onRemote('main', FILE)
    expect(file).toContain('newTag: "7.2"')
    expect(file).toContain(`digest: ${D2}`)
    expect(onRemote('main', 'NOTES')).toBe('notes\nrace 0\n')
  })

  it('gives up after a bounded number of rejected pushes with one line', async () => {
    raceOnPush(100)
    let line = ''
    try {
      await writeBack({ mode: 'commit', repoDir: ci, files: [pin(D1)], image: IMAGE, digest: D1, maxAttempts: 3 })
    } catch (err) {
      line = describeError(err)
    }
    expect(line).toBe("input 'write-back': git push to origin main was rejected 3 times: the branch kept moving (another job pushes to it constantly; use write-back: pull-request)")
    expect(readFileSync(join(root, 'races'), 'utf8').trim()).toBe('3')
  })

  it.each([
    ['a file missing on the branch', { path: 'overlays/dev/kustomization.yaml', edit: (t: string) => t + 'x' }, /^input 'write-back': overlays\/dev\/kustomization.yaml is not on the branch tip [0-9a-f]{12}; commit it first$/],
    ['a file outside the repository', { path: '../elsewhere.yaml', edit: (t: string) => t }, /^input 'write-back': \.\.\/elsewhere.yaml is outside the repository /]
  ])('%s is one line', async (_, file, expected) => {
    let line = ''
    try {
      await writeBack({ mode: 'commit', repoDir: ci, files: [file], image: IMAGE, digest: D1 })
    } catch (err) {
      line = describeError(err)
    }
    expect(line).toMatch(expected)
  })

  it('a push refused for another reason (a hook on the remote) is not retried', async () => {
    const hook = join(remote, 'hooks/pre-receive')
    writeFileSync(hook, '#!/bin/sh\necho "error: branch main is protected" >&2\nexit 1\n')
    chmodSync(hook, 0o755)
    let line = ''
    try {
      await writeBack({ mode: 'commit', repoDir: ci, files: [pin(D1)], image: IMAGE, digest: D1 })
    } catch (err) {
      line = describeError(err)
    }
    expect(line).toMatch(/^input 'write-back': git push to origin main failed: .*branch main is protected/)
  })
})

describe('write-back: pull-request', () => {
  let gh: GitHubStandIn
  beforeAll(async () => {
    gh = await startGitHub()
  })
  afterAll(async () => gh.stop())
  beforeEach(() => {
    gh.state.pulls.length = 0
    gh.violations.length = 0
    gh.requests.length = 0
  })

  it('pushes the bot branch and opens a PR; the next run force-updates the branch and updates the same PR', async () => {
    const github = { octokit: getOctokit('test-token', { baseUrl: gh.url }), owner: 'acme', repo: 'shop' }
    const first = await writeBack({ mode: 'pull-request', repoDir: ci, files: [pin(D1)], image: IMAGE, digest: D1, sourceCommit: 'abc123', environment: 'Prod EU', github })
    expect(first).toMatchObject({ pushed: true, branch: 'kube-ship/prod-eu', pullRequest: { number: 1, created: true } })
    expect(onRemote('kube-ship/prod-eu', FILE)).toContain(`digest: ${D1}`)
    expect(onRemote('main', FILE)).toBe(KUSTOMIZATION) // main untouched until the PR is merged
    expect(gh.state.pulls).toHaveLength(1)
    expect(gh.state.pulls[0]).toMatchObject({ owner: 'acme', repo: 'shop', head: { ref: 'kube-ship/prod-eu' }, base: { ref: 'main' }, title: `Pin ${IMAGE} to ${D1.slice(0, 19)} for Prod EU` })
    expect(gh.state.pulls[0].body).toContain('Source commit: abc123')

    otherPushes('NOTES', t => t + 'more\n') // main moves on; the bot branch is rebuilt on it
    const second = await writeBack({ mode: 'pull-request', repoDir: ci, files: [pin(D2)], image: IMAGE, digest: D2, sourceCommit: 'def456', environment: 'Prod EU', github })
    expect(second).toMatchObject({ pushed: true, pullRequest: { number: 1, created: false } })
    expect(git(remote, 'rev-parse', 'kube-ship/prod-eu^').trim()).toBe(git(remote, 'rev-parse', 'main').trim())
    expect(onRemote('kube-ship/prod-eu', FILE)).toContain(`digest: ${D2}`)
    expect(gh.state.pulls).toHaveLength(1)
    expect(gh.state.pulls[0].title).toBe(`Pin ${IMAGE} to ${D2.slice(0, 19)} for Prod EU`)
    expect(gh.requests.map(r => r.operationId)).toEqual(['pulls/list', 'pulls/create', 'pulls/list', 'pulls/update'])
    expect(gh.violations).toEqual([])
  })

  it('an API refusal is one line with the status', async () => {
    const readOnly = await startGitHub({ readOnly: true })
    try {
      const github = { octokit: getOctokit('test-token', { baseUrl: readOnly.url }), owner: 'acme', repo: 'shop' }
      let line = ''
      try {
        await writeBack({ mode: 'pull-request', repoDir: ci, files: [pin(D1)], image: IMAGE, digest: D1, github })
      } catch (err) {
        line = describeError(err)
      }
      expect(line).toMatch(/^input 'write-back': could not open or update the write-back pull request: 403 .* \(the token needs pull-requests: write and contents: write\)$/)
    } finally {
      await readOnly.stop()
    }
  })

  it('slugs environments into branch names', () => {
    expect(['Prod EU', 'staging', '--x--', '!!!'].map(slug)).toEqual(['prod-eu', 'staging', 'x', 'deploy'])
  })
})

describe('write-back preconditions, checked before anything is deployed', () => {
  const line = async (check: Promise<void>): Promise<string> => {
    try {
      await check
      return 'ok'
    } catch (err) {
      return describeError(err)
    }
  }

  it('commit: a work tree whose branch is on the remote passes; each missing part is one line', async () => {
    expect(await line(checkWriteBack({ mode: 'commit', repoDir: join(ci, 'overlays') }))).toBe('ok')
    const plain = mkdtempSync(join(tmpdir(), 'kube-ship-not-git-'))
    try {
      expect(await line(checkWriteBack({ mode: 'commit', repoDir: plain }))).toBe(
        `input 'write-back': commit needs a git work tree, and ${plain} is not inside one (check out the repository (actions/checkout) first)`
      )
    } finally {
      rmSync(plain, { recursive: true, force: true })
    }
    git(ci, 'checkout', '--quiet', '-b', 'feature')
    expect(await line(checkWriteBack({ mode: 'commit', repoDir: ci }))).toBe("input 'write-back': branch feature does not exist on origin")
    git(ci, 'checkout', '--quiet', '--detach')
    expect(await line(checkWriteBack({ mode: 'commit', repoDir: ci }))).toBe("input 'write-back': cannot tell which branch to write back to (detached HEAD) (check out a branch)")
    git(ci, 'checkout', '--quiet', 'main')
    git(ci, 'remote', 'remove', 'origin')
    expect(await line(checkWriteBack({ mode: 'commit', repoDir: ci }))).toBe("input 'write-back': commit needs the git remote 'origin', and the checkout has none")
  })

  it('pull-request: needs a token that reaches the pull requests', async () => {
    expect(await line(checkWriteBack({ mode: 'pull-request', repoDir: ci }))).toBe("input 'github-token': pull-request write-back needs a GitHub token")
    const gh = await startGitHub()
    try {
      const github = { octokit: getOctokit('test-token', { baseUrl: gh.url }), owner: 'acme', repo: 'shop' }
      expect(await line(checkWriteBack({ mode: 'pull-request', repoDir: ci, github }))).toBe('ok')
      expect(gh.requests.map(r => r.operationId)).toEqual(['pulls/list'])
      expect(gh.violations).toEqual([])
    } finally {
      await gh.stop()
    }
    // Nothing listens there any more: the check fails instead of the write-back after the deploy.
    const gone = { octokit: getOctokit('test-token', { baseUrl: 'http://127.0.0.1:9', request: { retries: 0 } }), owner: 'acme', repo: 'shop' }
    expect(await line(checkWriteBack({ mode: 'pull-request', repoDir: ci, github: gone }))).toMatch(
      /^input 'github-token': the token cannot reach the pull requests of acme\/shop: .* \(the token needs pull-requests: write and contents: write\)$/
    )
  })
})
