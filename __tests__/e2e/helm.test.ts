// Helm charts through the real Helm 4 (built by the stack) against the local control plane:
// a `helm create` chart and the example app's chart (pre-install/pre-upgrade hook Job, a CRD in
// crds/, a vendored subchart, values files) rendered with the cluster's real capabilities and
// pinned; OCI charts pushed with `helm push` to the open and the authenticated registry; and
// the whole pipeline: deploy, re-deploy unchanged, upgrade with a hook, a failing hook stopping
// the run before the release changes, a crashing version rolled back, diff, canary, and the
// takeover of a release `helm upgrade --install` made.
import { beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { parse } from 'yaml'
import { describeError } from '../../src/errors.js'
import { parseReference } from '../../src/image/reference.js'
import { clusterCapabilities } from '../../src/kube/capabilities.js'
import type { Capabilities } from '../../src/manifests/chart.js'
import { type ManifestSettings, renderManifests } from '../../src/manifests/index.js'
import type { ChartSettings } from '../../src/inputs.js'
import { adminKc } from './deliver-fixtures.js'
import { copyChart, errors, exampleChart, helmOk, pushImage, runPipeline } from './helm-fixtures.js'
import { kubectl, kubectlJson, kubectlResult, SIM_LABEL, stack, suiteNamespaces } from './stack.js'

const sink = { warning: () => undefined, error: () => undefined, notice: () => undefined }
const chartSettings = (chart: Partial<ChartSettings> & { chart: string }): ChartSettings => ({ values: [], set: [], setString: [], ...chart })
const settings = (chart: ChartSettings, imageName?: string): ManifestSettings => ({ kustomize: [], manifests: [], policy: 'off', chart, imageName })

let capabilities: Capabilities
let digest: string
const REPO = () => `${stack().registry}/e2e/helm-web`
const image = () => ({ ref: parseReference(REPO()), digest })

beforeAll(async () => {
  capabilities = await clusterCapabilities(adminKc())
  digest = await pushImage('e2e/helm-web', 'v1', 'render')
})

async function render(cwd: string, chart: ChartSettings, opts: { imageName?: string; namespace?: string; helmPath?: string } = {}) {
  return renderManifests(settings(chart, opts.imageName), image(), {
    cwd,
    sink,
    chart: { namespace: opts.namespace ?? 'shop', capabilities, helm: opts.helmPath ?? stack().helm }
  })
}

async function renderError(cwd: string, chart: ChartSettings, opts: { helmPath?: string } = {}): Promise<string> {
  try {
    await render(cwd, chart, opts)
  } catch (err) {
    return describeError(err)
  }
  throw new Error('expected the render to fail')
}

describe('rendering with the real helm template', () => {
  let created: { dir: string }

  beforeAll(async () => {
    created = { dir: fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'kube-ship-helm-create-')) }
    await helmOk(['create', 'hello'], { cwd: created.dir })
  })

  it('a `helm create` chart: its objects in Helm order, the test hook left out, the app image pinned', async () => {
    const r = await render(created.dir, chartSettings({ chart: 'hello' }), { imageName: 'nginx' })
    expect(r.documents.map(d => `${d.object.kind}/${d.object.metadata.name}`)).toEqual(['ServiceAccount/hello', 'Service/hello', 'Deployment/hello'])
    expect(r.hooks).toEqual([]) // templates/tests/test-connection.yaml is a test hook
    const deployment = r.documents.find(d => d.object.kind === 'Deployment')!
    expect(deployment.origin.file).toBe('hello/templates/deployment.yaml')
    expect((deployment.object as any).spec.template.spec.containers[0].image).toBe(`${REPO()}@${digest}`)
    expect(r.pinned).toEqual([{ resource: 'Deployment/hello', container: 'hello', from: expect.stringMatching(/^nginx:/), to: `${REPO()}@${digest}` }])
    expect(r.chart).toMatchObject({ name: 'hello', version: '0.1.0', release: 'hello', upgrade: false })
  })

  it("the example chart: the cluster's capabilities, CRDs first, values files in order, subchart image kept, hooks apart and pinned", async () => {
    const { dir } = copyChart(exampleChart, 'chart')
    const r = await render(dir, chartSettings({ chart: 'chart', values: ['chart/values-production.yaml'], release: 'shop' }), { imageName: 'registry.example/demo/web' })
    const byName = (kind: string, name: string) => r.documents.find(d => d.object.kind === kind && d.object.metadata.name === name)!.object as any
    expect(r.documents[0].object.kind).toBe('CustomResourceDefinition')
    const caps = byName('ConfigMap', 'shop-capabilities').data
    const version = JSON.parse(await kubectl(['get', '--raw', '/version'])).gitVersion
    expect(caps).toEqual({ kubeVersion: version, gatewayApi: 'true', namespace: 'shop' })
    // The same chart through a bare `helm template` says Helm's defaults instead.
    const bare = parse((await helmOk(['template', 'shop', 'chart', '--show-only', 'templates/capabilities.yaml'], { cwd: dir })).replace(/^---\n/, '')) as { data: Record<string, string> }
    expect(bare.data.gatewayApi).toBe('false')
    expect(bare.data.kubeVersion).not.toBe(version)

    expect(byName('Deployment', 'shop').spec.replicas).toBe(3) // values-production.yaml over values.yaml
    expect(byName('Deployment', 'shop').spec.template.spec.containers[0].image).toBe(`${REPO()}@${digest}`)
    expect(byName('Deployment', 'shop-cache').spec.template.spec.containers[0].image).toBe('registry.example/demo/cache:7')
    expect(byName('Ingress', 'shop').spec.rules[0].host).toBe('web.example.com')
    expect(r.documents.find(d => d.object.kind === 'Deployment' && d.object.metadata.name === 'shop-cache')!.origin.file).toBe('chart/charts/cache/templates/deployment.yaml')

    expect(r.hooks.map(h => [h.manifest.object.metadata.name, h.events.join(','), h.weight])).toEqual([
      ['shop-migrate', 'pre-install,pre-upgrade', -5],
      ['shop-notify', 'post-install,post-upgrade', 0]
    ])
    const migrate = r.hooks[0].manifest.object as any
    expect(migrate.spec.template.spec.containers[0].image).toBe(`${REPO()}@${digest}`)
    expect(r.pinned.map(p => p.resource).sort()).toEqual(['Deployment/shop', 'Job/shop-migrate'])
    expect(r.documents.some(d => /test-connection/.test(d.object.metadata.name))).toBe(false)
  })

  it.each([
    ['a missing chart directory', { chart: 'nope' }, /^input 'chart': chart directory 'nope' not found \(no nope\/Chart\.yaml\)/],
    ['a version the directory is not', { chart: 'chart', version: '9.9.9' }, /^input 'chart-version': chart 'chart' is version 0\.1\.0, not '9\.9\.9'$/],
    ['a missing values file', { chart: 'chart', values: ['chart/values-staging.yaml'] }, /^input 'values': values file 'chart\/values-staging\.yaml' does not exist$/],
    ['a release name Helm refuses', { chart: 'chart', release: 'Shop' }, /^input 'release': 'Shop' is not a valid release name/]
  ])('%s: one line, before helm runs', async (_what, chart, line) => {
    const { dir } = copyChart(exampleChart, 'chart')
    expect(await renderError(dir, chartSettings(chart))).toMatch(line)
  })

  it('a template error names the template file and line Helm names', async () => {
    const { dir, chart } = copyChart(exampleChart, 'chart')
    const file = path.join(chart, 'templates/service.yaml')
    const lines = fs.readFileSync(file, 'utf8').split('\n')
    lines.splice(7, 0, '  broken: {{ .Values.nope.deeper }}')
    fs.writeFileSync(file, lines.join('\n'))
    const line = await renderError(dir, chartSettings({ chart: 'chart' }))
    expect(line).toMatch(/^chart\/templates\/service\.yaml:8:\d+: .*web\/templates\/service\.yaml:8:\d+ .*executing .* nil pointer evaluating interface \{\}\.deeper$/)
  })

  it('a missing vendored dependency says what Helm says', async () => {
    const { dir, chart } = copyChart(exampleChart, 'chart')
    fs.rmSync(path.join(chart, 'charts'), { recursive: true })
    expect(await renderError(dir, chartSettings({ chart: 'chart' }))).toMatch(/^input 'chart': .*missing in charts\/ directory: cache/)
  })

  it('no helm on PATH: one line saying so', async () => {
    const { dir } = copyChart(exampleChart, 'chart')
    expect(await renderError(dir, chartSettings({ chart: 'chart' }), { helmPath: 'helm-not-installed' })).toMatch(/^input 'chart': helm is not on PATH \(looked for 'helm-not-installed'\)/)
  })
})

