import { errorLine } from './error-line.js'
import { describe, expect, it } from '@jest/globals'
import type { KubeObject, Manifest } from '../../src/manifests/types.js'
import { planBlueGreen, type BlueGreenInput } from '../../src/strategies/blue-green-plan.js'

const IMAGE = `127.0.0.1:5310/shop/web@sha256:${'b'.repeat(64)}`
const deployment: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: IMAGE }] } } }
}
const service = (selector: Record<string, string>, name = 'web'): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector, ports: [{ port: 80 }] } })
const doc = (object: KubeObject): Manifest => ({ object, origin: { file: 'app.yaml', line: 1 } })
const live = (name: string): KubeObject => ({ ...deployment, metadata: { name } })

const input = (liveServices: KubeObject[], liveDeployments: string[], docs: Manifest[] = [doc(deployment), doc(service({ app: 'web' }))]): BlueGreenInput => ({
  documents: docs,
  image: IMAGE,
  namespace: 'shop',
  live: { services: liveServices, deployments: liveDeployments.map(live) }
})

describe('planBlueGreen colours', () => {
  it.each<[string, KubeObject[], string[], string | undefined, string, string | undefined, Record<string, string | null>]>([
    ['first deploy: no Service yet', [], [], undefined, 'blue', undefined, { 'kube-ship.dev/color': null }],
    ['after a rolling deploy: plain Deployment serves', [service({ app: 'web' })], ['web'], undefined, 'blue', 'web', { 'kube-ship.dev/color': null }],
    ['blue serves', [service({ app: 'web', 'kube-ship.dev/color': 'blue' })], ['web-blue'], 'blue', 'green', 'web-blue', { 'kube-ship.dev/color': 'blue' }],
    ['green serves', [service({ app: 'web', 'kube-ship.dev/color': 'green' })], ['web-blue', 'web-green'], 'green', 'blue', 'web-green', { 'kube-ship.dev/color': 'green' }]
  ])('%s', (_name, services, deployments, liveColor, newColor, old, back) => {
    const plan = planBlueGreen(input(services, deployments))
    expect(plan.liveColor).toBe(liveColor)
    expect(plan.newColor).toBe(newColor)
    expect(plan.oldDeployment).toBe(old)
    expect(plan.switchPatch).toEqual({ spec: { selector: { 'kube-ship.dev/color': newColor } } })
    expect(plan.backPatch).toEqual({ spec: { selector: back } })
    const d = plan.deployment.object as any
    expect(d.metadata.name).toBe(`web-${newColor}`)
    expect(d.metadata.namespace).toBe('shop')
    expect(d.spec.selector.matchLabels).toEqual({ app: 'web', 'kube-ship.dev/color': newColor })
    expect(d.spec.template.metadata.labels).toEqual({ app: 'web', 'kube-ship.dev/color': newColor })
    expect(d.spec.replicas).toBe(3)
  })

  it.each<[string, KubeObject[], Record<string, string>]>([
    ['no live Service: selects the new colour from the start', [], { app: 'web', 'kube-ship.dev/color': 'blue' }],
    ['uncoloured live Service: unchanged until the switch', [service({ app: 'web' })], { app: 'web' }],
    ['blue live: the applied Service keeps selecting blue', [service({ app: 'web', 'kube-ship.dev/color': 'blue' })], { app: 'web', 'kube-ship.dev/color': 'blue' }]
  ])('%s', (_name, services, selector) => {
    const plan = planBlueGreen(input(services, []))
    expect(plan.rest.map(d => (d.object.spec as any).selector)).toEqual([selector])
  })
})

describe('planBlueGreen bad input', () => {
  const line = errorLine
  it.each<[string, BlueGreenInput, RegExp]>([
    ['no Service', input([], [], [doc(deployment)]), /^app.yaml:1: no Service selects the pods of Deployment web/],
    ['two Services', input([service({ app: 'web' }, 'web-admin')], []), /Services web, web-admin all select the pods/],
    ['foreign colour', input([service({ app: 'web', 'kube-ship.dev/color': 'red' })], []), /^Service\/shop\/web: Service shop\/web selects kube-ship.dev\/color=red; expected blue or green/]
  ])('%s', (_name, bad, expected) => {
    expect(line(() => planBlueGreen(bad))).toMatch(expected)
  })
})
