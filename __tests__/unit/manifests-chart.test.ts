// The pure parts of the chart source: helm argv, splitting `helm template` output into release
// objects and hooks, Helm's hook order, its error lines, and the chart inputs.
import { describe, expect, it } from '@jest/globals'
import {
  chartKind,
  checkRelease,
  helmFailure,
  type Hook,
  hooksFor,
  parseHook,
  plainHttp,
  pullArgs,
  pullFailure,
  sourceFile,
  splitRendered,
  templateArgs
} from '../../src/manifests/chart.js'
import { versionSet } from '../../src/kube/capabilities.js'
import { waitsFor } from '../../src/kube/hooks.js'
import { readSettings } from '../../src/inputs.js'
import type { KubeObject } from '../../src/manifests/types.js'
import { errorLine } from './error-line.js'

const spec = { chart: 'oci://127.0.0.1:5310/charts/web', values: [], set: [], setString: [] }

describe('helm argv', () => {
  it.each([
    [{ chart: './charts/web' }, 'local'],
    [{ chart: 'web', repo: 'https://charts.example' }, 'repo'],
    [{ chart: 'oci://ghcr.io/acme/web' }, 'oci'],
    [{ chart: 'bitnami/nginx' }, 'local']
  ])('%j is a %s chart', (s, kind) => expect(chartKind(s)).toBe(kind))

  it.each([
    ['oci://127.0.0.1:5310/charts/web', true],
    ['oci://127.1.2.3/x', true],
    ['oci://localhost:5000/x', true],
    ['oci://ghcr.io/acme/web', false],
    ['oci://127.0.0.1.example.com/x', false],
    ['oci://1270.0.0.1/x', false]
  ])('%s plain HTTP: %s (Docker treats loopback registries as plain HTTP)', (chart, plain) => expect(plainHttp(chart)).toBe(plain))

  it('pull: untar into the directory, version, plain HTTP for loopback, credentials', () => {
    expect(pullArgs({ ...spec, version: '1.2.3', username: 'u', password: 'p' }, '/tmp/x')).toEqual([
      'pull', 'oci://127.0.0.1:5310/charts/web', '--untar', '--untardir', '/tmp/x', '--version', '1.2.3', '--plain-http', '--username', 'u', '--password', 'p'
    ])
    expect(pullArgs({ chart: 'web', repo: 'https://charts.example', values: [], set: [], setString: [] }, '/d')).toEqual([
      'pull', 'web', '--untar', '--untardir', '/d', '--repo', 'https://charts.example'
    ])
  })

  it('template: release, namespace, CRDs, no tests, capabilities, values in order, set lines verbatim', () => {
    const args = templateArgs(
      'web',
      '/w/chart',
      { values: ['a.yaml', 'b.yaml'], set: ['image.tag=1', 'list={a,b}'], setString: ['v=007'] },
      { namespace: 'prod', capabilities: { kubeVersion: 'v1.36.3', apiVersions: ['v1', 'apps/v1', 'apps/v1/Deployment'] }, upgrade: true, cwd: '/w' }
    )
    expect(args).toEqual([
      'template', 'web', '/w/chart', '--namespace', 'prod', '--include-crds', '--skip-tests', '--is-upgrade',
      '--kube-version', 'v1.36.3', '--api-versions', 'v1', '--api-versions', 'apps/v1', '--api-versions', 'apps/v1/Deployment',
      '--values', '/w/a.yaml', '--values', '/w/b.yaml', '--set', 'image.tag=1', '--set', 'list={a,b}', '--set-string', 'v=007'
    ])
    expect(templateArgs('r', 'c', { values: [], set: [], setString: [] }, { namespace: 'n' })).toEqual(['template', 'r', 'c', '--namespace', 'n', '--include-crds', '--skip-tests'])
  })
})

const obj = (kind: string, name: string, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: kind === 'Job' ? 'batch/v1' : 'v1',
  kind,
  metadata: { name, ...(annotations ? { annotations } : {}) }
})
const hook = (name: string, events: string, weight?: string, policy?: string): Hook => {
  const annotations: Record<string, string> = { 'helm.sh/hook': events }
  if (weight !== undefined) annotations['helm.sh/hook-weight'] = weight
  if (policy !== undefined) annotations['helm.sh/hook-delete-policy'] = policy
  const object = obj('Job', name, annotations)
  return { manifest: { object, origin: { file: 'x', line: 1 } }, ...parseHook(object)! }
}

