// Ends off the happy path, through dist/index.js with the GitHub stand-in: a job cancelled
// mid-rollout (SIGINT, SIGTERM 7.5 s later, then SIGKILL, as the runner does) still writes its
// summary, comments, gives the GitHub Deployment a final status and says `cancelled`, then rolls
// back; a run whose deploy Lease another holder takes mid-rollout stops, restores the previous
// version and fails with one line naming the environment and the holder.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { randomInt } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { stringify } from 'yaml'
import { startGitHub, type GitHubStandIn } from '../../test/github/server.js'
import { lockName } from '../../src/kube/lock.js'
import { errorLines, runAction } from './action.js'
import { deleteNamespace, freshNamespace, kubectl, kubectlJson, kubectlResult, SIM_LABEL, stack, waitFor } from './stack.js'

const owner = 'acme'
const repo = 'shop'
let gh: GitHubStandIn
let dir: string

beforeAll(async () => {
  gh = await startGitHub()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-cancel-'))
})

afterAll(async () => {
  await gh.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

function web(tag: string, behavior?: string): string {
  return stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web', ...(behavior ? { [SIM_LABEL]: behavior } : {}) } },
        spec: { containers: [{ name: 'web', image: `${stack().registry}/e2e/cancel-web:${tag}` }] }
      }
    }
  })
}

/** A pull_request run's environment: the stand-in as GitHub, the PR's number in the event. */
function githubEnv(number: number, sha: string): Record<string, string> {
  const file = path.join(dir, `event-${randomInt(1e9)}.json`)
  fs.writeFileSync(file, JSON.stringify({ action: 'synchronize', number, pull_request: { number, head: { ref: 'feature/x', sha }, base: { ref: 'main' } } }))
  return {
    KUBECONFIG: stack().kubeconfig,
    GITHUB_API_URL: gh.url,
    GITHUB_REPOSITORY: `${owner}/${repo}`,
    GITHUB_EVENT_NAME: 'pull_request',
    GITHUB_EVENT_PATH: file,
    GITHUB_SHA: sha,
    GITHUB_RUN_ID: String(randomInt(1e6)),
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_WORKSPACE: dir
  }
}

const liveImage = async (ns: string): Promise<string> => (await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])).spec.template.spec.containers[0].image
/** The log line the rollout wait prints while the new pods are not ready. */
const waiting = /Deployment\/[^:\s]+\/web: .*(replicas|available|updated)/i

