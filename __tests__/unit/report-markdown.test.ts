import { describe, expect, it } from '@jest/globals'
import { readFileSync, writeFileSync } from 'node:fs'
import { COMMENT_LIMIT, SUMMARY_LIMIT, fence, formatDuration, inline, markerFor, renderReport } from '../../src/report/markdown.js'
import { newReport, type DeployReport } from '../../src/report/model.js'
import { canaryReport, diffReport, rollbackReport, successReport } from './report-fixtures.js'

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8')

describe('renderReport golden files (UPDATE_GOLDEN=1 rewrites them)', () => {
  it.each([
    ['success', successReport],
    ['rollback', rollbackReport],
    ['canary', canaryReport],
    ['diff', diffReport]
  ])('%s', (name, make) => {
    const file = new URL(`../golden/${name}.md`, import.meta.url)
    const md = renderReport(make(), { limit: COMMENT_LIMIT, marker: markerFor('production') })
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, md)
    expect(md).toBe(readFileSync(file, 'utf8'))
  })
})

describe('headline', () => {
  const base = (over: Partial<DeployReport>): DeployReport =>
    newReport({ environment: 'staging', mode: 'deploy', strategy: 'rolling', status: 'succeeded', ...over })
  it.each<[string, Partial<DeployReport>, string]>([
    ['success', {}, '### ✅ Deployed to staging'],
    ['failure', { status: 'failed', error: 'boom' }, '### ❌ Deploy to staging failed'],
    ['rolled back', { status: 'rolled-back', error: 'boom' }, '### ❌ Deploy to staging failed and was rolled back'],
    ['canary aborted', { status: 'failed', canary: { router: 'nginx', steps: [], finalWeight: 0, outcome: 'aborted' } }, '### ❌ Deploy to staging failed (canary aborted)'],
    ['diff without changes', { status: 'diff', mode: 'diff', resources: [{ kind: 'Service', name: 'a', change: 'unchanged' }] }, '### ✅ staging is up to date (diff only, nothing applied)'],
    ['diff with a change', { status: 'diff', mode: 'diff', resources: [{ kind: 'Service', name: 'a', change: 'configured' }] }, '### Diff for staging: 1 object would change (nothing applied)'],
    ['cleanup', { status: 'cleaned-up', mode: 'cleanup' }, '### ✅ Preview staging removed'],
    ['push only', { image: { ref: 'r@sha256:1', digest: 'sha256:1', tags: [], built: true } }, '### ✅ Image pushed for staging (nothing deployed)']
  ])('%s', (_name, over, expected) => {
    const md = renderReport(base(over), { limit: COMMENT_LIMIT })
    expect(md.split('\n')[0]).toBe(expected)
  })

  it('puts the marker first and the error right under the headline', () => {
    const md = renderReport(base({ status: 'failed', error: 'input `timeout`: bad' }), { limit: COMMENT_LIMIT, marker: markerFor('staging') })
    expect(md.split('\n\n').slice(0, 3)).toEqual([
      '<!-- kube-ship:staging -->',
      '### ❌ Deploy to staging failed',
      '**Error:** input &#96;timeout&#96;: bad'
    ])
  })
})

