import { describe, expect, it } from '@jest/globals'
import type { KubeObject } from '../../src/manifests/types.js'
import { ORIGINAL_RULES, originalRules, restorePatch } from '../../src/traffic/gateway-api.js'
import { nginxPatch } from '../../src/traffic/nginx.js'

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
    expect(restorePatch(rules)).toEqual({ metadata: { annotations: { [ORIGINAL_RULES]: null, 'kube-ship.dev/canary-of': null } }, spec: { rules } })
  })
})
