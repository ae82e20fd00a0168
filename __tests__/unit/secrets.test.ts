// Secrets never leave the run: Secret values in diffs, credentials in kubeconfigs and URLs, log
// tails in the PR comment, build secrets on the command line. Pure parts, tables of cases.
import { describe, expect, it } from '@jest/globals'
import { KubeConfig } from '@kubernetes/client-node'
import { maskSecretPair, renderDiff, secretData, SECRET_MASK, SECRET_MASK_AFTER, SECRET_MASK_BEFORE } from '../../src/kube/diff.js'
import { kubeconfigSecrets } from '../../src/kube/credentials.js'
import { redactUrl, redactValues, urlSecrets } from '../../src/redact.js'
import { withoutCredentials } from '../../src/health/http.js'
import { buildPlan } from '../../src/image/build.js'
import { readSettings } from '../../src/inputs.js'
import { renderReport, SUMMARY_LIMIT, COMMENT_LIMIT } from '../../src/report/markdown.js'
import { newReport } from '../../src/report/model.js'
import { relativePaths, shortKustomizeMessage } from '../../src/manifests/render.js'
import type { KubeObject } from '../../src/manifests/types.js'

const b64 = (s: string): string => Buffer.from(s).toString('base64')
const secret = (data?: Record<string, string>, stringData?: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'db', namespace: 'team-a' },
  type: 'Opaque',
  ...(data ? { data } : {}),
  ...(stringData ? { stringData } : {})
})
const dataOf = (o: KubeObject | undefined): unknown => (o as { data?: unknown } | undefined)?.data

describe('maskSecretPair (kubectl diff masking)', () => {
  it.each([
    ['same value on both sides', { a: b64('x') }, { a: b64('x') }, { a: SECRET_MASK }, { a: SECRET_MASK }],
    ['changed value', { a: b64('x') }, { a: b64('y') }, { a: SECRET_MASK_BEFORE }, { a: SECRET_MASK_AFTER }],
    ['key added', {}, { a: b64('x') }, undefined, { a: SECRET_MASK }],
    ['key removed', { a: b64('x'), b: b64('y') }, { b: b64('y') }, { a: SECRET_MASK, b: SECRET_MASK }, { b: SECRET_MASK }],
    ['mixed', { same: b64('1'), changed: b64('2') }, { same: b64('1'), changed: b64('3'), added: b64('4') }, { same: SECRET_MASK, changed: SECRET_MASK_BEFORE }, { same: SECRET_MASK, changed: SECRET_MASK_AFTER, added: SECRET_MASK }]
  ])('%s', (_, live, planned, maskedLive, maskedPlanned) => {
    const out = maskSecretPair(secret(live), secret(planned))
    expect(dataOf(out.live)).toEqual(maskedLive)
    expect(dataOf(out.planned)).toEqual(maskedPlanned)
  })

  it('a new Secret is all ***', () => {
    const out = maskSecretPair(undefined, secret({ a: b64('x') }, { b: 'plain' }))
    expect(out.live).toBeUndefined()
    expect(dataOf(out.planned)).toEqual({ a: SECRET_MASK, b: SECRET_MASK })
    expect(out.planned).not.toHaveProperty('stringData')
  })

  it('folds stringData into data as the API server does: the same value moved is unchanged, a new one changed', () => {
    expect(dataOf(maskSecretPair(secret({ p: b64('hunter2') }), secret(undefined, { p: 'hunter2' })).planned)).toEqual({ p: SECRET_MASK })
    expect(dataOf(maskSecretPair(secret({ p: b64('hunter2') }), secret(undefined, { p: 'hunter3' })).planned)).toEqual({ p: SECRET_MASK_AFTER })
    // stringData wins over data for the same key, as on write
    expect(secretData(secret({ p: b64('old') }, { p: 'new' }))).toEqual({ p: b64('new') })
  })

  it('leaves other kinds and keys alone', () => {
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'visible' } }
    expect(maskSecretPair(cm, cm).planned).toBe(cm)
    const out = maskSecretPair(secret({ a: b64('x') }), secret({ a: b64('x') }))
    expect(out.planned).toMatchObject({ type: 'Opaque', metadata: { name: 'db' } })
  })

  it('renderDiff says that a Secret changed, never what it holds', () => {
    const values = ['s3cr3t-old', 's3cr3t-new', 'plain-string-data', 'added-value']
    const { text, changed } = renderDiff([
      {
        resource: 'Secret/team-a/db',
        live: secret({ password: b64(values[0]), user: b64('admin-user') }),
        planned: secret({ password: b64(values[1]), user: b64('admin-user'), token: b64(values[3]) }, { extra: values[2] })
      },
      { resource: 'Secret/team-a/same', live: secret({ k: b64('v-same') }), planned: secret({ k: b64('v-same') }) }
    ])
    expect(changed).toBe(1)
    // YAML quotes the masks (a bare * starts an alias)
    expect(text).toContain(`-  password: "${SECRET_MASK_BEFORE}"`)
    expect(text).toContain(`+  password: "${SECRET_MASK_AFTER}"`)
    expect(text).toContain(`+  token: "${SECRET_MASK}"`)
    expect(text).toContain(`+  extra: "${SECRET_MASK}"`)
    expect(text).toContain(`   user: "${SECRET_MASK}"`)
    for (const v of [...values, 'admin-user', 'v-same']) {
      expect(text).not.toContain(v)
      expect(text).not.toContain(b64(v))
    }
  })
})

