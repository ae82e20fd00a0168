// Secrets never leave the cluster, tried through the bundled action on the local stack: a diff of
// a changed Secret, kubeconfig credentials given as the input, a health URL with a password and a
// token, build secrets that must reach a RUN step, log tails kept out of the PR comment, and bad
// inputs that must stop the run before anything happens. Every secret below is a fresh random
// string, so finding it anywhere it should not be can only mean it leaked.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash, randomBytes, randomInt } from 'node:crypto'
import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { parse } from 'yaml'
import { getOctokit } from '@actions/github'
import { startGitHub, type GitHubStandIn } from '../../test/github/server.js'
import { registerSecret } from '../../src/redact.js'
import { publishReport } from '../../src/report/index.js'
import { type DeployReport, newReport } from '../../src/report/model.js'
import { errorLines, runAction, type ActionRun } from './action.js'
import { deleteNamespace, freshNamespace, kubectl, kubectlJson, kubectlResult, run, stack } from './stack.js'

const owner = 'acme'
const name = 'vault'
const b64 = (s: string): string => Buffer.from(s).toString('base64')
const fresh = (label: string): string => `${label}-${randomBytes(9).toString('hex')}`
let gh: GitHubStandIn
let checkout: string

beforeAll(async () => {
  gh = await startGitHub()
  checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-secrets-'))
})
afterAll(async () => {
  await gh.stop()
  fs.rmSync(checkout, { recursive: true, force: true })
})

/** What the runner shows: `::add-mask::` commands are consumed by the runner, never printed. */
const visible = (log: string): string =>
  log
    .split('\n')
    .filter(l => !l.startsWith('::add-mask::'))
    .join('\n')
const masks = (log: string): string[] => log.split('\n').filter(l => l.startsWith('::add-mask::')).map(l => l.slice('::add-mask::'.length))

function githubEnv(number: number): Record<string, string> {
  const sha = randomBytes(20).toString('hex')
  const file = path.join(checkout, `event-${randomInt(1e9)}.json`)
  fs.writeFileSync(file, JSON.stringify({ action: 'synchronize', number, pull_request: { number, head: { ref: 'feature/s', sha }, base: { ref: 'main' } } }))
  gh.addPull(owner, name, { number, head: { ref: 'feature/s', sha } })
  return {
    GITHUB_API_URL: gh.url,
    GITHUB_REPOSITORY: `${owner}/${name}`,
    GITHUB_EVENT_NAME: 'pull_request',
    GITHUB_EVENT_PATH: file,
    GITHUB_SHA: sha,
    GITHUB_RUN_ID: '777',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_WORKSPACE: checkout
  }
}

/** Every place a run writes text a person (or the public) can read. */
function everywhere(r: ActionRun, comments: string[]): Record<string, string> {
  return { log: visible(r.log), post: visible(r.postLog), outputs: JSON.stringify(r.outputs), summary: r.summary, comment: comments.join('\n') }
}

function expectAbsent(places: Record<string, string>, secrets: string[]): void {
  for (const [where, text] of Object.entries(places)) for (const s of secrets) expect({ where, leaked: text.includes(s) ? s : undefined }).toEqual({ where, leaked: undefined })
}