describe('hooks', () => {
  it.each([
    [{}, undefined],
    [{ 'helm.sh/hook': 'pre-install, pre-upgrade' }, { events: ['pre-install', 'pre-upgrade'], weight: 0, deletePolicies: ['before-hook-creation'] }],
    [{ 'helm.sh/hook': 'post-upgrade', 'helm.sh/hook-weight': '-5', 'helm.sh/hook-delete-policy': 'hook-succeeded,hook-failed' }, { events: ['post-upgrade'], weight: -5, deletePolicies: ['hook-succeeded', 'hook-failed'] }],
    [{ 'helm.sh/hook': 'pre-install', 'helm.sh/hook-weight': 'x', 'helm.sh/hook-delete-policy': 'bogus' }, { events: ['pre-install'], weight: 0, deletePolicies: ['before-hook-creation'] }]
  ])('annotations %j → %j', (annotations, expected) => expect(parseHook(obj('Job', 'j', annotations))).toEqual(expected))

  it('runs an event by weight, then name; other events and tests are left out', () => {
    const hooks = [hook('zeta', 'pre-upgrade'), hook('migrate', 'pre-install,pre-upgrade', '-1'), hook('alpha', 'pre-upgrade'), hook('late', 'pre-upgrade', '10'), hook('test', 'test'), hook('after', 'post-upgrade')]
    expect(hooksFor(hooks, 'pre-upgrade').map(h => h.manifest.object.metadata.name)).toEqual(['migrate', 'alpha', 'zeta', 'late'])
    expect(hooksFor(hooks, 'pre-install').map(h => h.manifest.object.metadata.name)).toEqual(['migrate'])
    expect(hooksFor(hooks, 'post-install')).toEqual([])
  })

  it.each([
    ['batch/v1', 'Job', true],
    ['v1', 'Pod', true],
    ['v1', 'ConfigMap', false],
    ['apps/v1', 'Deployment', false]
  ])('%s %s is waited for: %s', (apiVersion, kind, yes) => expect(waitsFor({ apiVersion, kind })).toBe(yes))
})

describe('splitting helm template output', () => {
  const output = [
    '---',
    '# Source: web/crds/widgets.yaml',
    'apiVersion: apiextensions.k8s.io/v1',
    'kind: CustomResourceDefinition',
    'metadata: {name: widgets.example.com}',
    '---',
    '# Source: web/templates/service.yaml',
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    '  name: web',
    '---',
    '# Source: web/charts/cache/templates/deployment.yaml',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata: {name: cache}',
    '---',
    '# Source: web/templates/empty.yaml',
    '# nothing rendered here',
    '---',
    '# Source: web/templates/migrate.yaml',
    'apiVersion: batch/v1',
    'kind: Job',
    'metadata:',
    '  name: migrate',
    '  annotations:',
    '    "helm.sh/hook": pre-upgrade',
    ''
  ].join('\n')

  it('keeps Helm order, names each object by its template file, and takes hooks apart', () => {
    const { documents, hooks } = splitRendered(output, s => sourceFile('charts/web', s))
    expect(documents.map(d => [d.object.kind, d.origin.file])).toEqual([
      ['CustomResourceDefinition', 'charts/web/crds/widgets.yaml'],
      ['Service', 'charts/web/templates/service.yaml'],
      ['Deployment', 'charts/web/charts/cache/templates/deployment.yaml']
    ])
    expect(documents.every(d => d.origin.rendered)).toBe(true)
    expect(hooks.map(h => [h.manifest.object.metadata.name, h.events, h.manifest.origin.file])).toEqual([['migrate', ['pre-upgrade'], 'charts/web/templates/migrate.yaml']])
  })

  it('a document without a Source comment still loads', () => {
    expect(splitRendered('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n', s => s).documents[0].origin.file).toBe('helm template output')
  })
})

