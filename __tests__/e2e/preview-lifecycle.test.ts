// A PR preview from open to close against the local control plane: the labelled namespace and
// objects are applied by the real apply stage, the report goes to the GitHub stand-in, cleanup
// deletes the namespace and watches until it is gone, and a second cleanup changes nothing.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { randomInt } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getOctokit } from '@actions/github'
import { DeployError, describeError } from '../../src/errors.js'
import { applyObjects } from '../../src/kube/apply.js'
import { loadKubeConfig } from '../../src/kube/client.js'
import type { Manifest } from '../../src/manifests/types.js'
import { cleanupPreview, runCleanup } from '../../src/preview/cleanup.js'
import { PREVIEW_LABEL, previewManifests, resolvePreview } from '../../src/preview/index.js'
import { beginReport, publishReport, type ReportContext } from '../../src/report/index.js'
import type { GitHubContext } from '../../src/github.js'
import { newReport } from '../../src/report/model.js'
import { startGitHub, type GitHubStandIn } from '../../test/github/server.js'
import { deleteNamespace, freshNamespace, kubectlJson, kubectlResult, stack } from './stack.js'

// testTimeout is a global jest option, not a project one: namespace deletion needs more than 5s
jest.setTimeout(300_000)

const number = randomInt(100_000, 999_999)
const owner = 'acme'
const repo = 'shop'
const github: GitHubContext = {
  eventName: 'pull_request',
  sha: 'b'.repeat(40),
  repo: { owner, repo },
  payload: { action: 'opened', number, pull_request: { number, head: { ref: 'feature/preview', sha: 'b'.repeat(40) } } },
  serverUrl: 'https://github.com',
  runId: 77
}
const settings = { previewNamespace: 'pr-{number}', environment: 'preview-{number}', environmentUrl: 'https://pr-{number}.preview.example.test' }

const doc = (object: Manifest['object']): Manifest => ({ object, origin: { file: 'k8s/app.yaml', line: 1 } })
const manifests: Manifest[] = [
  doc({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config' }, data: { GREETING: 'hi' } }),
  doc({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } }),
  doc({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'registry.example/demo/web@sha256:' + 'c'.repeat(64) }] } }
    }
  })
]

let gh: GitHubStandIn
let summaryDir: string
let ctx: ReportContext

beforeAll(async () => {
  gh = await startGitHub()
  gh.addPull(owner, repo, { number, head: { ref: 'feature/preview', sha: github.sha } })
  summaryDir = mkdtempSync(join(tmpdir(), 'kube-ship-preview-'))
  process.env.GITHUB_STEP_SUMMARY = join(summaryDir, 'summary.md')
  writeFileSync(process.env.GITHUB_STEP_SUMMARY, '')
  ctx = {
    github,
    octokit: getOctokit('ghs_test_token', { baseUrl: gh.url }),
    settings: { comment: 'auto', githubToken: 'ghs_test_token', preview: true, mode: 'deploy' }
  }
})
afterAll(async () => {
  await gh.stop()
  rmSync(summaryDir, { recursive: true, force: true })
  await deleteNamespace(`pr-${number}`)
})

const admin = () => loadKubeConfig({}, { KUBECONFIG: stack().kubeconfig })

