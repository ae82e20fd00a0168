import { describe, expect, it } from '@jest/globals'
import { DeployError } from '../../src/errors.js'
import { readSettings } from '../../src/inputs.js'
import { checkNamespace } from '../../src/kube/names.js'
import { expandTemplate, labelPreview, previewManifests, resolvePreview } from '../../src/preview/index.js'
import type { GitHubContext } from '../../src/github.js'

const pr = (number: number | undefined, branch = 'feature/Login_Page', repo = 'Shop.Web'): GitHubContext => ({
  eventName: number ? 'pull_request' : 'push',
  sha: 'a'.repeat(40),
  repo: { owner: 'acme', repo },
  payload: number ? { number, pull_request: { number, head: { ref: branch } } } : {},
  serverUrl: 'https://github.com',
  runId: 1
})

const settings = (over: Partial<{ previewNamespace: string; environment: string; environmentUrl: string }> = {}) => ({
  previewNamespace: 'pr-{number}',
  environment: 'preview',
  environmentUrl: undefined as string | undefined,
  ...over
})

/** The one line a person would read, or the value. */
function outcome<T>(fn: () => T): T | string {
  try {
    return fn()
  } catch (err) {
    return err instanceof DeployError ? `ERROR ${err.line()}` : `THROWN ${String(err)}`
  }
}

describe('resolvePreview', () => {
  it.each<[string, ReturnType<typeof settings>, GitHubContext, Record<string, unknown> | string]>([
    ['defaults', settings(), pr(12), { namespace: 'pr-12', environment: 'preview/pr-12', url: undefined, labels: { 'kube-ship.dev/pr': '12' } }],
    ['repo and branch made label-safe', settings({ previewNamespace: '{repo}-{branch}-{number}' }), pr(7), { namespace: 'shop-web-feature-login-page-7' }],
    ['environment with a placeholder', settings({ environment: 'pr-{number}' }), pr(7), { environment: 'pr-7' }],
    [
      'URL from the template, namespace included',
      settings({ environmentUrl: 'https://{namespace}.preview.example.com/?b={branch}' }),
      pr(7),
      { url: 'https://pr-7.preview.example.com/?b=feature-login-page' }
    ],
    [
      'a long branch is shortened to fit 63',
      settings({ previewNamespace: '{branch}-{number}' }),
      pr(123, 'x'.repeat(80)),
      { namespace: `${'x'.repeat(59)}-123` }
    ],
    ['unknown placeholder', settings({ previewNamespace: 'pr-{pr}' }), pr(1), "ERROR input 'preview-namespace': unknown placeholder {pr} in 'pr-{pr}'; use {number}, {repo}, {branch}"],
    [
      'uppercase literal',
      settings({ previewNamespace: 'PR-{number}' }),
      pr(1),
      "ERROR input 'preview-namespace': namespace 'PR-1' (from 'PR-{number}') is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit"
    ],
    [
      'too long',
      settings({ previewNamespace: `${'n'.repeat(62)}-{number}` }),
      pr(1),
      `ERROR input 'preview-namespace': namespace '${'n'.repeat(62)}-1' (from '${'n'.repeat(62)}-{number}') is 64 characters; the limit is 63`
    ],
    ['unknown placeholder in the URL', settings({ environmentUrl: 'https://{host}/' }), pr(1), "ERROR input 'environment-url': unknown placeholder {host} in 'https://{host}/'; use {number}, {repo}, {branch}, {namespace}"],
    ['URL that is not http', settings({ environmentUrl: 'pr-{number}.example.com' }), pr(1), "ERROR input 'environment-url': 'pr-1.example.com' is not an http(s) URL"],
    [
      'not a pull request event',
      settings(),
      pr(undefined),
      "ERROR input 'preview': a preview needs a pull_request event to name the PR, and this run is 'push' (run it 'on: pull_request' (types opened, synchronize, reopened, closed))"
    ]
  ])('%s', (_name, s, ctx, expected) => {
    const got = outcome(() => resolvePreview(s, ctx))
    if (typeof expected === 'string') expect(got).toBe(expected)
    else expect(got).toMatchObject(expected)
  })
})

describe('checkNamespace', () => {
  it.each([
    ['pr-1', 'pr-1'],
    ['a', 'a'],
    ['-a', "ERROR input 'namespace': namespace '-a' is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit"],
    ['prod_eu', "ERROR input 'namespace': namespace 'prod_eu' is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit"],
    ['', "ERROR input 'namespace': namespace '' is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit"]
  ])('%s', (name, expected) => {
    expect(outcome(() => checkNamespace(name, 'namespace'))).toBe(expected)
  })
})

describe('expandTemplate', () => {
  it.each([
    ['no placeholder', 'static', 'static'],
    ['repeated', '{n}-{n}', '5-5'],
    ['empty braces', 'a{}b', "ERROR input 'x': unknown placeholder {} in 'a{}b'; use {n}"]
  ])('%s', (_name, template, expected) => {
    expect(outcome(() => expandTemplate(template, { n: '5' }, 'x'))).toBe(expected)
  })
})

describe('labels', () => {
  const preview = resolvePreview(settings(), pr(12))
  it('adds the PR label without touching the input', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels: { app: 'web' } } }
    expect(labelPreview(cm, preview).metadata.labels).toEqual({ app: 'web', 'kube-ship.dev/pr': '12' })
    expect(cm.metadata.labels).toEqual({ app: 'web' })
  })

  it('puts the labelled namespace first and does not repeat one the manifests declare', () => {
    const docs = [
      { object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'pr-12' } }, origin: { file: 'k8s/ns.yaml', line: 1 } },
      { object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' } }, origin: { file: 'k8s/svc.yaml', line: 1 } }
    ]
    expect(previewManifests(docs, preview).map(m => [m.object.kind, m.object.metadata.name, m.object.metadata.labels])).toEqual([
      ['Namespace', 'pr-12', { 'kube-ship.dev/pr': '12' }],
      ['Service', 'web', { 'kube-ship.dev/pr': '12' }]
    ])
  })
})

describe('a preview stays in its namespace', () => {
  const preview = resolvePreview(settings(), pr(12))
  const doc = (metadata: Record<string, string>, kind = 'ConfigMap') => ({ object: { apiVersion: 'v1', kind, metadata: { name: 'c', ...metadata } }, origin: { file: 'k8s/app.yaml', line: 7 } })
  it.each<[string, Record<string, string>, string | undefined]>([
    ['no namespace: the preview one is used', {}, undefined],
    ['the preview namespace itself', { namespace: 'pr-12' }, undefined],
    ['another namespace is refused with file:line', { namespace: 'prod' }, "ERROR k8s/app.yaml:7: ConfigMap/c names namespace prod; a preview deploys only into pr-12 (remove metadata.namespace (or the overlay's namespace:) for previews)"]
  ])('%s', (_n, metadata, expected) => {
    expect(outcome(() => void previewManifests([doc(metadata)], preview))).toBe(expected)
  })
})

describe('the namespace input', () => {
  it.each([
    ['web', 'web'],
    ['', undefined],
    ['Prod', "ERROR input 'namespace': namespace 'Prod' is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit"]
  ])('%j', (value, expected) => {
    expect(outcome(() => readSettings(name => (name === 'namespace' ? value : '')).namespace)).toBe(expected)
  })
})
