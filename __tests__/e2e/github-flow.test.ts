// The GitHub side of the action through dist/index.js: a PR preview from opened to closed, and
// deploy-on-merge finding its PR, with the GitHub REST API served by the validating stand-in
// (GITHUB_API_URL points Octokit at it) and everything else real.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { randomInt } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { execFileSync } from 'node:child_process'
import { startGitHub, type GitHubStandIn } from '../../test/github/server.js'
import { errorLines, runAction } from './action.js'
import { deleteNamespace, freshNamespace, kubectlJson, kubectlResult, stack, waitFor } from './stack.js'

const repo = path.resolve(import.meta.dirname, '../..')
const owner = 'acme'
const name = 'shop'
let gh: GitHubStandIn
let checkout: string
let digest: string
const image = () => `${stack().registry}/e2e/github-flow`

beforeAll(async () => {
  gh = await startGitHub()
  checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-gh-'))
  fs.cpSync(path.join(repo, 'examples/app'), checkout, { recursive: true })
  // One image for every run below; each run then takes it by digest.
  const built = await runAction({ image: image(), context: '.', tags: 'flow' }, { env: { DOCKER_HOST: stack().dockerHost }, cwd: checkout })
  expect(built.code).toBe(0)
  digest = built.outputs.digest
})

afterAll(async () => {
  await gh.stop()
  fs.rmSync(checkout, { recursive: true, force: true })
})

function githubEnv(event: string, payload: unknown, sha: string): Record<string, string> {
  const file = path.join(checkout, `event-${randomInt(1e9)}.json`)
  fs.writeFileSync(file, JSON.stringify(payload))
  return {
    KUBECONFIG: stack().kubeconfig,
    GITHUB_API_URL: gh.url,
    GITHUB_REPOSITORY: `${owner}/${name}`,
    GITHUB_EVENT_NAME: event,
    GITHUB_EVENT_PATH: file,
    GITHUB_SHA: sha,
    GITHUB_RUN_ID: '4242',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_WORKSPACE: checkout
  }
}

/** The inputs of a PR preview deploy of the example app's preview overlay. */
const previewInputs = (extra: Record<string, string>): Record<string, string> => ({
  image: image(),
  digest,
  kustomize: 'k8s/overlays/preview',
  'image-name': 'registry.example/demo/web',
  preview: 'true',
  environment: 'preview',
  'github-token': 'ghs_standintoken',
  timeout: '3m',
  ...extra
})

describe('PR preview environment, opened to closed', () => {
  const number = randomInt(10_000, 99_999)
  const ns = `pr-${number}`
  const pr = (action: string, sha: string) => ({ action, number, pull_request: { number, head: { ref: 'feature/x', sha }, base: { ref: 'main' } } })
  const inputs = (extra: Record<string, string> = {}) => previewInputs({ 'environment-url': 'https://pr-{number}.preview.example.test', ...extra })

  // The PR exists on GitHub before any workflow runs for it.
  beforeAll(() => {
    gh.addPull(owner, name, { number, head: { ref: 'feature/x', sha: '1'.repeat(40) } })
  })
  afterAll(() => deleteNamespace(ns))

  it('deploys the PR into its own namespace and comments once', async () => {
    const run = await runAction(inputs(), { env: githubEnv('pull_request', pr('opened', '1'.repeat(40)), '1'.repeat(40)), cwd: checkout })
    expect(errorLines(run.log)).toEqual([])
    expect(run.outputs).toMatchObject({ status: 'succeeded', namespace: ns, url: `https://pr-${number}.preview.example.test` })
    const deployment = await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])
    expect(deployment.metadata.labels['kube-ship.dev/pr']).toBe(String(number))
    expect(deployment.spec.replicas).toBe(1)
    const comments = gh.commentsOn(owner, name, number)
    expect(comments).toHaveLength(1)
    expect(comments[0].body).toContain(digest)
    expect(run.outputs['comment-id']).toBe(String(comments[0].id))
    const [d] = gh.state.deployments
    expect(d).toMatchObject({ environment: `preview/pr-${number}`, transient_environment: true })
    expect(d.statuses.map(s => s.state)).toEqual(['in_progress', 'success'])
    expect(d.statuses[1].environment_url).toBe(`https://pr-${number}.preview.example.test`)
    expect(run.log.replaceAll('::add-mask::ghs_standintoken', '')).not.toContain('ghs_standintoken')
    expect(comments[0].body).not.toContain('ghs_standintoken')
    expect(gh.violations).toEqual([])
  })

  it('a new push to the PR updates the same comment', async () => {
    const before = gh.commentsOn(owner, name, number)[0]
    const run = await runAction(inputs(), { env: githubEnv('pull_request', pr('synchronize', '2'.repeat(40)), '2'.repeat(40)), cwd: checkout })
    expect(errorLines(run.log)).toEqual([])
    const comments = gh.commentsOn(owner, name, number)
    expect(comments).toHaveLength(1)
    expect(comments[0].id).toBe(before.id)
    expect(comments[0].body).toContain('2'.repeat(12))
    expect(gh.violations).toEqual([])
  })

  it('closing the PR removes the namespace, deactivates the environment and says so', async () => {
    const run = await runAction(inputs({ mode: 'cleanup' }), { env: githubEnv('pull_request', pr('closed', '2'.repeat(40)), '2'.repeat(40)), cwd: checkout })
    expect(errorLines(run.log)).toEqual([])
    expect(run.outputs.status).toBe('cleaned-up')
    expect((await kubectlResult(['get', 'namespace', ns])).code).not.toBe(0)
    expect(gh.state.deployments.every(d => d.statuses.at(-1)?.state === 'inactive')).toBe(true)
    const comments = gh.commentsOn(owner, name, number)
    expect(comments).toHaveLength(1)
    expect(comments[0].body).toMatch(/clean/i)
    // closed twice (a re-run): nothing left to delete, still no error
    const again = await runAction(inputs({ mode: 'cleanup' }), { env: githubEnv('pull_request', pr('closed', '2'.repeat(40)), '2'.repeat(40)), cwd: checkout })
    expect(errorLines(again.log)).toEqual([])
    expect(again.outputs.status).toBe('cleaned-up')
    expect(gh.violations).toEqual([])
  })
})

