import { describe, expect, it } from '@jest/globals'
import type { KubeObject } from '../../src/manifests/types.js'
import { type CanaryBaseline, choosePlan, type PlanChoice } from '../../src/strategies/index.js'

const REPO = '127.0.0.1:5310/shop/web'
const NEW = `sha256:${'2'.repeat(64)}`
const OLD = `sha256:${'1'.repeat(64)}`

const stable = (...images: string[]): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { selector: { matchLabels: { app: 'web' } }, template: { spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } } }
})
const baseline = (live?: KubeObject): CanaryBaseline => ({ image: `${REPO}@${NEW}`, namespace: 'shop', name: 'web', live })

describe('choosePlan', () => {
  it.each<[string, 'rolling' | 'blue-green']>([
    ['rolling is the rolling plan', 'rolling'],
    ['blue-green is the blue-green plan', 'blue-green']
  ])('%s', (_name, strategy) => {
    expect(choosePlan({ strategy })).toEqual({ plan: strategy })
  })

  it.each<[string, KubeObject | undefined, PlanChoice]>([
    ['a first deploy (no stable Deployment) goes out rolling', undefined, { plan: 'rolling', reason: 'canary skipped: Deployment shop/web is new, deployed directly' }],
    ['a re-run of the running digest goes out rolling', stable(`${REPO}@${NEW}`), { plan: 'rolling', reason: `canary skipped: Deployment shop/web already runs ${REPO}@${NEW}` }],
    ['the digest in a sidecar beside the app still runs it', stable('busybox:1', `${REPO}@${NEW}`), { plan: 'rolling', reason: `canary skipped: Deployment shop/web already runs ${REPO}@${NEW}` }],
    ['stable runs another digest: a canary compares with it', stable(`${REPO}@${OLD}`), { plan: 'canary' }],
    ['stable runs a tag, not the digest: a canary', stable(`${REPO}:v1`), { plan: 'canary' }],
    ['the same digest from another repository is another image', stable(`127.0.0.1:5310/shop/api@${NEW}`), { plan: 'canary' }],
    ['stable with an unparsable image: a canary', stable('not a reference'), { plan: 'canary' }]
  ])('canary: %s', (_name, live, expected) => {
    expect(choosePlan({ strategy: 'canary', baseline: baseline(live) })).toEqual(expected)
  })
})
