import { describe, expect, it } from '@jest/globals'
import { MAX_TIMER_MS, parseBuildSecret, parseCanarySteps, parseDuration, parseHealth, readSettings } from '../../src/inputs.js'
import { DeployError } from '../../src/errors.js'
import { errorLine } from './error-line.js'

const reader = (values: Record<string, string>) => (name: string) => values[name] ?? ''

const settingsError = (values: Record<string, string>): string => errorLine(() => readSettings(reader(values)))

describe('readSettings', () => {
  it('applies defaults', () => {
    const s = readSettings(reader({}))
    expect(s).toMatchObject({ context: '.', push: true, mode: 'deploy', timeoutMs: 600_000, strategy: 'rolling', policy: 'warn', comment: 'auto', rollbackOnFailure: true })
    expect(s.canarySteps.map(c => c.weight)).toEqual([10, 25, 50])
  })
  it('parses lists, lines and the image', () => {
    const s = readSettings(reader({ image: 'my.repo.com:1234/team/app', tags: 'a, b\nc', 'build-args': 'A=1\n\n B=2 ', 'health-url': 'http://127.0.0.1:1/h=204\nhttp://x/y' }))
    expect(s.image).toEqual({ registry: 'my.repo.com:1234', path: 'team/app', tag: undefined, digest: undefined })
    expect(s.tags).toEqual(['a', 'b', 'c'])
    expect(s.buildArgs).toEqual(['A=1', 'B=2'])
    expect(s.health).toEqual([{ url: 'http://127.0.0.1:1/h', status: 204 }, { url: 'http://x/y', status: undefined }])
  })
  it.each([
    [{ mode: 'apply' }, "input 'mode': 'apply' is not one of deploy, diff, cleanup"],
    [{ 'prune-allow': 'PersistentVolumeClaim, everything' }, "input 'prune-allow': 'everything' is not one of Namespace, CustomResourceDefinition, PersistentVolumeClaim, mass-deletion"],
    [{ prune: 'sometimes' }, "input 'prune': 'sometimes' is not a boolean; use true or false"],
    [{ push: 'maybe' }, "input 'push': 'maybe' is not a boolean; use true or false"],
    [{ timeout: '10 minutes' }, "input 'timeout': '10 minutes' is not a duration; use e.g. 90s, 5m, 1m30s"],
    [{ image: 'Bad Name' }, "input 'image': 'Bad Name' is not an image reference"],
    [{ image: 'app', digest: 'sha256:123' }, "input 'digest': 'sha256:123' is not a digest"],
    [{ digest: 'sha256:' + 'b'.repeat(64) }, "input 'digest': a digest needs the repository"],
    [{ 'registry-username': 'u' }, "input 'registry-password': registry-username and registry-password must be given together"],
    [{ 'health-url': 'ftp://x' }, "input 'health-url': 'ftp://x' is not URL or URL=STATUS"],
    [{ 'canary-steps': '50,25' }, "input 'canary-steps': weights must rise: 50 then 25"],
    [{ timeout: '0' }, "input 'timeout': '0' is no time at all"],
    [{ timeout: '0s' }, "input 'timeout': '0s' is no time at all"],
    [{ timeout: '1000h' }, "input 'timeout': '1000h' is longer than a timer can wait"],
    [{ timeout: '9999h' }, "input 'timeout': '9999h' is longer than a timer can wait"],
    [{ timeout: '99999999999' }, "input 'timeout': '99999999999' is longer than a timer can wait"],
    [{ 'canary-pause': '1000h' }, "input 'canary-pause': '1000h' is longer than a timer can wait"],
    [{ 'canary-steps': '10:1000h' }, "input 'canary-steps': '1000h' is longer than a timer can wait"],
    [{ 'health-url': 'http://[::1' }, "input 'health-url': 'http://[::1' is not URL or URL=STATUS with an http(s) URL: it does not parse"],
    [{ 'health-url': 'https://=200' }, "input 'health-url': 'https://=200' is not URL or URL=STATUS with an http(s) URL: '=200' is not a host name"],
    [{ 'health-url': 'http:/x/y' }, "input 'health-url': 'http:/x/y' is not URL or URL=STATUS with an http(s) URL: it needs //"],
    [{ 'health-url': 'http://a b' }, "input 'health-url': 'http://a b' is not URL or URL=STATUS with an http(s) URL: it contains white space"],
    // a bad URL's message shows no password
    [{ 'health-url': 'http://u:hunter22@=x/' }, "input 'health-url': 'http://***@=x/' is not URL"],
    [{ 'canary-header': 'X Canary' }, "input 'canary-header': 'X Canary' is not an HTTP header name"],
    [{ 'canary-header': 'X-Canary:' }, "input 'canary-header': 'X-Canary:' is not an HTTP header name"],
    [{ 'canary-header': 'Ünicode' }, "input 'canary-header': 'Ünicode' is not an HTTP header name"],
    [{ 'image-name': 'Bad Name' }, "input 'image-name': 'Bad Name' is not an image name"],
    [{ 'image-name': 'registry.example/web:v1' }, "input 'image-name': 'registry.example/web:v1' carries a tag"],
    [{ image: `app@md5:${'a'.repeat(32)}` }, "input 'image': 'app@md5:"],
    [{ image: 'r.io/app', push: 'false', kustomize: 'k8s' }, "input 'push': push is false, so the image is not pushed and there is no digest to deploy"],
    [{ image: 'r.io/app', push: 'false', manifests: 'k8s/*.yaml', mode: 'diff' }, "input 'push': push is false"],
    [{ secrets: 'novalue' }, "input 'secrets': a line is not ID=VALUE"],
    [{ secrets: 'id=' }, "input 'secrets': a line is not ID=VALUE (id 'id' has nothing after '=')"],
    [{ 'secret-files': 'bad id=/x' }, "input 'secret-files': a line is not ID=PATH"]
  ])('%j fails with one line', (values, prefix) => {
    const line = settingsError(values)
    expect(line.startsWith(prefix)).toBe(true)
    expect(line).not.toContain('\n')
  })
})