describe('OCI charts pushed with helm push', () => {
  let pkg: string
  let dir: string

  beforeAll(async () => {
    ;({ dir } = copyChart(exampleChart, 'chart'))
    await helmOk(['package', 'chart', '--destination', dir], { cwd: dir })
    pkg = path.join(dir, 'web-0.1.0.tgz')
    expect(fs.existsSync(pkg)).toBe(true)
    await helmOk(['push', pkg, `oci://${stack().registry}/charts`, '--plain-http'])
    const { authRegistry, authUser, authPassword } = stack()
    await helmOk(['registry', 'login', authRegistry, '--username', authUser, '--password-stdin', '--plain-http'], { input: authPassword })
    await helmOk(['push', pkg, `oci://${authRegistry}/charts`, '--plain-http'])
    await helmOk(['registry', 'logout', authRegistry])
  })

  it('renders oci://127.0.0.1:…/charts/web at a version, pulled once, the same objects as the directory', async () => {
    const fromOci = await render(dir, chartSettings({ chart: `oci://${stack().registry}/charts/web`, version: '0.1.0' }), { imageName: 'registry.example/demo/web' })
    const fromDir = await render(dir, chartSettings({ chart: 'chart' }), { imageName: 'registry.example/demo/web' })
    expect(fromOci.documents.map(d => d.object)).toEqual(fromDir.documents.map(d => d.object))
    expect(fromOci.hooks.map(h => h.manifest.object)).toEqual(fromDir.hooks.map(h => h.manifest.object))
    expect(fromOci.chart).toMatchObject({ name: 'web', version: '0.1.0', source: `oci://${stack().registry}/charts/web` })
    expect(fromOci.documents.find(d => d.object.kind === 'Service')!.origin.file).toBe(`oci://${stack().registry}/charts/web templates/service.yaml`)
  })

  it('the authenticated registry: with chart-username/chart-password it renders; without, one line', async () => {
    const { authRegistry, authUser, authPassword } = stack()
    const chart = `oci://${authRegistry}/charts/web`
    const ok = await render(dir, chartSettings({ chart, version: '0.1.0', username: authUser, password: authPassword }))
    expect(ok.documents.length).toBeGreaterThan(3)
    const line = await renderError(dir, chartSettings({ chart, version: '0.1.0' }))
    expect(line).toMatch(/^input 'chart': helm could not fetch chart 'oci:\/\/127\.0\.0\.1:\d+\/charts\/web': .*(401|unauthorized|basic credential not found)/i)
    expect(line).not.toContain(authPassword)
  })

  it.each([
    ['a version not pushed', { version: '9.9.9' }, /^input 'chart-version': chart 'oci:\/\/127\.0\.0\.1:\d+\/charts\/web' has no version '9\.9\.9'/],
    ['a chart not pushed', { chart: 'nothing-here', version: '0.1.0' }, /^input 'chart': chart 'oci:\/\/127\.0\.0\.1:\d+\/charts\/nothing-here' not found/]
  ])('%s: one line', async (_what, extra: { chart?: string; version: string }, line) => {
    const chart = `oci://${stack().registry}/charts/${extra.chart ?? 'web'}`
    expect(await renderError(dir, chartSettings({ chart, version: extra.version }))).toMatch(line)
  })
})

