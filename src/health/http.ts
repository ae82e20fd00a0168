// HTTP health gates after a rollout: each URL is probed until it answers the expected status,
// with backoff, within the run's deadline. A new version often needs a moment behind its
// Service/Ingress, so one failed request proves nothing; a gate fails only when its attempts
// or the deadline run out.
import type { HealthCheck } from '../inputs.js'
import type { HealthResult } from '../report/model.js'
import { networkCause } from '../kube/errors.js'
import { sleep } from '../kube/pool.js'
import { redactUrl } from '../redact.js'

export interface ProbeOptions {
  signal: AbortSignal
  /** extra request headers, e.g. the canary header that routes to the canary */
  headers?: Record<string, string>
  /** attempts per URL (default 6: about 12s of backoff) */
  attempts?: number
  /** first pause between attempts; doubles up to maxDelayMs */
  initialDelayMs?: number
  maxDelayMs?: number
  /** one request's limit */
  requestTimeoutMs?: number
}

/** Pure: does a status satisfy the check (its expected status, else any 2xx)? */
export function statusMatches(expected: number | undefined, got: number): boolean {
  return expected === undefined ? got >= 200 && got < 300 : got === expected
}

/** Pure: the pause before attempt n+1 (n from 1), doubling from initial up to max. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** (attempt - 1))
}

/**
 * Pure: fetch refuses a URL with `user:password@`; the credentials move to a Basic
 * Authorization header, as curl and browsers send them.
 */
export function withoutCredentials(raw: string): { url: string; headers: Record<string, string> } {
  const url = new URL(raw)
  if (!url.username && !url.password) return { url: raw, headers: {} }
  const basic = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')
  url.username = ''
  url.password = ''
  return { url: url.href, headers: { Authorization: `Basic ${basic}` } }
}

/** Probes every check concurrently; one HealthResult per check, in order. */
export function probeHealth(checks: HealthCheck[], opts: ProbeOptions): Promise<HealthResult[]> {
  return Promise.all(checks.map(c => probeOne(c, opts)))
}

async function probeOne(check: HealthCheck, opts: ProbeOptions): Promise<HealthResult> {
  // results go to the log, the report and error lines: never with the URL's credentials
  const url = redactUrl(check.url)
  const target = withoutCredentials(check.url)
  const attempts = opts.attempts ?? 6
  const expected = check.status ? String(check.status) : '2xx'
  let last = 'not probed'
  let status: number | undefined
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (opts.signal.aborted) return { url, ok: false, status, attempts: attempt - 1, message: `deadline reached: ${last}` }
    try {
      const res = await fetch(target.url, {
        headers: { ...target.headers, ...opts.headers },
        redirect: 'manual',
        signal: AbortSignal.any([opts.signal, AbortSignal.timeout(opts.requestTimeoutMs ?? 5000)])
      })
      await res.body?.cancel()
      status = res.status
      if (statusMatches(check.status, res.status)) return { url, ok: true, status, attempts: attempt, message: `${res.status} after ${attempt} attempt${attempt > 1 ? 's' : ''}` }
      last = `expected ${expected}, got ${res.status}`
    } catch (err) {
      last = (err as Error).name === 'TimeoutError' ? `no answer within ${(opts.requestTimeoutMs ?? 5000) / 1000}s` : `no answer: ${networkCause(err)}`
    }
    if (attempt < attempts) await sleep(backoffDelay(attempt, opts.initialDelayMs ?? 500, opts.maxDelayMs ?? 5000), opts.signal).catch(() => undefined)
  }
  return { url, ok: false, status, attempts, message: `${last} (after ${attempts} attempts)` }
}
