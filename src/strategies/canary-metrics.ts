// The canary metrics gate: PromQL instant queries against Prometheus's HTTP API, each compared
// with a threshold. Like Flagger, a query with no data fails: a canary nobody measured has not
// shown it is healthy.
import { DeployError } from '../errors.js'
import type { MetricCheck } from '../inputs.js'
import { networkCause } from '../kube/errors.js'

export interface MetricResult {
  check: MetricCheck
  /** the query as sent, placeholders replaced */
  query: string
  ok: boolean
  value?: number
  message: string
}

/** $canary and $namespace replaced, as whole words ($canary_total is left alone). */
export function renderQuery(query: string, vars: { canary: string; namespace: string }): string {
  return query.replace(/\$(canary|namespace)\b/g, (_m, name: 'canary' | 'namespace') => vars[name])
}

interface PromAnswer {
  status?: string
  error?: string
  data?: { resultType?: string; result?: unknown }
}

/** Pure: the verdict for one answer of /api/v1/query. */
export function metricVerdict(check: MetricCheck, query: string, answer: PromAnswer): MetricResult {
  const base = { check, query }
  if (answer.status !== 'success') return { ...base, ok: false, message: `Prometheus refused the query: ${answer.error ?? 'no status'}` }
  const { resultType, result } = answer.data ?? {}
  let sample: unknown
  if (resultType === 'scalar') sample = (result as [number, string])[1]
  else if (resultType === 'vector') {
    const series = result as { value: [number, string] }[]
    if (series.length > 1) return { ...base, ok: false, message: `the query returned ${series.length} series; aggregate it to one (e.g. sum(...))` }
    sample = series[0]?.value[1]
  } else return { ...base, ok: false, message: `the query returned a ${resultType ?? 'missing'} result; use an instant vector or scalar` }
  const value = Number(sample)
  if (sample === undefined || Number.isNaN(value)) return { ...base, ok: false, message: 'no data (is the canary receiving traffic and being scraped?)' }
  const ok = compare(value, check.op, check.threshold)
  return { ...base, ok, value, message: `${value} ${ok ? '' : 'not '}${check.op} ${check.threshold}`.replace('  ', ' ') }
}

function compare(value: number, op: MetricCheck['op'], threshold: number): boolean {
  if (op === '<') return value < threshold
  if (op === '<=') return value <= threshold
  if (op === '>') return value > threshold
  return value >= threshold
}

/** Runs every check once; a Prometheus that does not answer fails the gate with a clear line. */
export async function queryMetrics(baseUrl: string, checks: MetricCheck[], vars: { canary: string; namespace: string }, signal: AbortSignal): Promise<MetricResult[]> {
  return Promise.all(
    checks.map(async check => {
      const query = renderQuery(check.query, vars)
      const url = new URL('api/v1/query', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`)
      url.searchParams.set('query', query)
      let answer: PromAnswer
      try {
        const res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) })
        answer = (await res.json().catch(() => ({ error: `HTTP ${res.status}` }))) as PromAnswer
      } catch (err) {
        if (signal.aborted) throw signal.reason
        throw new DeployError(`Prometheus at ${url.origin} did not answer: ${networkCause(err)}`, { input: 'prometheus-url' })
      }
      return metricVerdict(check, query, answer)
    })
  )
}