describe('PR preview with prune', () => {
  const number = randomInt(100_000, 199_999)
  const ns = `pr-${number}`
  const pr = (action: string, sha: string) => ({ action, number, pull_request: { number, head: { ref: 'feature/p', sha }, base: { ref: 'main' } } })
  const inputs = (extra: Record<string, string> = {}) => previewInputs({ prune: 'true', ...extra })
  let withoutIngress: string
  beforeAll(() => {
    gh.addPull(owner, name, { number, head: { ref: 'feature/p', sha: '6'.repeat(40) } })
    // The PR's next commit drops the Ingress from the base.
    withoutIngress = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-gh-prune-'))
    fs.cpSync(checkout, withoutIngress, { recursive: true })
    const base = path.join(withoutIngress, 'k8s/base/kustomization.yaml')
    fs.writeFileSync(base, fs.readFileSync(base, 'utf8').replace('  - ingress.yaml\n', ''))
  })
  afterAll(async () => {
    await deleteNamespace(ns)
    fs.rmSync(withoutIngress, { recursive: true, force: true })
  })

  it('the objects of a preview form its set in its namespace; a removed object is pruned there; cleanup still deletes the namespace', async () => {
    const opened = await runAction(inputs(), { env: githubEnv('pull_request', pr('opened', '6'.repeat(40)), '6'.repeat(40)), cwd: checkout })
    expect(errorLines(opened.log)).toEqual([])
    const parent = (await kubectlJson(['-n', ns, 'get', 'configmaps', '-l', 'applyset.kubernetes.io/id'])).items
    expect(parent).toHaveLength(1)
    const id = parent[0].metadata.labels['applyset.kubernetes.io/id']
    for (const what of ['deployment/web', 'service/web', 'ingress/web']) expect((await kubectlJson(['-n', ns, 'get', what])).metadata.labels['applyset.kubernetes.io/part-of']).toBe(id)

    const pushed = await runAction(inputs(), { env: { ...githubEnv('pull_request', pr('synchronize', '7'.repeat(40)), '7'.repeat(40)), GITHUB_WORKSPACE: withoutIngress }, cwd: withoutIngress })
    expect(errorLines(pushed.log)).toEqual([])
    expect((await kubectlResult(['-n', ns, 'get', 'ingress', 'web'])).code).not.toBe(0)
    expect(pushed.summary).toContain(`deleted: <code>Ingress/${ns}/web</code>`)
    expect((await kubectlResult(['-n', ns, 'get', 'deployment', 'web'])).code).toBe(0)

    const closed = await runAction(inputs({ mode: 'cleanup' }), { env: githubEnv('pull_request', pr('closed', '7'.repeat(40)), '7'.repeat(40)), cwd: withoutIngress })
    expect(errorLines(closed.log)).toEqual([])
    expect((await kubectlResult(['get', 'namespace', ns])).code).not.toBe(0)
    expect(gh.violations).toEqual([])
  })
})

