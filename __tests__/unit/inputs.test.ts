import { describe, expect, it } from '@jest/globals'
import { parseCanarySteps, parseDuration, readSettings } from '../../src/inputs.js'
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
    [{ push: 'maybe' }, "input 'push': 'maybe' is not a boolean; use true or false"],
    [{ timeout: '10 minutes' }, "input 'timeout': '10 minutes' is not a duration; use e.g. 90s, 5m, 1m30s"],
    [{ image: 'Bad Name' }, "input 'image': 'Bad Name' is not an image reference"],
    [{ image: 'app', digest: 'sha256:123' }, "input 'digest': 'sha256:123' is not a digest"],
    [{ digest: 'sha256:' + 'b'.repeat(64) }, "input 'digest': a digest needs the repository"],
    [{ 'registry-username': 'u' }, "input 'registry-password': registry-username and registry-password must be given together"],
    [{ 'health-url': 'ftp://x' }, "input 'health-url': 'ftp://x' is not URL or URL=STATUS"],
    [{ 'canary-steps': '50,25' }, "input 'canary-steps': weights must rise: 50 then 25"]
  ])('%j fails with one line', (values, prefix) => {
    const line = settingsError(values)
    expect(line.startsWith(prefix)).toBe(true)
    expect(line).not.toContain('\n')
  })
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
