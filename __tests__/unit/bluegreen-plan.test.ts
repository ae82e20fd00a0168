import { errorLine } from './error-line.js'
import { describe, expect, it } from '@jest/globals'
import type { KubeObject, Manifest } from '../../src/manifests/types.js'
import type { Change } from '../../src/report/model.js'
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

const pod = (hash: string, deleting = false): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `web-${hash}-x`, labels: { app: 'web', 'pod-template-hash': hash }, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) }
})
const input = (
  liveServices: KubeObject[],
  liveDeployments: string[],
  docs: Manifest[] = [doc(deployment), doc(service({ app: 'web' }))],
  pods?: KubeObject[],
  changes = new Map<string, Change>()
): BlueGreenInput => ({
  documents: docs,
  image: IMAGE,
  namespace: 'shop',
  live: { services: liveServices, deployments: liveDeployments.map(live), pods },
  changes,
  environment: 'production'
})

describe('planBlueGreen colours', () => {
  const H = 'pod-template-hash'
  const C = 'kube-ship.dev/color'
  it.each<[string, KubeObject[], string[], KubeObject[] | undefined, string | undefined, string, string | undefined, Record<string, string | null>, Record<string, string | null>]>([
    // Nothing serves: the Service selects the colour without pods until the switch.
    ['first deploy: no Service yet', [], [], undefined, undefined, 'blue', undefined, { [C]: 'green' }, { [C]: 'blue' }],
    // The plain Deployment's pods carry app=web like the new colour's: pinned to their ReplicaSet.
    ['after a rolling deploy: plain Deployment serves', [service({ app: 'web' })], ['web'], [pod('abc'), pod('old', true)], undefined, 'blue', 'web', { [C]: null, [H]: 'abc' }, { [C]: 'blue', [H]: null }],
    ['plain Deployment scaled to 0', [service({ app: 'web' })], ['web'], [], undefined, 'blue', 'web', { [C]: 'green' }, { [C]: 'blue' }],
    ['blue serves', [service({ app: 'web', [C]: 'blue' })], ['web-blue'], undefined, 'blue', 'green', 'web-blue', { [C]: 'blue' }, { [C]: 'green' }],
    ['green serves', [service({ app: 'web', [C]: 'green' })], ['web-blue', 'web-green'], undefined, 'green', 'blue', 'web-green', { [C]: 'green' }, { [C]: 'blue' }]
  ])('%s', (_name, services, deployments, pods, liveColor, newColor, old, back, switched) => {
    const plan = planBlueGreen(input(services, deployments, undefined, pods))
    expect(plan.liveColor).toBe(liveColor)
    expect(plan.newColor).toBe(newColor)
    expect(plan.oldDeployment).toBe(old)
    expect(plan.switchPatch).toEqual({ spec: { selector: switched } })
    expect(plan.backPatch).toEqual({ spec: { selector: back } })
    // Pinning and switching back select the same pods: whatever served before the run.
    const { [C]: _unset, ...pin } = back
    expect(plan.pinPatch.spec.selector).toEqual(back[C] === null ? pin : back)
    const d = plan.deployment.object as any
    expect(d.metadata.name).toBe(`web-${newColor}`)
    expect(d.metadata.namespace).toBe('shop')
    expect(d.spec.selector.matchLabels).toEqual({ app: 'web', 'kube-ship.dev/color': newColor })
    expect(d.spec.template.metadata.labels).toEqual({ app: 'web', 'kube-ship.dev/color': newColor })
    expect(d.spec.replicas).toBe(3)
  })

  const selectors = (ms: Manifest[]) => ms.map(d => (d.object.spec as any).selector)
  it.each<[string, KubeObject[], string[], KubeObject[] | undefined, Change, Record<string, string>[], Record<string, string>[], Record<string, string | null>]>([
    // Needed to switch at all, and new: created before the new colour, selecting no pods until the switch.
    ['no live Service: created early, selecting no pods', [], [], undefined, 'created', [{ app: 'web', 'kube-ship.dev/color': 'green' }], [], {}],
    [
      'uncoloured live Service: pinned to the serving ReplicaSet, the document applied after the switch',
      [service({ app: 'web' })],
      ['web'],
      [pod('abc')],
      'configured',
      [],
      [{ app: 'web', 'kube-ship.dev/color': 'blue' }],
      { 'pod-template-hash': null }
    ],
    ['blue live: the document is applied after the switch, selecting green', [service({ app: 'web', 'kube-ship.dev/color': 'blue' })], [], undefined, 'configured', [], [{ app: 'web', 'kube-ship.dev/color': 'green' }], { 'kube-ship.dev/color': 'blue' }],
    ['blue live, the Service unchanged: nothing to apply', [service({ app: 'web', 'kube-ship.dev/color': 'blue' })], [], undefined, 'unchanged', [], [], { 'kube-ship.dev/color': 'blue' }]
  ])('%s', (_name, services, deployments, pods, change, early, later, unpin) => {
    const plan = planBlueGreen(input(services, deployments, undefined, pods, new Map([['/Service/shop/web', change]])))
    expect(selectors(plan.early)).toEqual(early)
    expect(selectors(plan.later)).toEqual(later)
    if (services.length) expect(plan.unpinPatch).toEqual({ spec: { selector: unpin } })
    // Only a selector that lacks the pin is patched (a no-op patch still writes managedFields).
    expect(plan.pinNeeded).toBe('pod-template-hash' in unpin)
  })

  it('a new Service and ServiceAccount are created early, labelled; the switch drops the Service\'s labels, the account\'s own document before it', () => {
    const asAccount: KubeObject = { ...deployment, spec: { ...(deployment.spec as object), template: { metadata: { labels: { app: 'web' } }, spec: { serviceAccountName: 'web-sa', containers: [{ name: 'web', image: IMAGE }] } } } }
    const account: KubeObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web-sa' } }
    const plan = planBlueGreen(input([], [], [doc(asAccount), doc(service({ app: 'web' })), doc(account)], undefined, new Map([['/Service/shop/web', 'created'], ['/ServiceAccount/shop/web-sa', 'created']])))
    const early = { 'kube-ship.dev/early-of': 'web', 'kube-ship.dev/environment': 'production' }
    expect(plan.early.map(m => [m.object.kind, m.object.metadata.labels])).toEqual([
      ['Service', early],
      ['ServiceAccount', early]
    ])
    expect(plan.adopt.map(m => m.object)).toEqual([account])
    expect(plan.switchPatch).toEqual({ metadata: { labels: { 'kube-ship.dev/early-of': null, 'kube-ship.dev/environment': null } }, spec: { selector: { 'kube-ship.dev/color': 'blue' } } })
    expect(plan.later).toEqual([])
  })

  it('the new colour names copies of the changed ConfigMaps it uses, labelled with its colour; the originals wait', () => {
    const withConfig: KubeObject = {
      ...deployment,
      spec: { ...(deployment.spec as object), template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: IMAGE, envFrom: [{ configMapRef: { name: 'env' } }] }] } } }
    }
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'env' }, data: { a: '2' } }
    const plan = planBlueGreen(
      input([service({ app: 'web', 'kube-ship.dev/color': 'blue' })], ['web-blue'], [doc(withConfig), doc(service({ app: 'web' })), doc(cm)], undefined, new Map([['/ConfigMap/shop/env', 'configured'], ['/Service/shop/web', 'unchanged']]))
    )
    expect((plan.deployment.object.spec as any).template.spec.containers[0].envFrom).toEqual([{ configMapRef: { name: 'env-green' } }])
    expect(plan.copies.map(c => [c.object.metadata.name, c.object.metadata.labels])).toEqual([
      ['env-green', { 'app.kubernetes.io/managed-by': 'kube-ship', 'kube-ship.dev/color-of': 'web', 'kube-ship.dev/color': 'green' }]
    ])
    expect(plan.later.map(m => m.object.metadata.name)).toEqual(['env'])
  })
})

describe('planBlueGreen bad input', () => {
  const line = errorLine
  it.each<[string, BlueGreenInput, RegExp]>([
    ['no Service', input([], [], [doc(deployment)]), /^app.yaml:1: no Service selects the pods of Deployment web/],
    ['two Services', input([service({ app: 'web' }, 'web-admin')], []), /Services web, web-admin all select the pods/],
    ['plain Deployment mid-rollout', input([service({ app: 'web' })], ['web'], undefined, [pod('a'), pod('b')]), /^app.yaml:1: Deployment shop\/web is in the middle of a rollout \(pods of 2 ReplicaSets\)/],
    ['foreign colour', input([service({ app: 'web', 'kube-ship.dev/color': 'red' })], []), /^Service\/shop\/web: Service shop\/web selects kube-ship.dev\/color=red; expected blue or green/]
  ])('%s', (_name, bad, expected) => {
    expect(line(() => planBlueGreen(bad))).toMatch(expected)
  })
})