describe('deploy on merge', () => {
  let namespace: string
  beforeAll(async () => {
    namespace = await freshNamespace('merge')
  })
  afterAll(() => deleteNamespace(namespace))

  it('finds the merged PR from the commit and comments on it', async () => {
    const number = randomInt(100_000, 999_999)
    const sha = '3'.repeat(40)
    gh.addPull(owner, name, { number, head: { ref: 'feature/y', sha: '4'.repeat(40) }, merge_commit_sha: sha, merged_at: new Date().toISOString(), state: 'closed' })
    const run = await runAction(
      { image: image(), digest, kustomize: 'k8s/overlays/production', 'image-name': 'registry.example/demo/web', namespace, environment: `merge-${number}`, 'github-token': 'ghs_standintoken', timeout: '3m' },
      { env: githubEnv('push', { ref: 'refs/heads/main', after: sha }, sha), cwd: checkout }
    )
    expect(errorLines(run.log)).toEqual([])
    expect(run.outputs.status).toBe('succeeded')
    await waitFor('the deployment', async () => (await kubectlJson(['-n', namespace, 'get', 'deployment', 'web'])).status.availableReplicas === 3)
    const comments = gh.commentsOn(owner, name, number)
    expect(comments).toHaveLength(1)
    expect(comments[0].body).toContain(`merge-${number}`)
    expect(gh.violations).toEqual([])
  })
})

describe('write-back that fails after a good rollout', () => {
  let namespace: string
  let work: string
  beforeAll(async () => {
    namespace = await freshNamespace('wbfail')
    // A real remote whose pre-receive hook refuses every push: the checks before the deploy
    // (work tree, branch, remote readable) pass, the push after the rollout fails.
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-wb-'))
    const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=dev', '-c', 'user.email=dev@example.com', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    git(work, 'init', '--quiet', '--bare', '--initial-branch=main', 'remote.git')
    git(work, 'clone', '--quiet', path.join(work, 'remote.git'), 'app')
    const app = path.join(work, 'app')
    fs.cpSync(path.join(repo, 'examples/app'), app, { recursive: true })
    git(app, 'checkout', '--quiet', '-b', 'main')
    git(app, 'add', '.')
    git(app, 'commit', '--quiet', '-m', 'seed')
    git(app, 'push', '--quiet', 'origin', 'main')
    fs.writeFileSync(path.join(work, 'remote.git/hooks/pre-receive'), '#!/bin/sh\necho "error: GH006: Protected branch update failed for refs/heads/main." >&2\nexit 1\n', { mode: 0o755 })
  })
  afterAll(async () => {
    await deleteNamespace(namespace)
    fs.rmSync(work, { recursive: true, force: true })
  })

  it('fails the job with the write-back line, while the cluster and the GitHub Deployment say the new version runs', async () => {
    const app = path.join(work, 'app')
    const environment = `wbfail-${randomInt(1e9)}`
    const sha = '5'.repeat(40)
    const run = await runAction(
      { image: image(), digest, kustomize: 'k8s/overlays/production', 'image-name': 'registry.example/demo/web', namespace, environment, 'write-back': 'commit', 'github-token': 'ghs_standintoken', timeout: '3m' },
      { env: { ...githubEnv('push', { ref: 'refs/heads/main', after: sha }, sha), GITHUB_WORKSPACE: app, GITHUB_REF_NAME: 'main' }, cwd: app }
    )
    expect(run.code).not.toBe(0)
    const errors = errorLines(run.log)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/write-back failed after a good rollout \(the cluster runs the new version\): git push to origin main failed: .*GH006: Protected branch update failed/)
    expect(errors[0].match(/input 'write-back'/g)).toHaveLength(1)
    const live = await kubectlJson(['-n', namespace, 'get', 'deployment', 'web'])
    expect(live.spec.template.spec.containers[0].image).toBe(`${image()}@${digest}`)
    expect(live.status.updatedReplicas).toBe(3)
    // what GitHub shows for the environment: the deploy succeeded
    const deployment = gh.state.deployments.find(d => d.environment === environment)
    expect(deployment?.statuses.at(-1)?.state).toBe('success')
    expect(run.summary).toContain('write-back failed after a good rollout')
    expect(gh.violations).toEqual([])
  })
})