describe('the pipeline with a chart', () => {
  const namespaces = suiteNamespaces()
  let ns: string
  let checkout: string
  const digests: string[] = []
  const inputs = (extra: Record<string, string> = {}) => ({
    image: `${stack().registry}/e2e/helm-app`,
    chart: 'chart',
    values: 'chart/values-production.yaml',
    release: 'shop',
    'image-name': 'registry.example/demo/web',
    namespace: ns,
    timeout: '3m',
    comment: 'never',
    'github-deployment': 'false',
    ...extra
  })
  const deployment = async (name = 'shop') => kubectlJson(['-n', ns, 'get', 'deployment', name])
  const liveImage = async () => (await deployment()).spec.template.spec.containers[0].image

  beforeAll(async () => {
    ns = await namespaces('helm-pipeline')
    ;({ dir: checkout } = copyChart(exampleChart, 'chart'))
    for (const seed of ['one', 'two', 'three', 'four', 'five']) digests.push(await pushImage('e2e/helm-app', seed, `pipeline-${seed}`))
  })

  it('deploys: pre-install hook, CRD before its Widget, the release, post-install hook deleted; no Helm release Secret', async () => {
    const r = await runPipeline(inputs({ digest: digests[0] }), { cwd: checkout })
    expect(errors(r.log)).toEqual([])
    expect(r.outputs.status).toBe('succeeded')
    expect(await liveImage()).toBe(`${stack().registry}/e2e/helm-app@${digests[0]}`)
    const migrate = await kubectlJson(['-n', ns, 'get', 'job', 'shop-migrate'])
    expect(migrate.spec.template.spec.containers[0].image).toBe(`${stack().registry}/e2e/helm-app@${digests[0]}`)
    expect(migrate.status.succeeded).toBe(1)
    expect((await kubectlResult(['-n', ns, 'get', 'job', 'shop-notify'])).code).not.toBe(0) // hook-succeeded
    expect(r.log).toMatch(/pre-install hook Job\/[^ ]+\/shop-migrate created[\s\S]*Widget\/[^ ]+\/shop created[\s\S]*post-install hook Job\/[^ ]+\/shop-notify created/)
    expect(JSON.parse(r.outputs.resources).map((x: { kind: string }) => x.kind)).toEqual(expect.arrayContaining(['CustomResourceDefinition', 'Widget', 'Deployment', 'Ingress']))
    expect((await kubectlJson(['-n', ns, 'get', 'secrets', '-l', 'owner=helm'])).items).toEqual([])
    expect(r.summary).toContain('<code>web 0.1.0</code> from <code>chart</code> as release <code>shop</code>, values <code>chart/values-production.yaml</code>, hooks')
    expect(r.summary).toMatch(/shop-migrate<\/code> pre-install ok.*shop-notify<\/code> post-install ok/)
  })

  it('a re-deploy of the same digest changes nothing', async () => {
    const r = await runPipeline(inputs({ digest: digests[0] }), { cwd: checkout })
    expect(errors(r.log)).toEqual([])
    expect(JSON.parse(r.outputs.resources).map((x: { change: string }) => x.change)).toEqual(JSON.parse(r.outputs.resources).map(() => 'unchanged'))
    expect(r.log).toContain('(upgrade)')
  })

  it('upgrades: the pre-upgrade hook runs the new image to completion before the Deployment changes', async () => {
    const r = await runPipeline(inputs({ digest: digests[1] }), { cwd: checkout })
    expect(errors(r.log)).toEqual([])
    expect(r.log).toMatch(/pre-upgrade hook Job\/[^ ]+\/shop-migrate created[\s\S]*job "shop-migrate" completed[\s\S]*Deployment\/[^ ]+\/shop configured/)
    const migrate = await kubectlJson(['-n', ns, 'get', 'job', 'shop-migrate'])
    expect(migrate.spec.template.spec.containers[0].image).toBe(`${stack().registry}/e2e/helm-app@${digests[1]}`)
    expect(await liveImage()).toBe(`${stack().registry}/e2e/helm-app@${digests[1]}`)
  })

  it('a failing pre-upgrade hook fails the run with its events, before the release changes', async () => {
    const before = await deployment()
    const r = await runPipeline(inputs({ digest: digests[2], set: `migrate.podLabels.${SIM_LABEL.replace(/\./g, '\\.')}=crashloop` }), { cwd: checkout })
    expect(r.code).toBe(1)
    expect(r.outputs.status).toBe('failed')
    const [line] = errors(r.log)
    expect(line).toMatch(/Job\/[^ ]+\/shop-migrate: pre-upgrade hook failed: CrashLoopBackOff/)
    const after = await deployment()
    expect(after.metadata.generation).toBe(before.metadata.generation)
    expect(after.spec.template.spec.containers[0].image).toBe(`${stack().registry}/e2e/helm-app@${digests[1]}`)
    expect(r.summary).toMatch(/shop-migrate[\s\S]*BackOff/)
  })

  it('a crashing version is rolled back to the one before', async () => {
    const r = await runPipeline(inputs({ digest: digests[2], set: `podLabels.${SIM_LABEL.replace(/\./g, '\\.')}=crashloop` }), { cwd: checkout })
    expect(r.outputs.status).toBe('rolled-back')
    expect(await liveImage()).toBe(`${stack().registry}/e2e/helm-app@${digests[1]}`)
  })

  it('diff mode shows the chart change and changes nothing; hooks are not run', async () => {
    const migrateBefore = (await kubectlJson(['-n', ns, 'get', 'job', 'shop-migrate'])).metadata.uid
    const r = await runPipeline(inputs({ digest: digests[3], mode: 'diff' }), { cwd: checkout })
    expect(errors(r.log)).toEqual([])
    expect(r.outputs.status).toBe('diff')
    expect(r.outputs.diff).toMatch(new RegExp(`^\\+\\s+image: ${stack().registry}/e2e/helm-app@${digests[3]}$`, 'm'))
    expect(r.log).toContain('pre-upgrade hooks are not run in mode diff')
    expect(await liveImage()).toBe(`${stack().registry}/e2e/helm-app@${digests[1]}`)
    expect((await kubectlJson(['-n', ns, 'get', 'job', 'shop-migrate'])).metadata.uid).toBe(migrateBefore)
  })

  it("a canary on the chart's Deployment, beside the chart's Ingress, then promoted", async () => {
    const r = await runPipeline(inputs({ digest: digests[4], strategy: 'canary', 'canary-steps': '50:1s' }), { cwd: checkout })
    expect(errors(r.log)).toEqual([])
    expect(r.outputs.status).toBe('succeeded')
    expect(r.outputs['canary-weight']).toBe('0')
    expect(r.log).toMatch(/Canary 50% .* via Ingress\/[\s\S]*Canary promoted/)
    expect(await liveImage()).toBe(`${stack().registry}/e2e/helm-app@${digests[4]}`)
    expect((await kubectlResult(['-n', ns, 'get', 'deployment', 'shop-canary'])).code).not.toBe(0)
  })
})