describe('redaction', () => {
  it.each([
    ['https://user:pa55word@web.example.test/h', 'https://***@web.example.test/h'],
    ['https://ghp_tokenonly@web.example.test/h', 'https://***@web.example.test/h'],
    ['http://web/h?token=abc&x=1&api_key=k&X-Amz-Signature=s', 'http://web/h?token=***&x=1&api_key=***&X-Amz-Signature=***'],
    ['http://127.0.0.1:8080/healthz', 'http://127.0.0.1:8080/healthz'],
    ['http://web/h?page=2', 'http://web/h?page=2'],
    ['not a url', 'not a url']
  ])('redactUrl(%s)', (url, expected) => expect(redactUrl(url)).toBe(expected))

  it('urlSecrets finds the password and token values', () => {
    expect(urlSecrets('https://u:p%40ss@h/x?access_token=t0k&page=1')).toEqual(['p@ss', 't0k'])
  })

  it('redactValues replaces every line of every secret, longest first', () => {
    expect(redactValues('a hunter22 b hunter2 c', ['hunter2', 'hunter22'])).toBe('a *** b *** c')
    expect(redactValues('key line1x and line2y', ['line1x\nline2y'])).toBe('key *** and ***')
    // values too short to mask would blank out ordinary text; they are left
    expect(redactValues('a b', ['a'])).toBe('a b')
  })

  it('health probes send user:password@ as Basic auth (fetch refuses it in the URL)', () => {
    expect(withoutCredentials('http://u:p%40ss@h:1/x?y=1')).toEqual({ url: 'http://h:1/x?y=1', headers: { Authorization: `Basic ${b64('u:p@ss')}` } })
    expect(withoutCredentials('http://h/x')).toEqual({ url: 'http://h/x', headers: {} })
  })
})

describe('kubeconfigSecrets', () => {
  const key = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKeyBodyLineOne\nAwEHoUQDQgAEKeyBodyLineTwo\n-----END EC PRIVATE KEY-----\n'
  const kubeconfig = `
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: 'https://127.0.0.1:6443', certificate-authority-data: Q0FEQVRB, proxy-url: 'http://proxyuser:proxypass@127.0.0.1:3128'}
users:
- name: token-user
  user: {token: eyJhbGciOiJSUzI1NiJ9.tokenvalue}
- name: cert-user
  user: {client-certificate-data: Q0VSVERBVEE=, client-key-data: ${b64(key)}}
- name: basic-user
  user: {username: admin, password: basicpassword}
- name: exec-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
      args: [eks, get-token]
      env: [{name: AWS_SECRET_ACCESS_KEY, value: awssecretvalue}, {name: AWS_PROFILE, value: prod-profile}]
- name: oidc-user
  user:
    auth-provider:
      name: oidc
      config: {client-id: kube, client-secret: oidcclientsecret, id-token: oidcidtoken, refresh-token: oidcrefresh, idp-issuer-url: 'https://issuer.example'}
contexts:
- name: ctx
  context: {cluster: c, user: token-user}
current-context: ctx
`
  it('lists each credential value, and none of the structure', () => {
    const kc = new KubeConfig()
    kc.loadFromString(kubeconfig)
    const values = kubeconfigSecrets(kc.getUsers(), kc.getClusters())
    expect(values).toEqual(
      expect.arrayContaining([
        'eyJhbGciOiJSUzI1NiJ9.tokenvalue',
        b64(key),
        'MHcCAQEEIKeyBodyLineOne',
        'AwEHoUQDQgAEKeyBodyLineTwo',
        'basicpassword',
        'awssecretvalue',
        'prod-profile',
        'oidcclientsecret',
        'oidcidtoken',
        'oidcrefresh',
        'proxypass'
      ])
    )
    // what is not a credential stays readable in logs
    for (const v of ['apiVersion: v1', 'admin', 'kube', 'Q0VSVERBVEE=', 'https://issuer.example', 'aws', '-----BEGIN EC PRIVATE KEY-----']) expect(values).not.toContain(v)
    expect(values.every(v => !v.includes('\n'))).toBe(true)
  })
})