describe('mode diff of a Secret, with the admin kubeconfig given as the input', () => {
  let ns: string
  let r: ActionRun
  let comments: string[]
  const number = randomInt(10_000, 99_999)
  const old = fresh('old-password')
  const changed = fresh('new-password')
  const same = fresh('db-user')
  const added = fresh('api-token')
  const adminKubeconfig = () => fs.readFileSync(stack().kubeconfig, 'utf8')
  const keyData = () => (parse(adminKubeconfig()) as { users: { user: Record<string, string> }[] }).users[0].user['client-key-data']

  beforeAll(async () => {
    ns = await freshNamespace('secrets-diff')
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: ns }, data: { password: b64(old), user: b64(same) } })
    })
    fs.mkdirSync(path.join(checkout, 'diff'), { recursive: true })
    fs.writeFileSync(
      path.join(checkout, 'diff/secret.yaml'),
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  user: ${b64(same)}\nstringData:\n  password: ${changed}\n  api-token: ${added}\n`
    )
    r = await runAction(
      { manifests: 'diff/secret.yaml', namespace: ns, mode: 'diff', kubeconfig: adminKubeconfig(), 'github-token': 'ghs_standintoken', environment: `diff-${number}` },
      { env: githubEnv(number), cwd: checkout }
    )
    comments = gh.commentsOn(owner, name, number).map(c => c.body)
  })
  afterAll(() => deleteNamespace(ns))

  it('shows that the Secret changed, with keys and masks only', () => {
    expect(errorLines(r.log)).toEqual([])
    expect(r.outputs.status).toBe('diff')
    const diff = r.outputs.diff
    expect(diff).toContain(`--- live/Secret/${ns}/db`)
    expect(diff).toContain('-  password: "*** (before)"')
    expect(diff).toContain('+  password: "*** (after)"')
    expect(diff).toContain('+  api-token: "***"')
    expect(diff).toContain('   user: "***"')
    expect(comments).toHaveLength(1)
    expect(comments[0]).toContain('*** (after)')
    expect(r.summary).toContain('*** (after)')
    expect(gh.violations).toEqual([])
  })

  it('puts no value in the log, the diff output, the summary or the PR comment', () => {
    expectAbsent(everywhere(r, comments), [old, changed, same, added, b64(old), b64(changed), b64(same), b64(added)])
  })

  it('changes nothing in the cluster', async () => {
    const live = await kubectlJson(['-n', ns, 'get', 'secret', 'db'])
    expect(live.data).toEqual({ password: b64(old), user: b64(same) })
  })

  it('masks the kubeconfig key on its own, not the file line by line', () => {
    const m = masks(r.log)
    expect(m).toContain(keyData())
    expect(m).not.toContain('apiVersion: v1')
    expect(m.some(l => l.startsWith('clusters:') || l.startsWith('kind:'))).toBe(false)
    expectAbsent(everywhere(r, comments), [keyData()])
  })
})

describe('a deploy with a token kubeconfig and a health URL carrying credentials', () => {
  const cm = fresh('secrets-health').slice(0, 40)
  const password = fresh('probe-pass')
  const token = fresh('qs-token')
  let seen: { auth?: string; url?: string }[] = []
  let server: http.Server
  let r: ActionRun
  const deployerKubeconfig = () => fs.readFileSync(stack().restrictedKubeconfig, 'utf8')
  const bearer = () => (parse(deployerKubeconfig()) as { users: { user: Record<string, string> }[] }).users[0].user.token

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ auth: req.headers.authorization, url: req.url })
      const ok = req.headers.authorization === `Basic ${b64(`probe-user:${password}`)}` && req.url === `/healthz?token=${token}`
      res.writeHead(ok ? 204 : 401).end()
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    fs.mkdirSync(path.join(checkout, 'health'), { recursive: true })
    fs.writeFileSync(path.join(checkout, 'health/cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${cm}\ndata:\n  a: "1"\n`)
    seen = []
    r = await runAction(
      { manifests: 'health/cm.yaml', namespace: 'team-a', kubeconfig: deployerKubeconfig(), 'health-url': `http://probe-user:${password}@127.0.0.1:${port}/healthz?token=${token}=204`, lock: 'false', comment: 'never', 'github-deployment': 'false' },
      { cwd: checkout, env: { GITHUB_WORKSPACE: checkout } }
    )
  })
  afterAll(async () => {
    server.close()
    await kubectlResult(['-n', 'team-a', 'delete', 'configmap', cm, '--ignore-not-found'])
  })

  it('probes with the credentials (Basic auth, the query kept)', () => {
    expect(errorLines(r.log)).toEqual([])
    expect(r.outputs.status).toBe('succeeded')
    expect(seen.at(-1)).toEqual({ auth: `Basic ${b64(`probe-user:${password}`)}`, url: `/healthz?token=${token}` })
  })

  it('reports the URL redacted and leaks neither the password, the token nor the bearer token', () => {
    // the renderer writes * as &#42; so markdown cannot turn it into emphasis
    expect(r.summary).toMatch(/http:\/\/(&#42;){3}@127\.0\.0\.1:\d+\/healthz\?token=(&#42;){3}/)
    expectAbsent(everywhere(r, []), [password, token, bearer(), b64(`probe-user:${password}`)])
  })

  it('masks the bearer token by itself, and not the kubeconfig lines', () => {
    const m = masks(r.log)
    expect(m).toContain(bearer())
    expect(m).toContain(password)
    expect(m).toContain(token)
    expect(m).not.toContain('apiVersion: v1')
  })
})

