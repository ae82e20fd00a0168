import { describe, expect, it } from '@jest/globals'
import { DeployError } from '../../src/errors.js'
import { parseMetricCheck, readSettings, type MetricCheck } from '../../src/inputs.js'
import { metricVerdict, renderQuery } from '../../src/strategies/canary-metrics.js'

describe('parseMetricCheck', () => {
  it.each<[string, MetricCheck]>([
    ['errors < 1', { query: 'errors', op: '<', threshold: 1 }],
    ['sum(rate(x{a="b"}[1m])) <= 0.05', { query: 'sum(rate(x{a="b"}[1m]))', op: '<=', threshold: 0.05 }],
    ['success_ratio>=99.5', { query: 'success_ratio', op: '>=', threshold: 99.5 }],
    ['a > b > -3', { query: 'a > b', op: '>', threshold: -3 }]
  ])('%s', (line, expected) => {
    expect(parseMetricCheck(line)).toEqual(expected)
  })

  it.each(['errors', 'errors < x', '< 1', 'errors == 1'])('refuses %p with one line naming the input', line => {
    expect(() => parseMetricCheck(line)).toThrow(DeployError)
    try {
      parseMetricCheck(line)
    } catch (err) {
      expect((err as DeployError).line()).toMatch(/^input 'canary-metrics': '.*' is not PROMQL OP NUMBER/)
    }
  })

  it('needs prometheus-url', () => {
    const inputs: Record<string, string> = { 'canary-metrics': 'errors < 1' }
    expect(() => readSettings(n => inputs[n] ?? '')).toThrow("canary-metrics needs the Prometheus to query in prometheus-url")
  })
})

describe('renderQuery', () => {
  it.each([
    ['up{deployment="$canary",namespace="$namespace"}', 'up{deployment="web-canary",namespace="shop"}'],
    ['$canary_total + $namespace', '$canary_total + shop'],
    ['no placeholders', 'no placeholders']
  ])('%s', (query, expected) => {
    expect(renderQuery(query, { canary: 'web-canary', namespace: 'shop' })).toBe(expected)
  })
})

describe('metricVerdict', () => {
  const lt: MetricCheck = { query: 'q', op: '<', threshold: 1 }
  const ge: MetricCheck = { query: 'q', op: '>=', threshold: 99 }
  const vector = (...values: string[]) => ({ status: 'success', data: { resultType: 'vector', result: values.map(v => ({ metric: {}, value: [1, v] })) } })
  it.each<[string, MetricCheck, unknown, boolean, string]>([
    ['below the maximum', lt, vector('0.5'), true, '0.5 < 1'],
    ['at the maximum', lt, vector('1'), false, '1 not < 1'],
    ['at the minimum', ge, vector('99'), true, '99 >= 99'],
    ['scalar', ge, { status: 'success', data: { resultType: 'scalar', result: [1, '98'] } }, false, '98 not >= 99'],
    ['no series', lt, vector(), false, 'no data (is the canary receiving traffic and being scraped?)'],
    ['NaN', lt, vector('NaN'), false, 'no data (is the canary receiving traffic and being scraped?)'],
    ['two series', lt, vector('0', '0'), false, 'the query returned 2 series; aggregate it to one (e.g. sum(...))'],
    ['matrix', lt, { status: 'success', data: { resultType: 'matrix', result: [] } }, false, 'the query returned a matrix result; use an instant vector or scalar'],
    ['refused', lt, { status: 'error', error: 'parse error at char 3' }, false, 'Prometheus refused the query: parse error at char 3']
  ])('%s', (_name, check, answer, ok, message) => {
    expect(metricVerdict(check, 'q', answer as never)).toMatchObject({ ok, message })
  })
})