describe('preview lifecycle', () => {
  const preview = resolvePreview(settings, github)

  it('deploys into a labelled namespace and reports on the PR', async () => {
    expect(preview).toMatchObject({ namespace: `pr-${number}`, environment: `preview-${number}`, url: `https://pr-${number}.preview.example.test` })
    const session = await beginReport(preview.environment, ctx, preview.url)
    const applied = await applyObjects(admin(), previewManifests(manifests, preview), { namespace: preview.namespace })
    expect(applied.map(a => [a.resource, a.change])).toEqual([
      [`Namespace/pr-${number}`, 'created'],
      [`ConfigMap/pr-${number}/web-config`, 'created'],
      [`Service/pr-${number}/web`, 'created'],
      [`Deployment/pr-${number}/web`, 'created']
    ])
    const labelled = await kubectlJson<{ items: { kind: string; metadata: { name: string } }[] }>(
      ['get', 'configmap,service,deployment', '-n', preview.namespace, '-l', `${PREVIEW_LABEL}=${number}`]
    )
    expect(labelled.items.map(i => `${i.kind}/${i.metadata.name}`).sort()).toEqual(['ConfigMap/web-config', 'Deployment/web', 'Service/web'])

    const report = newReport({ environment: preview.environment, mode: 'deploy', strategy: 'rolling', namespace: preview.namespace, url: preview.url })
    // The run's verdict (src/status.ts decides it in main; a new report starts as failed).
    report.status = 'succeeded'
    report.endedAt = new Date().toISOString()
    const published = await publishReport(report, ctx, session)
    expect(published.commentId).toBeDefined()
    expect(gh.state.deployments.map(d => [d.environment, d.transient_environment, d.statuses.map(s => s.state)])).toEqual([
      [`preview-${number}`, true, ['in_progress', 'success']]
    ])
  })

  it('cleanup deletes the namespace with its objects and waits until it is gone', async () => {
    const report = newReport({ environment: 'preview', mode: 'cleanup', strategy: 'rolling' })
    const result = await runCleanup(admin(), preview, report, { timeoutMs: 240_000 })
    expect(result).toEqual({ namespace: preview.namespace, deleted: true })
    expect(report).toMatchObject({ status: 'cleaned-up', environment: `preview-${number}`, resources: [{ kind: 'Namespace', name: preview.namespace, change: 'deleted' }] })
    const after = await kubectlResult(['get', 'namespace', preview.namespace])
    expect(after.stderr).toMatch(/NotFound|not found/)

    await publishReport(report, { ...ctx, settings: { ...ctx.settings, mode: 'cleanup' } })
    const comments = gh.commentsOn(owner, repo, number)
    expect(comments).toHaveLength(1)
    expect(comments[0].body).toContain(`### ✅ Preview preview-${number} removed`)
    expect(gh.state.deployments[0].statuses.at(-1)?.state).toBe('inactive')
  })

  it('a second cleanup is a no-op', async () => {
    const report = newReport({ environment: 'preview', mode: 'cleanup', strategy: 'rolling' })
    await expect(runCleanup(admin(), preview, report)).resolves.toEqual({ namespace: preview.namespace, deleted: false })
    expect(report).toMatchObject({ status: 'cleaned-up', resources: [], warnings: [`namespace pr-${number} was already gone; nothing to delete`] })
  })

  it('never deletes a namespace that is not this PR’s preview', async () => {
    const other = await freshNamespace('not-a-preview')
    try {
      const err = await cleanupPreview(admin(), { namespace: other, number }).catch(e => e)
      expect(err).toBeInstanceOf(DeployError)
      expect(describeError(err)).toBe(
        `input 'preview-namespace': not deleting namespace ${other}: it is not the preview of PR #${number} (label ${PREVIEW_LABEL} is missing) (cleanup deletes only namespaces a preview deploy of the same PR created)`
      )
      expect((await kubectlResult(['get', 'namespace', other])).code).toBe(0)
    } finally {
      await deleteNamespace(other)
    }
  })

  it('gives up on a namespace stuck terminating with one line saying why', async () => {
    const stuck = { number: number + 1, namespace: `pr-${number + 1}`, labels: { [PREVIEW_LABEL]: String(number + 1) } }
    const held = doc({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held', finalizers: ['kube-ship.dev/test-hold'] }, data: {} })
    await applyObjects(admin(), previewManifests([held], stuck), { namespace: stuck.namespace })
    try {
      // the namespace controller's conditions (naming the finalizer) may not be there yet after 3s
      const err = await cleanupPreview(admin(), stuck, { timeoutMs: 3_000 }).catch(e => e)
      expect(describeError(err)).toMatch(
        new RegExp(`^Namespace/pr-${number + 1}: namespace pr-${number + 1} is still terminating after \\d+s(: .*)? \\(an object inside may have a finalizer`)
      )
    } finally {
      await kubectlResult(['-n', stuck.namespace, 'patch', 'configmap', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}'])
      await deleteNamespace(stuck.namespace)
    }
  })

  it('says in one line when the kubeconfig may not read namespaces', async () => {
    const restricted = loadKubeConfig({}, { KUBECONFIG: stack().restrictedKubeconfig })
    const err = await cleanupPreview(restricted, { namespace: preview.namespace, number }).catch(e => e)
    expect(describeError(err)).toMatch(new RegExp(`^Namespace/pr-${number}: forbidden: system:serviceaccount:team-a:kube-ship-deployer cannot get namespaces`))
  })

  afterAll(() => {
    expect(gh.violations).toEqual([])
  })
})
