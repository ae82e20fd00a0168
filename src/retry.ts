// The one retry policy for every request this action sends (the API server, GitHub): throttling
// (429, honouring Retry-After), server-side failures (5xx) and dropped connections are retried
// with jittered exponential backoff, inside the caller's deadline and a budget of their own.
// Only requests that are safe to repeat are repeated: a POST is retried only when the server
// cannot have acted on it (429, or a connection that was never made).
//
// Lowest layer: imports nothing of the project, so kube/ and report/ can both use it.

export interface RetryPolicy {
  /** attempts in all, the first included */
  attempts: number
  /** first backoff; doubles per attempt up to capMs */
  baseMs: number
  capMs: number
  /** no retry starts later than this after the first attempt */
  budgetMs: number
}

/** At 20 % failed requests, ten attempts leave a one-in-ten-million chance per request. */
export const POLICY: RetryPolicy = { attempts: 10, baseMs: 200, capMs: 5000, budgetMs: 60_000 }

/** What a failed attempt tells the policy. */
export interface Failure {
  /** HTTP status, undefined when no answer came */
  status?: number
  /** Retry-After in milliseconds, when the server sent one */
  retryAfterMs?: number
  /** the connection was never made (refused, DNS): nothing reached the server */
  notSent?: boolean
  /** no answer at all (refused, reset, closed, timed out socket) */
  network?: boolean
  /** the server said so explicitly (a permanent error dressed as 5xx) */
  permanent?: boolean
}

/** Pure: may this attempt be repeated, judged from the method and what happened? */
export function retryable(method: string, f: Failure): boolean {
  if (f.permanent) return false
  const idempotent = method.toUpperCase() !== 'POST'
  if (f.status === 429) return true
  if (f.status !== undefined) return idempotent && f.status >= 500 && f.status !== 501
  if (f.network) return idempotent || f.notSent === true
  return false
}

/**
 * Pure: how long to wait before attempt `attempt + 1` (attempt counts from 1), or undefined to
 * give up. `random` is in [0, 1): full jitter over the upper half of the exponential step, so
 * concurrent clients spread out but none retries at once.
 */
export function backoffMs(attempt: number, elapsedMs: number, f: Failure, policy: RetryPolicy = POLICY, random = Math.random()): number | undefined {
  if (attempt >= policy.attempts) return undefined
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** (attempt - 1))
  const jittered = step / 2 + (random * step) / 2
  const wait = f.retryAfterMs !== undefined ? Math.max(f.retryAfterMs, jittered / 4) : jittered
  if (elapsedMs + wait > policy.budgetMs) return undefined
  return Math.round(wait)
}

/** Pure: Retry-After (seconds or an HTTP date) in milliseconds; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  const at = Date.parse(text)
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined
}

export interface RetryOptions {
  method: string
  signal?: AbortSignal
  policy?: RetryPolicy
  /** reads a thrown error; answer undefined for errors that are not request failures */
  classify: (err: unknown) => Failure | undefined
  /** told before each wait (a log line for the first one, say) */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void
}

/** Runs fn until it succeeds, the policy gives up, or the signal aborts (then its reason is thrown). */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const policy = opts.policy ?? POLICY
  const started = Date.now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err
      const f = opts.classify(err)
      if (!f || !retryable(opts.method, f)) throw err
      const wait = backoffMs(attempt, Date.now() - started, f, policy)
      if (wait === undefined) throw err
      opts.onRetry?.(err, attempt, wait)
      await pause(wait, opts.signal)
    }
  }
}

/** Resolves after ms; rejects with the signal's reason when it aborts first. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