describe('inputs accepted', () => {
  it.each([
    [{ timeout: '596h' }, { timeoutMs: 596 * 3_600_000 }],
    [{ 'canary-pause': '0' }, { canaryPauseMs: 0 }],
    [{ 'canary-header': "X-Canary_1!#$%&'*+.^`|~" }, { canaryHeader: "X-Canary_1!#$%&'*+.^`|~" }],
    [{ 'image-name': 'registry.example/demo/web' }, { imageName: 'registry.example/demo/web' }],
    // push: false is fine when nothing is deployed (an image-only run) or a pushed digest is given
    [{ image: 'r.io/app', push: 'false' }, { push: false }],
    [{ image: 'r.io/app', push: 'false', kustomize: 'k8s', digest: 'sha256:' + 'a'.repeat(64) }, { push: false }],
    [{ 'comment-logs': 'true' }, { commentLogs: true }],
    [{}, { prune: false, pruneAllow: [] }],
    [{ prune: 'true', 'prune-allow': 'persistentvolumeclaim,mass-deletion' }, { prune: true, pruneAllow: ['PersistentVolumeClaim', 'mass-deletion'] }],
    [{}, { commentLogs: false, buildSecrets: [] }],
    [{ secrets: 'token=abc=def\nq="quoted value"', 'secret-files': 'npmrc=/home/u/.npmrc' }, { buildSecrets: [{ id: 'token', value: 'abc=def' }, { id: 'q', value: 'quoted value' }, { id: 'npmrc', file: '/home/u/.npmrc' }] }]
  ])('%j', (values, expected) => {
    expect(readSettings(reader(values))).toMatchObject(expected)
  })
  it.each([
    ['http://127.0.0.1:8080/healthz=204', { url: 'http://127.0.0.1:8080/healthz', status: 204 }],
    ['https://user:pw@web.example.test/h?token=x', { url: 'https://user:pw@web.example.test/h?token=x' }],
    ['http://[::1]:80/', { url: 'http://[::1]:80/' }],
    ['http://web.team-a.svc.cluster.local/ready', { url: 'http://web.team-a.svc.cluster.local/ready' }]
  ])('health-url %s', (line, expected) => expect(parseHealth(line)).toMatchObject(expected))
  it('a secrets line that fails never shows its value', () => {
    const line = errorLine(() => parseBuildSecret('no equals sign s3cr3t', 'secrets'))
    expect(line).not.toContain('s3cr3t')
  })
  it('MAX_TIMER_MS is what setTimeout holds', () => expect(MAX_TIMER_MS).toBe(2_147_483_647))
})

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['45', 45_000],
    ['250ms', 250]
  ])('%s', (raw, ms) => expect(parseDuration(raw, 'timeout')).toBe(ms))
  it.each(['', 'm', '5 m', '1d', '-5s'])('rejects %j', raw => expect(() => parseDuration(raw, 'timeout')).toThrow(DeployError))
})

describe('parseCanarySteps', () => {
  it.each([
    ['10,25,50', [[10, 5], [25, 5], [50, 5]]],
    ['10:30s,25:1m,50:2m', [[10, 30_000], [25, 60_000], [50, 120_000]]],
    ['20,100', [[20, 5]]],
    ['5', [[5, 5]]]
  ])('%s', (raw, expected) => {
    expect(parseCanarySteps(raw, 5).map(s => [s.weight, s.pauseMs])).toEqual(expected)
  })
  it.each([
    ['0,10', /outside 1-99/],
    ['10,120', /outside 1-99/],
    ['10,10', /weights must rise/],
    ['100', /no step below 100/],
    ['ten', /not WEIGHT or WEIGHT:PAUSE/],
    ['10:soon', /not a duration/]
  ])('rejects %s', (raw, message) => expect(() => parseCanarySteps(raw, 5)).toThrow(message))
})