describe('pod log tails and the PR comment', () => {
  const report = newReport({ environment: 'production', mode: 'deploy', strategy: 'rolling', status: 'failed', runUrl: 'https://github.com/o/r/actions/runs/1' })
  report.diagnostics.push({ resource: 'Pod/team-a/web-1', reason: 'CrashLoopBackOff', message: 'back-off', events: ['Warning BackOff: restarting'], logTail: ['connecting to postgres://app:dbpass@db:5432/app', 'fatal: refused'] })

  it.each([
    ['summary (default)', { limit: SUMMARY_LIMIT }, true],
    ['comment', { limit: COMMENT_LIMIT, logs: false }, false],
    ['comment with comment-logs: true', { limit: COMMENT_LIMIT, logs: true }, true]
  ])('%s', (_, opts, shown) => {
    const text = renderReport(report, opts)
    expect(text.includes('postgres://app:dbpass@db')).toBe(shown)
    expect(text).toContain('Warning BackOff')
    if (!shown) expect(text).toMatch(/Log tail \(2 lines\): in the job summary and log of <a href="https:\/\/github.com\/o\/r\/actions\/runs\/1">the run<\/a>/)
  })
})

describe('build secrets', () => {
  it('pass as --secret id=…,src=… with values in files, never on the command line', () => {
    const s = readSettings(name => ({ image: '127.0.0.1:5310/team/web', tags: 'v1', secrets: 'npm_token=tok-VALUE-123\ngh="quoted secret"', 'secret-files': 'netrc=/home/u/.netrc', network: 'none' })[name] ?? '')
    const plan = buildPlan(s, s.image!, {}, '/run/tmp/m.json')
    expect(plan.args.slice(plan.args.indexOf('--network'), plan.args.indexOf('--network') + 2)).toEqual(['--network', 'none'])
    const i = plan.args.indexOf('--secret')
    expect(plan.args.slice(i, i + 6)).toEqual(['--secret', 'id=npm_token,src=/run/tmp/secret-0', '--secret', 'id=gh,src=/run/tmp/secret-1', '--secret', 'id=netrc,src=/home/u/.netrc'])
    expect(plan.secretFiles).toEqual([
      { path: '/run/tmp/secret-0', value: 'tok-VALUE-123' },
      { path: '/run/tmp/secret-1', value: 'quoted secret' }
    ])
    expect(plan.args.join(' ')).not.toMatch(/tok-VALUE-123|quoted secret/)
  })
})

describe('kustomize errors', () => {
  const root = '/home/runner/work/shop/shop'
  // what kubectl kustomize printed for an overlay whose base names a missing file
  const message =
    `accumulating resources: accumulation err='accumulating resources from '../../base': '${root}/base' must resolve to a file': ` +
    `recursed accumulation of path '${root}/base': accumulating resources: accumulation err='accumulating resources from 'missing.yaml': ` +
    `evalsymlink failure on '${root}/base/missing.yaml' : lstat ${root}/base/missing.yaml: no such file or directory': must build at directory: ` +
    `not a valid directory: evalsymlink failure on '${root}/base/missing.yaml' : lstat ${root}/base/missing.yaml: no such file or directory`

  it('is one short line with workspace-relative paths', () => {
    const line = shortKustomizeMessage(message, root)
    expect(line).toBe("resource 'missing.yaml': lstat base/missing.yaml: no such file or directory")
    expect(line).not.toContain(root)
  })
  it.each([
    [`open ${root}/k8s/kustomization.yaml: denied`, 'open k8s/kustomization.yaml: denied'],
    [`'${root}' is a dir.`, "'.' is a dir."],
    ['no matches for Id Deployment.v1.apps/wbe.[noNs]', 'no matches for Id Deployment.v1.apps/wbe.[noNs]'],
    ['fetching https://github.com/x/y/base failed', 'fetching https://github.com/x/y/base failed'],
    ['outside: /tmp/other/file.yaml', 'outside: ../../../../../tmp/other/file.yaml']
  ])('relativePaths(%s)', (text, expected) => expect(relativePaths(text, root)).toBe(expected))
})