describe("Helm's errors as one line", () => {
  it.each([
    [
      'Error: template: web/templates/deployment.yaml:12:20: executing "web/templates/deployment.yaml" at <.Values.image.nope.x>: nil pointer evaluating interface {}.x\n\nUse --debug flag to render out invalid YAML\n',
      'charts/web/templates/deployment.yaml:12:20: template: web/templates/deployment.yaml:12:20: executing "web/templates/deployment.yaml" at <.Values.image.nope.x>: nil pointer evaluating interface {}.x'
    ],
    [
      'Error: parse error at (web/templates/_helpers.tpl:3): function "nope" not defined\n',
      'charts/web/templates/_helpers.tpl:3: parse error at (web/templates/_helpers.tpl:3): function "nope" not defined'
    ],
    [
      'Error: YAML parse error on web/templates/cm.yaml: error converting YAML to JSON: yaml: line 4: did not find expected key\n',
      'charts/web/templates/cm.yaml: YAML parse error on web/templates/cm.yaml: error converting YAML to JSON: yaml: line 4: did not find expected key'
    ],
    [
      'Error: web/templates/service.yaml:8:20\nexecuting "web/templates/service.yaml" at <.Values.nope.deeper>:\nnil pointer evaluating interface {}.deeper\n',
      'charts/web/templates/service.yaml:8:20: web/templates/service.yaml:8:20 | executing "web/templates/service.yaml" at <.Values.nope.deeper>: | nil pointer evaluating interface {}.deeper'
    ],
    ['Error: An error occurred while checking for chart dependencies.\nfound in Chart.yaml, but missing in charts/ directory: cache\n', "input 'chart': An error occurred while checking for chart dependencies. | found in Chart.yaml, but missing in charts/ directory: cache"]
  ])('%s', (stderr, line) => expect(helmFailure(stderr, 'charts/web', 'chart').line()).toBe(line))

  it.each([
    [{ ...spec, version: '9.9.9' }, 'Error: 127.0.0.1:5310/charts/web:9.9.9: not found', true, /^input 'chart-version': chart 'oci:\/\/127\.0\.0\.1:5310\/charts\/web' has no version '9\.9\.9'/],
    [{ ...spec, version: '9.9.9' }, 'Error: 127.0.0.1:5310/charts/web:9.9.9: not found', false, /^input 'chart': chart 'oci:\/\/127\.0\.0\.1:5310\/charts\/web' not found/],
    [{ ...spec, chart: 'web', repo: 'http://r', version: '2' }, 'Error: chart "web" version "2" not found in http://r repository', undefined, /^input 'chart-version': chart 'web' has no version '2' in repository http:\/\/r/],
    [spec, 'Error: 127.0.0.1:5310/charts/web:latest: not found', undefined, /^input 'chart': chart 'oci:\/\/127\.0\.0\.1:5310\/charts\/web' not found/],
    [spec, 'Error: unexpected status from HEAD request: 401 Unauthorized', undefined, /^input 'chart': helm could not fetch chart .*401 Unauthorized \(check chart-username/],
    [{ ...spec, version: '1' }, 'Error: failed to perform "FetchReference" on source: GET "http://x/v2/charts/web/manifests/1": basic credential not found\n', undefined, /^input 'chart': helm could not fetch chart .*basic credential not found \(check/]
  ])('pull %j: %s (chart exists: %s)', (s, stderr, exists, line) => expect(pullFailure(s, stderr, exists).line()).toMatch(line))

  it.each([
    ['web', undefined],
    ['my.web-1', undefined],
    ['Web', "'Web' is not a valid release name"],
    ['a'.repeat(54), 'longer than 53']
  ])('release %s', (name, problem) => (problem ? expect(checkRelease(name)).toContain(problem) : expect(checkRelease(name)).toBeUndefined()))
})

describe('chart inputs', () => {
  const reader = (values: Record<string, string>) => (name: string) => values[name] ?? ''
  it('reads the chart with its companions', () => {
    const s = readSettings(reader({ chart: 'oci://ghcr.io/acme/web', 'chart-version': '1.2.0', values: 'a.yaml\n b.yaml', set: 'image.tag=x\nreplicaCount=2', 'set-string': 'v=1', release: 'web-prod' }))
    expect(s.chart).toEqual({ chart: 'oci://ghcr.io/acme/web', version: '1.2.0', repo: undefined, values: ['a.yaml', 'b.yaml'], set: ['image.tag=x', 'replicaCount=2'], setString: ['v=1'], release: 'web-prod', username: undefined, password: undefined })
    expect(readSettings(reader({})).chart).toBeUndefined()
  })
  it.each([
    [{ values: 'a.yaml' }, "input 'values': values needs a chart in the chart input"],
    [{ chart: 'c', set: 'novalue' }, "input 'set': 'novalue' is not KEY=VALUE"],
    [{ chart: 'c', 'set-string': '=x' }, "input 'set-string': '=x' is not KEY=VALUE"],
    [{ chart: 'c', release: 'Prod' }, "input 'release': 'Prod' is not a release name"],
    [{ chart: 'c', 'chart-repo': 'charts.example' }, "input 'chart-repo': 'charts.example' is not a chart repository URL"],
    [{ chart: 'oci://x/y', 'chart-repo': 'https://r' }, "input 'chart-repo': an oci:// chart names its registry itself"],
    [{ chart: 'c', 'chart-username': 'u' }, "input 'chart-password': chart-username and chart-password must be given together"]
  ])('%j', (values, line) => expect(errorLine(() => readSettings(reader(values)))).toContain(line))
})

describe('capabilities', () => {
  it("builds Helm's version set: group versions and group/version/Kind, once each", () => {
    expect(versionSet(['v1', 'apps/v1'], new Map([['v1', ['Pod', 'Service']], ['apps/v1', ['Deployment', 'Deployment']]]))).toEqual([
      'apps/v1', 'apps/v1/Deployment', 'v1', 'v1/Pod', 'v1/Service'
    ])
  })
})
