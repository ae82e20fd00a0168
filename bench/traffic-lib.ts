// What bench/traffic.mjs drives, bundled by esbuild so plain Node can load the TypeScript sources:
// the strategies as main.ts runs them, and the e2e traffic helpers (bounded request loops).
export { KubeConfig } from '@kubernetes/client-node'
export { readSettings } from '../src/inputs.js'
export { newReport } from '../src/report/model.js'
export { runRolling } from '../src/strategies/rolling.js'
export { runCanaryWith, stageIO } from '../src/strategies/canary.js'
export { runBlueGreenWith } from '../src/strategies/blue-green.js'
export { request, sample, tally, failedRequest, type Answer } from '../__tests__/e2e/traffic.js'
import { request, type Answer } from '../__tests__/e2e/traffic.js'

export interface Sent extends Answer {
  /** ms since the load started, when the request was sent */
  sentAt: number
}

/**
 * Constant load like the tests' load(), recording when each request was sent too (a canary's
 * last request is judged by when the router picked it, not when its answer came back).
 * Bounded: at most maxRequests and maxMs.
 */
export function stampedLoad(url: string, opts: { concurrency?: number; maxRequests?: number; maxMs?: number } = {}) {
  const started = Date.now()
  const deadline = started + (opts.maxMs ?? 300_000)
  const max = opts.maxRequests ?? 50_000
  const answers: Sent[] = []
  let stopped = false
  let sent = 0
  const worker = async (): Promise<void> => {
    while (!stopped && sent < max && Date.now() < deadline) {
      sent++
      const sentAt = Date.now() - started
      answers.push({ ...(await request(url, {}, started)), sentAt })
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  }
  const workers = Promise.all(Array.from({ length: opts.concurrency ?? 2 }, worker))
  return {
    answers,
    started,
    async stop(): Promise<Sent[]> {
      stopped = true
      await workers
      return answers
    }
  }
}

/** Until Traefik's API shows a weighted service of this namespace whose canary child has `weight`. */
export async function routerHasWeight(api: string, ns: string, weight: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const raw = (await (await fetch(`${api}/rawdata`, { signal: AbortSignal.timeout(5000) })).json()) as {
      services?: Record<string, { weighted?: { services?: { name: string; weight?: number }[] } }>
    }
    const has = Object.entries(raw.services ?? {}).some(
      ([name, s]) => name.includes(ns) && (s.weighted?.services?.length ?? 0) > 1 && (s.weighted?.services ?? []).some(c => c.name.includes('canary') && (c.weight ?? 1) === weight)
    )
    if (has) return
    if (Date.now() > deadline) throw new Error(`Traefik did not route ${weight}% to the canary of ${ns} within ${timeoutMs / 1000}s`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
