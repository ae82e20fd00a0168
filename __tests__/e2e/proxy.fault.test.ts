// The action through dist/index.js against an API server that misbehaves: a TLS fault proxy
// (test/fault-proxy.ts) in front of the stack's kube-apiserver answers 20 % of requests with 429
// (Retry-After), 503, a reset before or after the server acted, or cuts watch streams. 20 deploys
// of a 3-Deployment app alternate a good and a broken image; each must end with the right verdict
// (good: succeeded and running it; broken: rolled back to the last good one), no write may land
// twice (each Deployment's generation moves exactly as often as its spec changed), the lock is
// released every time, and every error is one line that does not blame the kubeconfig.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { stringify } from 'yaml'
import { startFaultProxy, type FaultProxy } from '../../test/fault-proxy.js'
import { errorLines, runAction } from './action.js'
import { deleteNamespace, freshNamespace, kubectlJson, SIM_LABEL, stack } from './stack.js'

const DEPLOYS = Number(process.env.FAULT_DEPLOYS || 20)
const APPS = ['api', 'web', 'worker']
let proxy: FaultProxy
let namespace: string
let dir: string

function app(tag: string, broken: boolean): string {
  const docs = APPS.map(name => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...(broken ? { [SIM_LABEL]: 'crashloop' } : {}) } },
        spec: { containers: [{ name, image: `${stack().registry}/e2e/faults-${name}:${tag}` }] }
      }
    }
  }))
  return docs.map(d => stringify(d)).join('---\n')
}

async function live(): Promise<Map<string, { image: string; generation: number }>> {
  const list = await kubectlJson(['-n', namespace, 'get', 'deployments'])
  return new Map(list.items.map((d: any) => [d.metadata.name, { image: d.spec.template.spec.containers[0].image, generation: d.metadata.generation }]))
}

beforeAll(async () => {
  namespace = await freshNamespace('faults')
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-faults-'))
  proxy = await startFaultProxy({ kubeconfig: stack().kubeconfig, share: 0.2, retryAfterSeconds: 1 })
})

afterAll(async () => {
  await proxy?.stop()
  await deleteNamespace(namespace)
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('deploys through a fault-injecting proxy (20 % 429/503/resets, watches included)', () => {
  it(
    `gives ${DEPLOYS} of ${DEPLOYS} correct verdicts with no duplicate side effects`,
    async () => {
      const rows: { i: number; want: string; status: string; images: boolean; duplicates: number; lockLeft: boolean; error?: string }[] = []
      let lastGood = ''
      for (let i = 0; i < DEPLOYS; i++) {
        const broken = i % 2 === 1
        const tag = `${broken ? 'bad' : 'good'}-${i}`
        fs.writeFileSync(path.join(dir, 'app.yaml'), app(tag, broken))
        const before = await live()
        const run = await runAction({ manifests: 'app.yaml', namespace, timeout: '4m', comment: 'never' }, { env: { KUBECONFIG: proxy.kubeconfig, GITHUB_SHA: 'f'.repeat(40) }, cwd: dir })
        const after = await live()
        const want = broken ? 'rolled-back' : 'succeeded'
        const expectedTag = broken ? lastGood : tag
        const images = APPS.every(a => after.get(a)?.image.endsWith(`:${expectedTag}`))
        // Spec changes per Deployment: a good deploy 1 (created: generation 1), a broken one 2 (apply, then the restore).
        let duplicates = 0
        for (const a of APPS) {
          const moved = (after.get(a)?.generation ?? 0) - (before.get(a)?.generation ?? 0)
          duplicates += Math.max(0, moved - (broken ? 2 : 1))
        }
        const leases = await kubectlJson(['-n', namespace, 'get', 'leases'])
        const lines = errorLines(run.log)
        rows.push({
          i,
          want,
          status: run.outputs.status,
          images,
          duplicates,
          lockLeft: leases.items.length > 0,
          error: lines.length > 1 || /kubeconfig server address/.test(run.log) ? lines.join(' / ') || 'blames the kubeconfig' : undefined
        })
        if (run.outputs.status !== want || !images) console.log(`deploy ${i} (${tag}): ${run.outputs.status}, wanted ${want}\n${run.log.split('\n').slice(-60).join('\n')}`)
        if (!broken && run.outputs.status === 'succeeded') lastGood = tag
      }
      const correct = rows.filter(r => r.status === r.want && r.images).length
      const duplicates = rows.reduce((n, r) => n + r.duplicates, 0)
      // The figures the README quotes.
      console.log(`fault proxy: ${correct}/${DEPLOYS} correct verdicts, ${duplicates} duplicate side effects, ${proxy.stats.requests} requests (${proxy.stats.watches} watches, ${proxy.stats.watchFaults} of them faulted), faults ${JSON.stringify(proxy.stats.faults)}`)
      expect(rows.filter(r => r.status !== r.want || !r.images)).toEqual([])
      expect(correct).toBe(DEPLOYS)
      expect(duplicates).toBe(0)
      expect(rows.filter(r => r.lockLeft || r.error)).toEqual([])
      // The faults really happened, watches included.
      expect(proxy.stats.watchFaults).toBeGreaterThan(0)
      expect(proxy.stats.faults['reset-after']).toBeGreaterThan(0)
      expect(proxy.stats.faults['429']).toBeGreaterThan(0)
    },
    45 * 60_000
  )
})
