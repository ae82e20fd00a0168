// Blue-green against the real control plane: the Service selector is what a kube-proxy would
// read, so the tests assert it (and which colours run) after each run.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'
import { DeployError } from '../../src/errors.js'
import { readSettings } from '../../src/inputs.js'
import type { KubeObject } from '../../src/manifests/types.js'
import { newReport } from '../../src/report/model.js'
import { decideStatus } from '../../src/status.js'
import { runBlueGreen } from '../../src/strategies/blue-green.js'
import type { PlanContext, PlanFacts } from '../../src/strategies/index.js'
import { deleteNamespace, freshNamespace, kubectl, kubectlJson, kubectlResult, SIM_LABEL, stack } from './stack.js'

const REPO = '127.0.0.1:5310/e2e/shop'
const digest = (n: number): string => `sha256:${String(n).repeat(64)}`

function app(d: string, podLabels: Record<string, string> = {}): KubeObject[] {
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web', ...podLabels } }, spec: { containers: [{ name: 'web', image: `${REPO}@${d}` }] } }
      }
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } }
  ]
}

let healthy = true
const server = http.createServer((_req, res) => {
  res.statusCode = healthy ? 200 : 503
  res.end()
})
let healthUrl = ''
let ns = ''

beforeAll(async () => {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  healthUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ready`
  ns = await freshNamespace('bluegreen')
})
afterAll(async () => {
  await new Promise<void>(resolve => server.close(() => resolve()))
  if (ns) await deleteNamespace(ns)
})

function context(d: string, podLabels: Record<string, string> = {}): PlanContext {
  const settings = readSettings(name => ({ namespace: ns, image: REPO, digest: d, strategy: 'blue-green', timeout: '3m', 'health-url': healthUrl })[name] ?? '')
  const kc = new KubeConfig()
  kc.loadFromFile(stack().kubeconfig)
  const report = newReport({ environment: 'e2e', mode: 'deploy', strategy: 'blue-green', image: { ref: REPO, digest: d, tags: [], built: false } })
  return { kc, settings, documents: app(d, podLabels).map((object, i) => ({ object, origin: { file: 'app.yaml', line: 1 + i * 12 } })), report, signal: AbortSignal.timeout(180_000) }
}

/** Facts as deliver hands them to a plan, before it ran. */
const freshFacts = (): PlanFacts => ({ delivered: false, rolledBack: false })

const selector = async (): Promise<Record<string, string>> => (await kubectlJson(['get', '-n', ns, 'service', 'web'])).spec.selector
const replicas = async (name: string): Promise<number | undefined> => {
  const r = await kubectlResult(['get', '-n', ns, 'deployment', name, '-o', 'jsonpath={.spec.replicas}'])
  return r.code === 0 ? Number(r.stdout) : undefined
}
const image = async (name: string): Promise<string> => (await kubectlJson(['get', '-n', ns, 'deployment', name])).spec.template.spec.containers[0].image

describe('blue-green', () => {
  it('moves a rolling deploy to blue, switches to green, and switches back when verification fails', async () => {
    // A plain rolling deploy serves first.
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: app(digest(1)) }) })
    await kubectl(['rollout', 'status', '-n', ns, 'deployment/web', '--timeout=120s'])

    const first = context(digest(2))
    const firstFacts = freshFacts()
    await runBlueGreen(first, firstFacts)
    expect(firstFacts).toEqual({ delivered: true, rolledBack: false })
    expect(await selector()).toEqual({ app: 'web', 'kube-ship.dev/color': 'blue' })
    expect(await image('web-blue')).toBe(`${REPO}@${digest(2)}`)
    expect(await replicas('web')).toBe(0)
    expect(first.report.blueGreen).toEqual({ service: 'web', to: 'blue', switched: true })

    const second = context(digest(3))
    await runBlueGreen(second, freshFacts())
    expect(await selector()).toEqual({ app: 'web', 'kube-ship.dev/color': 'green' })
    expect(await image('web-green')).toBe(`${REPO}@${digest(3)}`)
    expect(await replicas('web-blue')).toBe(0)
    expect(second.report.blueGreen).toEqual({ service: 'web', from: 'blue', to: 'green', switched: true })

    // The next version fails verification after the switch: traffic goes back to green.
    const greenBefore = (await kubectlJson(['get', '-n', ns, 'deployment', 'web-green'])).metadata.generation
    healthy = false
    const third = context(digest(4))
    const thirdFacts = freshFacts()
    try {
      await expect(runBlueGreen(third, thirdFacts)).rejects.toThrow(DeployError)
    } finally {
      healthy = true
    }
    expect(await selector()).toEqual({ app: 'web', 'kube-ship.dev/color': 'green' })
    expect(await replicas('web-blue')).toBeUndefined()
    expect(await image('web-green')).toBe(`${REPO}@${digest(3)}`)
    expect(await replicas('web-green')).toBe(2)
    expect((await kubectlJson(['get', '-n', ns, 'deployment', 'web-green'])).metadata.generation).toBe(greenBefore)
    expect(third.report.blueGreen).toEqual({ service: 'web', from: 'green', to: 'blue', switched: true, switchedBack: true })
    expect(third.report.rollback).toEqual([
      { resource: `Service/${ns}/web`, action: 'restored', message: 'selector back to green' },
      { resource: `Deployment/${ns}/web-blue`, action: 'deleted' }
    ])
    expect(third.report.health).toEqual([expect.objectContaining({ url: healthUrl, ok: false, status: 503 })])
    expect(decideStatus({ mode: 'deploy', completed: false, failed: true, cancelled: false, ...thirdFacts }).status).toBe('rolled-back')

    // A new colour that crashes never takes traffic: no switch, and it is removed.
    const fourth = context(digest(5), { [SIM_LABEL]: 'crashloop' })
    const fourthFacts = freshFacts()
    await expect(runBlueGreen(fourth, fourthFacts)).rejects.toThrow(/^blue-green blue was not switched to: .*web-blue.*(CrashLoopBackOff|crash)/)
    expect(await selector()).toEqual({ app: 'web', 'kube-ship.dev/color': 'green' })
    expect(await replicas('web-blue')).toBeUndefined()
    expect((await kubectlJson(['get', '-n', ns, 'deployment', 'web-green'])).metadata.generation).toBe(greenBefore)
    expect(fourth.report).toMatchObject({ blueGreen: { from: 'green', to: 'blue', switched: false } })
    expect(decideStatus({ mode: 'deploy', completed: false, failed: true, cancelled: false, ...fourthFacts }).status).toBe('failed')
  })
})