describe('strategy cell', () => {
  const row = (over: Partial<DeployReport>): string | undefined =>
    renderReport(newReport({ environment: 'e', mode: 'deploy', strategy: 'rolling', ...over }), { limit: COMMENT_LIMIT })
      .split('\n')
      .find(l => l.startsWith('| Strategy |'))
  it.each<[string, Partial<DeployReport>, string]>([
    ['rolling', {}, '| Strategy | rolling |'],
    ['diff', { mode: 'diff' }, '| Strategy | rolling (diff only) |'],
    ['blue-green switched', { strategy: 'blue-green', blueGreen: { service: 'web', from: 'blue', to: 'green', switched: true } }, '| Strategy | blue-green: Service <code>web</code> switched blue → green |'],
    [
      'blue-green switched back',
      { strategy: 'blue-green', blueGreen: { service: 'web', from: 'blue', to: 'green', switched: true, switchedBack: true } },
      '| Strategy | blue-green: Service <code>web</code> switched blue → green, switched back to blue |'
    ],
    ['blue-green first deploy, not switched', { strategy: 'blue-green', blueGreen: { service: 'web', to: 'blue', switched: false } }, '| Strategy | blue-green: Service <code>web</code> blue deployed, not switched |'],
    ['canary without steps yet', { strategy: 'canary' }, '| Strategy | canary |'],
    ['canary with nothing to compare with', { strategy: 'canary', plan: 'rolling' }, '| Strategy | canary, delivered with the rolling plan |'],
    ['canary that ran as one', { strategy: 'canary', plan: 'canary' }, '| Strategy | canary |']
  ])('%s', (_name, over, expected) => {
    expect(row(over)).toBe(expected)
  })
})

