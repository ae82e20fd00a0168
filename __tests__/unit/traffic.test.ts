import { describe, expect, it } from '@jest/globals'
import type { KubeObject } from '../../src/manifests/types.js'
import { ORIGINAL_RULES, originalRules, restorePatch, routeObserved } from '../../src/traffic/gateway-api.js'
import { nginxPatch } from '../../src/traffic/nginx.js'

describe('routeObserved', () => {
  const route = (generation: number, parents?: { conditions: { type: string; observedGeneration?: number }[] }[]): KubeObject => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'web', generation },
    ...(parents ? { status: { parents } } : {})
  })
  it.each<[string, KubeObject, boolean | undefined]>([
    ['no controller reports status', route(3), undefined],
    ['accepted at this generation', route(3, [{ conditions: [{ type: 'Accepted', observedGeneration: 3 }] }]), true],
    ['accepted at an older generation', route(3, [{ conditions: [{ type: 'Accepted', observedGeneration: 2 }] }]), false],
    ['one of two parents behind', route(3, [{ conditions: [{ type: 'Accepted', observedGeneration: 3 }] }, { conditions: [{ type: 'Accepted', observedGeneration: 2 }] }]), false],
    ['only ResolvedRefs current', route(3, [{ conditions: [{ type: 'ResolvedRefs', observedGeneration: 3 }] }]), false]
  ])('%s', (_name, r, expected) => {
    expect(routeObserved(r)).toBe(expected)
  })
})

describe('nginxPatch', () => {
  it.each([
    [0, false, { 'nginx.ingress.kubernetes.io/canary-weight': '0' }],
    [10, false, { 'nginx.ingress.kubernetes.io/canary-weight': '10' }],
    [99, false, { 'nginx.ingress.kubernetes.io/canary-weight': '99' }],
    [0, true, { 'nginx.ingress.kubernetes.io/canary-weight': '0', 'nginx.ingress.kubernetes.io/canary-by-header': null }]
  ])('weight %i removing=%s patches only our annotations, as strings', (weight, removing, annotations) => {
    expect(nginxPatch(weight, removing)).toEqual({ metadata: { annotations } })
  })

  it.each([-1, 101, 2.5, NaN])('refuses weight %p', weight => {
    expect(() => nginxPatch(weight)).toThrow(RangeError)
  })
})

describe('HTTPRoute original rules', () => {
  const route = (annotations?: Record<string, string>): KubeObject => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web', annotations } })
  const rules = [{ backendRefs: [{ name: 'web', port: 80, weight: 1 }] }]

  it.each<[string, KubeObject, unknown]>([
    ['untouched route', route(), undefined],
    ['other annotations only', route({ a: 'b' }), undefined],
    ['route a canary edited', route({ [ORIGINAL_RULES]: JSON.stringify(rules) }), rules]
  ])('%s', (_name, r, expected) => {
    expect(originalRules(r)).toEqual(expected)
  })

  it('restores the rules and drops the annotation in one merge patch', () => {
    expect(restorePatch(rules)).toEqual({ metadata: { annotations: { [ORIGINAL_RULES]: null, 'kube-ship.dev/canary-of': null, 'kube-ship.dev/environment': null } }, spec: { rules } })
  })
})