describe('cancel and a stolen lock', () => {
  let ns: string
  const number = randomInt(10_000, 99_999)
  const inputs = (environment: string) => ({ manifests: 'app.yaml', namespace: ns, environment, 'github-token': 'ghs_standintoken', timeout: '4m' })

  beforeAll(async () => {
    ns = await freshNamespace('cancel')
    gh.addPull(owner, repo, { number, head: { ref: 'feature/x', sha: '1'.repeat(40) } })
  })
  afterAll(() => deleteNamespace(ns))

  it('a cancelled rollout reports first (summary, comment, Deployment status, cancelled), then rolls back', async () => {
    const env = `cancel-${randomInt(1e6)}`
    fs.writeFileSync(path.join(dir, 'app.yaml'), web('v1'))
    const good = await runAction(inputs(env), { env: githubEnv(number, '1'.repeat(40)), cwd: dir })
    expect(errorLines(good.log)).toEqual([])
    expect(good.outputs.status).toBe('succeeded')
    const v1 = await liveImage(ns)

    fs.writeFileSync(path.join(dir, 'app.yaml'), web('v2', 'not-ready'))
    const deploymentsBefore = gh.state.deployments.length
    const run = await runAction(inputs(env), { env: githubEnv(number, '2'.repeat(40)), cwd: dir, cancel: { when: waiting } })
    expect(run.log).toMatch(/SIGINT received/)
    expect(run.outputs.status).toBe('cancelled')
    expect(run.code).not.toBe(0)
    expect(errorLines(run.log)).toEqual([expect.stringMatching(/the job was cancelled \(SIGINT\)/)])
    expect(run.log).not.toMatch(/timed out|aborted due to timeout/)
    // The report went out before the runner's SIGKILL.
    expect(run.summary).toMatch(/was cancelled/)
    const comments = gh.commentsOn(owner, repo, number)
    expect(comments).toHaveLength(1)
    expect(comments[0].body).toMatch(/was cancelled/)
    const [d] = gh.state.deployments.slice(deploymentsBefore)
    expect(d.statuses.map(s => s.state)).toEqual(['in_progress', 'failure'])
    expect(d.statuses[1].description).toMatch(/cancelled/)
    // Then the rollback: the previous version is back, and the lock is gone.
    await waitFor('the previous image back', async () => (await liveImage(ns)) === v1, 60_000)
    expect((await kubectlResult(['-n', ns, 'get', 'lease', lockName(env)])).code).not.toBe(0)
    expect(gh.violations).toEqual([])
  })

  it('a main step killed outright: the post step gives the Deployment its final status and releases the lock', async () => {
    const env = `killed-${randomInt(1e6)}`
    fs.writeFileSync(path.join(dir, 'app.yaml'), web('v6', 'not-ready'))
    const before = gh.state.deployments.length
    const run = await runAction(inputs(env), { env: githubEnv(number, '6'.repeat(40)), cwd: dir, cancel: { when: waiting, kill: true } })
    expect(run.code).toBe(137)
    const [d] = gh.state.deployments.slice(before)
    expect(run.postLog).toMatch(new RegExp(`GitHub Deployment ${d.id} \\(${env}\\) marked failure`))
    expect(d.statuses.map(s => s.state)).toEqual(['in_progress', 'failure'])
    expect(run.postLog).toMatch(/Released the deploy lock/)
    expect((await kubectlResult(['-n', ns, 'get', 'lease', lockName(env)])).code).not.toBe(0)
    expect(gh.violations).toEqual([])
  })

  it('a deadline names the stage and the timeout input, and the GitHub Deployment ends as failure', async () => {
    const env = `deadline-${randomInt(1e6)}`
    fs.writeFileSync(path.join(dir, 'app.yaml'), web('v5', 'not-ready'))
    const before = gh.state.deployments.length
    const run = await runAction({ ...inputs(env), timeout: '15s' }, { env: githubEnv(number, '5'.repeat(40)), cwd: dir })
    const lines = errorLines(run.log)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^::error::input 'timeout': the rollout stage did not finish within 15s; /)
    expect(run.log).not.toMatch(/operation was aborted/i)
    expect(['failed', 'rolled-back']).toContain(run.outputs.status)
    const [d] = gh.state.deployments.slice(before)
    expect(d.statuses.map(s => s.state)).toEqual(['in_progress', 'failure'])
  })

  it('a run whose Lease is taken mid-rollout stops, restores the previous version, and names the holder', async () => {
    const env = `steal-${randomInt(1e6)}`
    fs.writeFileSync(path.join(dir, 'app.yaml'), web('v3'))
    const good = await runAction(inputs(env), { env: githubEnv(number, '3'.repeat(40)), cwd: dir })
    expect(good.outputs.status).toBe('succeeded')
    const v3 = await liveImage(ns)

    fs.writeFileSync(path.join(dir, 'app.yaml'), web('v4', 'not-ready'))
    // While the rollout waits, another holder overwrites the Lease, as a second run or a person would.
    const thief = async (): Promise<void> => {
      const lease = await waitFor('the run holding the lease while it waits', async () => {
        const r = await kubectlResult(['-n', ns, 'get', 'lease', lockName(env), '-o', 'json'])
        return r.code === 0 && (await liveImage(ns)).endsWith(':v4') && JSON.parse(r.stdout)
      }, 120_000)
      const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
      lease.spec = { ...lease.spec, holderIdentity: 'someone-else/runs/9/1', acquireTime: now, renewTime: now }
      await kubectl(['replace', '-f', '-'], { input: JSON.stringify(lease) })
    }
    const [run] = await Promise.all([runAction(inputs(env), { env: githubEnv(number, '4'.repeat(40)), cwd: dir }), thief()])
    expect(run.code).not.toBe(0)
    const lines = errorLines(run.log)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`lost the deploy lock of environment '${env}': it is held by someone-else/runs/9/1 now`))
    expect(run.log).not.toMatch(/timed out waiting/)
    expect(['failed', 'rolled-back']).toContain(run.outputs.status)
    expect(await liveImage(ns)).toBe(v3)
    // Our release must not take the lease from its new holder.
    const lease = await kubectlJson(['-n', ns, 'get', 'lease', lockName(env)])
    expect(lease.spec.holderIdentity).toBe('someone-else/runs/9/1')
    expect(gh.violations).toEqual([])
  })
})
