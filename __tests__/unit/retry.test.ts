import { describe, expect, it } from '@jest/globals'
import { POLICY, backoffMs, parseRetryAfter, retryable, withRetry, type Failure } from '../../src/retry.js'
import { ApiError } from '../../src/kube/errors.js'
import { classify, unreachable } from '../../src/kube/client.js'
import { permanentWatchCode } from '../../src/kube/status/watch.js'
import { classifyGitHub } from '../../src/github.js'

describe('retryable', () => {
  it.each<[string, Failure, boolean]>([
    ['GET', { status: 429 }, true],
    ['POST', { status: 429 }, true],
    ['GET', { status: 503 }, true],
    ['PATCH', { status: 500 }, true],
    ['DELETE', { status: 502 }, true],
    ['PUT', { status: 504 }, true],
    ['POST', { status: 503 }, false],
    ['GET', { status: 501 }, false],
    ['GET', { status: 404 }, false],
    ['PATCH', { status: 409 }, false],
    ['GET', { status: 403 }, false],
    ['GET', { network: true }, true],
    ['POST', { network: true }, false],
    ['POST', { network: true, notSent: true }, true],
    ['PATCH', { status: 500, permanent: true }, false],
    ['GET', {}, false]
  ])('%s %j → %s', (method, f, want) => expect(retryable(method, f)).toBe(want))
})

describe('backoffMs', () => {
  it('grows, stays inside [step/2, step] and under the cap', () => {
    for (let attempt = 1; attempt < POLICY.attempts; attempt++) {
      const step = Math.min(POLICY.capMs, POLICY.baseMs * 2 ** (attempt - 1))
      expect(backoffMs(attempt, 0, {}, POLICY, 0)).toBe(step / 2)
      expect(backoffMs(attempt, 0, {}, POLICY, 0.999)).toBeLessThanOrEqual(step)
    }
  })
  it('gives up after the last attempt and past the budget', () => {
    expect(backoffMs(POLICY.attempts, 0, {})).toBeUndefined()
    expect(backoffMs(1, POLICY.budgetMs - 10, {}, POLICY, 0.5)).toBeUndefined()
  })
  it('honours Retry-After, even when longer than the step', () => {
    expect(backoffMs(1, 0, { status: 429, retryAfterMs: 3000 }, POLICY, 0.5)).toBe(3000)
    expect(backoffMs(1, 0, { status: 429, retryAfterMs: 120_000 }, POLICY, 0.5)).toBeUndefined()
  })
})

describe('parseRetryAfter', () => {
  it.each<[string | undefined, number | undefined]>([
    ['2', 2000],
    ['0', 0],
    ['1.5', 1500],
    [undefined, undefined],
    ['soon', undefined],
    ['Wed, 21 Oct 2015 07:28:10 GMT', 0]
  ])('%s → %s', (v, want) => expect(parseRetryAfter(v, Date.parse('2015-10-21T07:28:10Z'))).toBe(want))
  it('reads an HTTP date in the future', () => expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:13 GMT', Date.parse('2015-10-21T07:28:10Z'))).toBe(3000))
})

describe('withRetry', () => {
  const policy = { attempts: 4, baseMs: 1, capMs: 2, budgetMs: 1000 }
  it('repeats a 503 until it succeeds', async () => {
    let calls = 0
    const out = await withRetry(
      async () => {
        if (++calls < 3) throw new ApiError(503, { message: 'busy' }, 'GET', '/x')
        return 'ok'
      },
      { method: 'GET', classify, policy }
    )
    expect([out, calls]).toEqual(['ok', 3])
  })
  it('does not repeat a 404, nor a POST that may have been processed', async () => {
    for (const [method, err] of [
      ['GET', new ApiError(404, {}, 'GET', '/x')],
      ['POST', unreachable('https://127.0.0.1:1', { cause: { code: 'ECONNRESET' } })]
    ] as const) {
      let calls = 0
      const once = (): Promise<never> => {
        calls++
        return Promise.reject(err)
      }
      await expect(withRetry(once, { method, classify, policy })).rejects.toBe(err)
      expect(calls).toBe(1)
    }
  })
  it('stops after the policy attempts, with the last error', async () => {
    let calls = 0
    const err = new ApiError(500, {}, 'GET', '/x')
    await expect(withRetry(() => (calls++, Promise.reject(err)), { method: 'GET', classify, policy })).rejects.toBe(err)
    expect(calls).toBe(4)
  })
  it('ends with the signal reason when the deadline passes while waiting', async () => {
    const reason = new Error('deadline')
    const c = new AbortController()
    setTimeout(() => c.abort(reason), 20)
    const p = withRetry(() => Promise.reject(new ApiError(429, {}, 'GET', '/x')), { method: 'GET', classify, signal: c.signal, policy: { ...policy, attempts: 100, baseMs: 50, capMs: 50 } })
    await expect(p).rejects.toBe(reason)
  })
})

describe('unreachable', () => {
  it('names the kubeconfig address only when the connection could not be made', () => {
    expect(unreachable('https://h:1', { cause: { code: 'ECONNREFUSED' } }).line()).toMatch(/check the kubeconfig server address/)
    const reset = unreachable('https://h:1', { cause: { code: 'ECONNRESET' } }).line()
    expect(reset).toBe('the connection to the API server https://h:1 broke: ECONNRESET')
  })
})

describe('permanentWatchCode', () => {
  it.each([
    [404, true],
    [400, true],
    [410, false],
    [500, false],
    [429, false],
    [undefined, false]
  ])('%s → %s', (code, want) => expect(permanentWatchCode(code)).toBe(want))
})

describe('classifyGitHub', () => {
  const err = (status: number, headers: Record<string, string> = {}) => Object.assign(new Error('x'), { status, response: { headers, data: {} } })
  it.each<[string, unknown, Failure | undefined]>([
    ['429 with Retry-After', err(429, { 'retry-after': '3' }), { status: 429, retryAfterMs: 3000 }],
    ['a secondary rate limit (403 + Retry-After) waits like a 429', err(403, { 'retry-after': '2' }), { status: 429, retryAfterMs: 2000 }],
    ['a plain 403 is permanent', err(403), { status: 403, retryAfterMs: undefined }],
    ['502', err(502), { status: 502, retryAfterMs: undefined }],
    ['no answer (status 500 without a response)', Object.assign(new Error('fetch failed'), { status: 500 }), { network: true }],
    ['not a request error', 'nope', undefined]
  ])('%s', (_name, e, want) => expect(classifyGitHub(e)).toEqual(want))
  it('feeds the policy: a 403 without limit headers is not retried, a 502 GET is', () => {
    expect(retryable('GET', classifyGitHub(err(403))!)).toBe(false)
    expect(retryable('GET', classifyGitHub(err(502))!)).toBe(true)
    expect(retryable('POST', classifyGitHub(err(502))!)).toBe(false)
  })
})