describe('taking over a release that helm upgrade --install made', () => {
  const namespaces = suiteNamespaces()

  it("applies over Helm's objects, names Helm's field manager in the warning, and leaves Helm's release Secret as it was", async () => {
    const ns = await namespaces('helm-takeover')
    const { dir: checkout } = copyChart(exampleChart, 'chart')
    await helmOk(['upgrade', '--install', 'shop', 'chart', '--namespace', ns, '--set', 'image.tag=helm-made'], { cwd: checkout })
    const secrets = async () => (await kubectlJson(['-n', ns, 'get', 'secrets', '-l', 'owner=helm'])).items.map((s: any) => s.metadata.name)
    expect(await secrets()).toEqual(['sh.helm.release.v1.shop.v1'])
    const managers = (await kubectlJson(['-n', ns, 'get', 'deployment', 'shop', '--show-managed-fields'])).metadata.managedFields.map((f: any) => f.manager)
    expect(managers).toContain('helm')

    const d = await pushImage('e2e/helm-app', 'takeover', 'takeover')
    const r = await runPipeline(
      { image: `${stack().registry}/e2e/helm-app`, digest: d, chart: 'chart', release: 'shop', 'image-name': 'registry.example/demo/web', namespace: ns, timeout: '3m', comment: 'never', 'github-deployment': 'false' },
      { cwd: checkout }
    )
    expect(errors(r.log)).toEqual([])
    expect(r.outputs.status).toBe('succeeded')
    expect(r.log).toMatch(/::warning::Deployment\/[^ ]+\/shop: took over fields from another manager: conflict with "helm"/)
    const live = await kubectlJson(['-n', ns, 'get', 'deployment', 'shop'])
    expect(live.spec.template.spec.containers[0].image).toBe(`${stack().registry}/e2e/helm-app@${d}`)
    expect(await secrets()).toEqual(['sh.helm.release.v1.shop.v1'])
  })
})