describe('build secrets reach the RUN step and nothing else', () => {
  const value = fresh('npm-token')
  const fileValue = fresh('netrc-line')
  const dir = () => path.join(checkout, 'build')
  const image = () => `${stack().registry}/e2e/secrets-build`
  let ok: ActionRun

  // BuildKit leaves secrets out of its cache keys: a nonce build-arg makes every run execute the
  // RUN step again instead of reusing the first run's result.
  // A static checker COPYed into a scratch image (there is no base image offline): it exits 0 only
  // when /run/secrets/<id> holds what hashes to the expected sha256, so the build succeeds only
  // if buildx handed BuildKit that exact secret.
  beforeAll(async () => {
    fs.mkdirSync(dir(), { recursive: true })
    const src = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-check-'))
    fs.writeFileSync(path.join(src, 'go.mod'), 'module check\n\ngo 1.21\n')
    fs.writeFileSync(
      path.join(src, 'main.go'),
      `package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
)

// check ID SHA256...: each /run/secrets/ID must hash to its SHA256.
func main() {
	for i := 1; i+1 < len(os.Args); i += 2 {
		b, err := os.ReadFile("/run/secrets/" + os.Args[i])
		sum := sha256.Sum256(b)
		if err != nil || hex.EncodeToString(sum[:]) != os.Args[i+1] {
			fmt.Println("secret", os.Args[i], "is not the expected one")
			os.Exit(1)
		}
	}
}
`
    )
    const built = await run('go', ['build', '-C', src, '-trimpath', '-o', path.join(dir(), 'check'), '.'], {
      env: { ...process.env, CGO_ENABLED: '0', GOPROXY: 'off', GOFLAGS: '' },
      timeoutMs: 300_000
    })
    expect(built).toMatchObject({ code: 0, stderr: '' })
    fs.rmSync(src, { recursive: true, force: true })
    const sha = (s: string) => createHash('sha256').update(s).digest('hex')
    fs.writeFileSync(
      path.join(dir(), 'Dockerfile'),
      `FROM scratch\nCOPY check /check\nARG nonce\nRUN --mount=type=secret,id=npm,required=true --mount=type=secret,id=netrc,required=true ["/check", "npm", "${sha(value)}", "netrc", "${sha(fileValue)}"]\n`
    )
    fs.writeFileSync(path.join(checkout, 'netrc.txt'), fileValue, { mode: 0o600 })
    ok = await runAction(
      // the stack's dockerd has no bridge network: RUN steps need network none
      { image: image(), context: 'build', tags: 'ok', network: 'none', 'build-args': `nonce=${fresh('n')}`, secrets: `npm=${value}`, 'secret-files': 'netrc=netrc.txt' },
      { env: { DOCKER_HOST: stack().dockerHost, GITHUB_SHA: 'b'.repeat(40) }, cwd: checkout }
    )
  })

  it('builds and pushes when the RUN step sees both secrets', () => {
    expect(errorLines(ok.log)).toEqual([])
    expect(ok.code).toBe(0)
    expect(ok.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
  })

  it('fails when the secret is not the one the RUN step expects (the check is real)', async () => {
    const bad = await runAction(
      { image: image(), context: 'build', tags: 'bad', network: 'none', 'build-args': `nonce=${fresh('n')}`, secrets: `npm=${fresh('wrong')}`, 'secret-files': 'netrc=netrc.txt' },
      { env: { DOCKER_HOST: stack().dockerHost, GITHUB_SHA: 'b'.repeat(40) }, cwd: checkout }
    )
    expect(bad.code).not.toBe(0)
    expect(errorLines(bad.log).join('\n')).toMatch(/docker buildx build failed/)
  })

  it('keeps the values off the command line, out of the log and out of the image', async () => {
    expectAbsent(everywhere(ok, []), [value, fileValue])
    expect(masks(ok.log)).toContain(value)
    // the command line the log echoes names files only
    expect(ok.log).toMatch(/--secret id=npm,src=\S+secret-0/)
    // the image config holds the history (every RUN line) and the environment
    const registry = `http://${stack().registry}/v2/e2e/secrets-build`
    const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'
    const manifest = (await (await fetch(`${registry}/manifests/${ok.outputs.digest}`, { headers: { Accept: accept } })).json()) as { config: { digest: string } }
    const config = await (await fetch(`${registry}/blobs/${manifest.config.digest}`)).text()
    expect(config).toContain('/check')
    expect(config).not.toContain(value)
    expect(config).not.toContain(fileValue)
  })
})

describe('bad inputs stop the run before any work', () => {
  let ns: string
  beforeAll(async () => {
    ns = `secrets-never-${randomBytes(3).toString('hex')}`
    fs.mkdirSync(path.join(checkout, 'plain'), { recursive: true })
    fs.writeFileSync(path.join(checkout, 'plain/cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: never\ndata:\n  a: "1"\n')
  })
  afterAll(() => deleteNamespace(ns))

  it.each([
    [{ timeout: '0' }, 'timeout'],
    [{ timeout: '1000h' }, 'timeout'],
    [{ timeout: '9999h' }, 'timeout'],
    [{ 'health-url': 'http://[::1' }, 'health-url'],
    [{ 'health-url': 'https://=200' }, 'health-url'],
    [{ strategy: 'canary', 'canary-header': 'X Canary' }, 'canary-header'],
    [{ 'image-name': 'Not A Name' }, 'image-name'],
    [{ image: `${'a'.repeat(64)}` }, 'image'],
    [{ image: `127.0.0.1:5310/x@md5:${'a'.repeat(32)}` }, 'image'],
    [{ image: '127.0.0.1:5310/e2e/never', push: 'false' }, 'push']
  ])('%j', async (bad, input) => {
    const r = await runAction(
      { manifests: 'plain/cm.yaml', namespace: ns, context: '.', tags: 'x', ...bad },
      { cwd: checkout, env: { KUBECONFIG: stack().kubeconfig, DOCKER_HOST: stack().dockerHost, GITHUB_WORKSPACE: checkout } }
    )
    const errors = errorLines(r.log)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(`input '${input}'`)
    expect(r.code).not.toBe(0)
    // nothing ran: no build, no group of any stage, no namespace
    expect(r.log).not.toMatch(/::group::|buildx/)
    expect((await kubectlResult(['get', 'namespace', ns])).code).not.toBe(0)
  })
})

describe('a kustomize render error', () => {
  it('is one line with paths relative to the workspace', async () => {
    fs.mkdirSync(path.join(checkout, 'kz/overlays/prod'), { recursive: true })
    fs.mkdirSync(path.join(checkout, 'kz/base'), { recursive: true })
    fs.writeFileSync(path.join(checkout, 'kz/overlays/prod/kustomization.yaml'), 'resources:\n- ../../base\n')
    fs.writeFileSync(path.join(checkout, 'kz/base/kustomization.yaml'), 'resources:\n- missing.yaml\n')
    const r = await runAction({ kustomize: 'kz/overlays/prod', namespace: 'team-a', mode: 'diff' }, { cwd: checkout, env: { KUBECONFIG: stack().kubeconfig, GITHUB_WORKSPACE: checkout } })
    const errors = errorLines(r.log)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain("kustomize failed to render overlay 'kz/overlays/prod'")
    expect(errors[0]).toContain('missing.yaml')
    expect(errors[0]).not.toContain(checkout)
    expect(errors[0].length).toBeLessThan(400)
  })
})

describe('log tails of crashing containers and the PR comment', () => {
  // The report stage in-process against the stand-in: kwok pods have no logs, so the log tail is
  // the one a real kubelet would have served, and it carries a registered secret.
  const dbPassword = fresh('dbpass')
  const tail = [`connecting to postgres://app:${dbPassword}@db:5432/app`, 'FATAL: password authentication failed']
  const report = (): DeployReport => {
    const r = newReport({ environment: 'logs', mode: 'deploy', strategy: 'rolling', status: 'failed', error: 'Deployment/web: CrashLoopBackOff' })
    r.diagnostics.push({ resource: 'Pod/team-a/web-1', reason: 'CrashLoopBackOff', message: 'back-off restarting', events: ['Warning BackOff: restarting failed container'], logTail: tail })
    return r
  }
  const context = (number: number, commentLogs: boolean) => ({
    github: {
      eventName: 'pull_request',
      sha: 'c'.repeat(40),
      repo: { owner, repo: name },
      payload: { action: 'synchronize', number, pull_request: { number, head: { ref: 'feature/l', sha: 'c'.repeat(40) } } },
      serverUrl: 'https://github.com',
      runId: 91,
      runAttempt: 1
    },
    octokit: getOctokit('ghs_test_token', { baseUrl: gh.url }),
    settings: { comment: 'auto' as const, githubToken: 'ghs_test_token', preview: false, mode: 'deploy' as const, githubDeployment: false, commentLogs }
  })
  let summaryFile: string
  beforeAll(() => {
    registerSecret(dbPassword)
    summaryFile = path.join(checkout, 'summary.md')
    process.env.GITHUB_STEP_SUMMARY = summaryFile
  })

  it.each([
    ['by default the comment links to the run, the summary has the (masked) tail', false],
    ['comment-logs: true puts the (masked) tail in the comment too', true]
  ])('%s', async (_, commentLogs) => {
    const number = randomInt(100_000, 999_999)
    gh.addPull(owner, name, { number, head: { ref: 'feature/l', sha: 'c'.repeat(40) } })
    fs.writeFileSync(summaryFile, '')
    await publishReport(report(), context(number, commentLogs))
    const [comment] = gh.commentsOn(owner, name, number).map(c => c.body)
    const summary = fs.readFileSync(summaryFile, 'utf8')
    expect(summary).toContain('connecting to postgres://app:***@db:5432/app')
    expect(comment.includes('FATAL: password authentication failed')).toBe(commentLogs)
    if (!commentLogs) expect(comment).toContain('Log tail (2 lines): in the job summary and log of <a href="https://github.com/acme/vault/actions/runs/91">the run</a>')
    expect(comment).toContain('Warning BackOff')
    expectAbsent({ summary, comment }, [dbPassword])
    expect(gh.violations).toEqual([])
  })
})