describe('escaping user text', () => {
  it.each([
    ['HTML', '<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['code span', 'a `b` c', 'a &#96;b&#96; c'],
    ['table pipe', 'a | b', 'a &#124; b'],
    ['emphasis', '*bold* _it_ ~~s~~', '&#42;bold&#42; &#95;it&#95; &#126;&#126;s&#126;&#126;'],
    ['link', '[x](http://evil)', '&#91;x&#93;(http://evil)'],
    ['mention', 'ping @octocat', 'ping @\u2060octocat'],
    ['newlines', 'one\ntwo', 'one &#124; two'],
    ['not a mention', 'repo@sha256:ab', 'repo@sha256:ab'],
    ['entity', 'a &amp; b', 'a &amp;amp; b']
  ])('%s', (_name, raw, expected) => {
    expect(inline(raw)).toBe(expected)
  })

  it('bounds one line', () => {
    expect(inline('x'.repeat(50), 10)).toBe('xxxxxxxxx…')
  })

  it('keeps hostile names, messages and logs from changing the layout', () => {
    const evil = '</details><details open><summary>pwned</summary> | `x` [a](b) <img src=x>'
    const report = rollbackReport()
    report.error = evil
    report.resources = [{ kind: 'Deployment', namespace: 'shop', name: evil, change: 'created' }]
    report.diagnostics[0].message = evil
    report.warnings = [evil]
    const md = renderReport(report, { limit: COMMENT_LIMIT })
    expect(md).not.toContain('<summary>pwned')
    expect(md).not.toContain('<img')
    // every <details> we open is closed by us, once
    expect(md.match(/<details/g)?.length).toBe(md.match(/<\/details>/g)?.length)
  })
})

describe('fence', () => {
  it.each([
    ['plain', 'a\nb', '```text\na\nb\n```'],
    ['triple backticks inside', 'x\n```\ny', '````text\nx\n```\ny\n````'],
    ['five backticks inside', '`````', '``````text\n`````\n``````']
  ])('%s', (_name, body, expected) => {
    expect(fence(body, 'text')).toBe(expected)
  })
})

describe('size bound', () => {
  const bigDiff = Array.from({ length: 20_000 }, (_, i) => `+  line ${i}: ${'x'.repeat(60)}`).join('\n')
  const bigLog = Array.from({ length: 5_000 }, (_, i) => `log ${i} ${'é'.repeat(40)}`)

  it.each([
    ['comment', COMMENT_LIMIT],
    ['summary', SUMMARY_LIMIT],
    ['small', 8_000]
  ])('%s limit: stays under, keeps headline and marker, says what was cut', (_name, limit) => {
    const report = rollbackReport()
    report.diff = bigDiff
    report.diagnostics[0].logTail = bigLog
    report.warnings = Array.from({ length: 3_000 }, (_, i) => `warning number ${i} ${'w'.repeat(50)}`)
    const md = renderReport(report, { limit, marker: markerFor('production') })
    expect(bytes(md)).toBeLessThanOrEqual(limit)
    expect(md.startsWith('<!-- kube-ship:production -->\n\n### ❌ Deploy to production failed and was rolled back')).toBe(true)
    expect(md).toContain('> [!NOTE]')
    expect(md).toContain('View the run')
    // the most important section (diagnostics of a failure) survives, its log tail clipped to the newest lines
    expect(md).toContain('Diagnostics: 1 resource')
    expect(md).toContain(`log 4999 ${'é'.repeat(40)}`)
    expect(md).toMatch(/… \d+ of (5000|20000) lines left out …/)
  })

  it('adds no note when everything fits', () => {
    const md = renderReport(successReport(), { limit: COMMENT_LIMIT })
    expect(md).not.toContain('[!NOTE]')
  })

  it('drops the least important section first', () => {
    const report = successReport()
    report.diff = bigDiff.slice(0, 30_000)
    const full = renderReport(report, { limit: SUMMARY_LIMIT })
    const md = renderReport(report, { limit: bytes(full) - 1_000 })
    expect(bytes(md)).toBeLessThanOrEqual(bytes(full) - 1_000)
    expect(md).toMatch(/shortened Diff|left out Diff/)
    expect(md).toContain('Rollout: 2/2 ready')
    expect(md).toContain('Resources: 5')
  })
})

describe('markerFor', () => {
  it.each([
    ['production', '<!-- kube-ship:production -->'],
    ['pr-12', '<!-- kube-ship:pr-12 -->'],
    ['a--> b', '<!-- kube-ship:a%2D-%3E%20b -->'],
    ['preview/pr-3', '<!-- kube-ship:preview%2Fpr-3 -->']
  ])('%s', (env, expected) => {
    expect(markerFor(env)).toBe(expected)
  })
})

describe('formatDuration', () => {
  it.each([
    [850, '850 ms'],
    [12_345, '12.3 s'],
    [65_400, '1m 05s'],
    [3_725_000, '1h 02m']
  ])('%d', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})

describe('prune section', () => {
  const base = (over: Partial<DeployReport>): DeployReport => newReport({ environment: 'prod', mode: 'deploy', strategy: 'rolling', status: 'succeeded', ...over })
  const prune = (over: Partial<NonNullable<DeployReport['prune']>> = {}) => ({ deleted: [], planned: [], kept: [], ...over })
  it.each<[string, Partial<DeployReport>, string[], string[]]>([
    ['deploy: what went', { prune: prune({ planned: ['ConfigMap/shop/old'], deleted: ['ConfigMap/shop/old'] }) }, ['Prune: 1 deleted', '- deleted: <code>ConfigMap/shop/old</code>'], ['will delete']],
    ['diff: what would go', { mode: 'diff', status: 'diff', prune: prune({ planned: ['ConfigMap/shop/old'] }) }, ['Prune: 1 will delete', '- will delete: <code>ConfigMap/shop/old</code>'], ['- deleted:']],
    [
      'refused: the line and what stayed',
      { status: 'failed', prune: prune({ planned: ['ConfigMap/shop/a', 'ConfigMap/shop/b'], refused: 'prune refused: it would delete 2 of the 3 objects' }) },
      ['<details open><summary>Prune: 2 refused</summary>', '- ⛔ prune refused: it would delete 2 of the 3 objects', '- not deleted: <code>ConfigMap/shop/a</code>'],
      ['- deleted:']
    ],
    ['kept with the reason', { prune: prune({ kept: [{ resource: 'PersistentVolumeClaim/shop/data', reason: 'a PersistentVolumeClaim holds data' }] }) }, ['Prune: 0 deleted, 1 kept', '- kept: <code>PersistentVolumeClaim/shop/data</code> (a PersistentVolumeClaim holds data)'], []],
    ['nothing to say: no section', { prune: prune() }, []
      , ['Prune']]
  ])('%s', (_n, over, present, absent) => {
    const md = renderReport(base(over), { limit: COMMENT_LIMIT })
    for (const p of present) expect(md).toContain(p)
    for (const a of absent) expect(md).not.toContain(a)
  })
})
