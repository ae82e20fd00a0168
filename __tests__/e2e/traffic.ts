// Requests through the stack's router (Traefik on 127.0.0.1), answered by the responder as the
// pod that served them. Every loop here is bounded in count and in time. No jest imports, so
// bench/ can bundle it too.
import * as http from 'node:http'

export interface Answer {
  /** ms since the loop started, when the answer (or the error) arrived */
  at: number
  /** HTTP status; 0 for a transport error or a timeout */
  status: number
  /** the serving pod's image digest, its name and owner (from the responder's headers) */
  digest?: string
  pod?: string
  owner?: string
  error?: string
}

export interface RequestOptions {
  headers?: Record<string, string>
  /** Host header (Ingress and HTTPRoute host rules) */
  host?: string
  timeoutMs?: number
}

const agent = new http.Agent({ keepAlive: false })

/** One GET; never rejects. */
export function request(url: string, opts: RequestOptions = {}, started = Date.now()): Promise<Answer> {
  return new Promise(resolve => {
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.host) headers.host = opts.host
    const req = http.get(url, { agent, headers, timeout: opts.timeoutMs ?? 5000 }, res => {
      res.resume()
      res.on('end', () =>
        resolve({
          at: Date.now() - started,
          status: res.statusCode ?? 0,
          digest: header(res, 'x-image-digest'),
          pod: header(res, 'x-pod-name'),
          owner: header(res, 'x-pod-owner')
        })
      )
      res.on('error', err => resolve({ at: Date.now() - started, status: 0, error: err.message }))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', err => resolve({ at: Date.now() - started, status: 0, error: err.message }))
  })
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name]
  return typeof v === 'string' && v !== '' ? v : undefined
}

/** n requests, `concurrency` at a time, stopping early when `deadlineMs` passes. */
export async function sample(url: string, n: number, opts: RequestOptions & { concurrency?: number; deadlineMs?: number } = {}): Promise<Answer[]> {
  const started = Date.now()
  const deadline = started + (opts.deadlineMs ?? 60_000)
  const out: Answer[] = []
  let sent = 0
  const worker = async (): Promise<void> => {
    while (sent < n && Date.now() < deadline) {
      sent++
      out.push(await request(url, opts, started))
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, n) }, worker))
  return out
}

export interface Load {
  /** answers so far (live array) */
  answers: Answer[]
  /** when the load started (Date.now()) */
  started: number
  /** stops sending and resolves with every answer once the requests in flight are done */
  stop(): Promise<Answer[]>
}

/**
 * Constant load until stop(), `concurrency` requests in flight, at most maxRequests in all and
 * for at most maxMs (then it stops on its own).
 */
export function load(url: string, opts: RequestOptions & { concurrency?: number; maxRequests?: number; maxMs?: number } = {}): Load {
  const started = Date.now()
  const deadline = started + (opts.maxMs ?? 300_000)
  const max = opts.maxRequests ?? 50_000
  const answers: Answer[] = []
  let stopped = false
  const worker = async (): Promise<void> => {
    while (!stopped && answers.length < max && Date.now() < deadline) {
      answers.push(await request(url, opts, started))
      // A short breath keeps 2 shared cores usable for the control plane under test.
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  }
  const workers = Promise.all(Array.from({ length: opts.concurrency ?? 2 }, worker))
  return {
    answers,
    started,
    async stop() {
      stopped = true
      await workers
      return answers
    }
  }
}

/** Failed from a user's point of view: no answer, or the router's own 5xx (no upstream). */
export const failedRequest = (a: Answer): boolean => a.status === 0 || a.status >= 500

/** Share of the answers served by `digest`, 0-1. */
export function share(answers: Answer[], digest: string): number {
  return answers.length ? answers.filter(a => a.digest === digest).length / answers.length : 0
}

/** k of n within 4 standard deviations of a binomial(n, p); exact for p 0 and 1. */
export function withinBinomial(k: number, n: number, p: number, sigmas = 4): boolean {
  return Math.abs(k - n * p) <= sigmas * Math.sqrt(n * p * (1 - p))
}

/** Counts by key, for messages ("sha256:2…: 180, sha256:1…: 20"). */
export function tally(answers: Answer[], key: (a: Answer) => string = a => a.digest ?? `status ${a.status}${a.error ? ` (${a.error})` : ''}`): Record<string, number> {
  const out: Record<string, number> = {}
  for (const a of answers) out[key(a)] = (out[key(a)] ?? 0) + 1
  return out
}
