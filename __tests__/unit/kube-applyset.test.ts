import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import {
  GROUP_KINDS,
  ID_LABEL,
  KEEP,
  NAMESPACES,
  PART_OF,
  type Desired,
  type ParentState,
  type PruneAllowance,
  TOOLING,
  applySetId,
  deleteWaves,
  groupKind,
  massLimit,
  parentObject,
  parentRef,
  parseGroupKind,
  planPrune,
  readParent,
  scopeOf,
  withMembership
} from '../../src/kube/applyset.js'
import { DeployError } from '../../src/errors.js'
import type { KubeObject } from '../../src/manifests/types.js'

const ref = parentRef('production', 'shop')
const id = applySetId({ ...ref, group: '' })
const obj = (apiVersion: string, kind: string, name: string, namespace: string | undefined = 'shop', meta: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}), labels: { [PART_OF]: id }, ...meta }
})
const cm = (name: string, meta: Partial<KubeObject['metadata']> = {}) => obj('v1', 'ConfigMap', name, 'shop', meta)
const owned: ParentState = { existed: true, groupKinds: ['ConfigMap', 'Deployment.apps'], namespaces: ['shop'] }
const scope = { groupKinds: ['ConfigMap', 'Deployment.apps'], namespaces: ['shop'] }
const desired = (...names: string[]): Desired[] => names.map(n => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: n }))
const plan = (live: KubeObject[], want: Desired[], o: { parent?: ParentState; allow?: PruneAllowance[] } = {}) =>
  planPrune({ live, desired: want, parent: o.parent ?? owned, scope, allow: o.allow ?? [] })
const names = (p: { delete: KubeObject[] }) => p.delete.map(o => `${o.kind}/${o.metadata.name}`)

describe('ApplySet identity (KEP-3659)', () => {
  it('the id is applyset-<base64url(sha256(name.namespace.kind.group))>-v1, unpadded', () => {
    const expected = createHash('sha256').update('kube-ship-production.shop.ConfigMap.').digest('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
    expect(id).toBe(`applyset-${expected}-v1`)
    expect(id).toMatch(/^applyset-[A-Za-z0-9_-]{43}-v1$/)
    // 63 characters at most: a label value
    expect(id.length).toBeLessThanOrEqual(63)
  })

  it.each([
    ['production', 'kube-ship-production'],
    ['staging-eu', 'kube-ship-staging-eu'],
    ['Preview/PR 12', /^kube-ship-preview-pr-12-[0-9a-f]{8}$/],
    ['preview/pr-12', /^kube-ship-preview-pr-12-[0-9a-f]{8}$/],
    ['x'.repeat(80), /^kube-ship-x{40}-[0-9a-f]{8}$/]
  ])('environment %s has parent %s', (env, name) => {
    const r = parentRef(env, 'shop')
    if (typeof name === 'string') expect(r.name).toBe(name)
    else expect(r.name).toMatch(name)
    expect(r.name.length).toBeLessThanOrEqual(63)
    expect(r).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop' })
  })

  it('two environments that slug alike get different parents', () => {
    expect(parentRef('Preview/PR 12', 'shop').name).not.toBe(parentRef('preview/pr-12', 'shop').name)
  })

  it.each([
    ['v1', 'ConfigMap', 'ConfigMap'],
    ['apps/v1', 'Deployment', 'Deployment.apps'],
    ['networking.k8s.io/v1', 'Ingress', 'Ingress.networking.k8s.io']
  ])('%s %s is group-kind %s, and back', (apiVersion, kind, gk) => {
    expect(groupKind(apiVersion, kind)).toBe(gk)
    expect(parseGroupKind(gk)).toEqual({ kind, group: apiVersion.includes('/') ? apiVersion.split('/')[0] : '' })
  })
})

describe('the parent', () => {
  const live = (annotations: Record<string, string> | undefined, labels: Record<string, string> | undefined = { [ID_LABEL]: id }): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: ref.name, namespace: 'shop', labels, annotations }
  })

  it.each<[string, KubeObject | undefined, ParentState | RegExp]>([
    ['absent: a first run', undefined, { existed: false, groupKinds: [], namespaces: ['shop'] }],
    ['ours', live({ [TOOLING]: 'kube-ship/v1', [GROUP_KINDS]: 'ConfigMap,Deployment.apps', [NAMESPACES]: 'other' }), { existed: true, groupKinds: ['ConfigMap', 'Deployment.apps'], namespaces: ['shop', 'other'] }],
    ['ours, empty set', live({ [TOOLING]: 'kube-ship/v2.0.0', [GROUP_KINDS]: '' }), { existed: true, groupKinds: [], namespaces: ['shop'] }],
    ['kubectl manages it', live({ [TOOLING]: 'kubectl/v1.36.0', [GROUP_KINDS]: 'ConfigMap' }), /^ConfigMap\/shop\/kube-ship-production: is the ApplySet parent of another tool \(applyset.kubernetes.io\/tooling: kubectl\/v1.36.0\)/],
    ['a tool whose name has a slash', live({ [TOOLING]: 'example.com/kube-ship/v1' }), /another tool/],
    ['no tooling annotation', live(undefined), /without the applyset.kubernetes.io\/tooling annotation/],
    ['a wrong id', live({ [TOOLING]: 'kube-ship/v1' }, { [ID_LABEL]: 'applyset-other-v1' }), /has applyset.kubernetes.io\/id=applyset-other-v1, not applyset-/]
  ])('%s', (_n, parent, expected) => {
    if (expected instanceof RegExp) {
      let err: unknown
      try {
        readParent(parent, ref)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(DeployError)
      expect((err as DeployError).line()).toMatch(expected)
    } else expect(readParent(parent, ref)).toEqual(expected)
  })

  it('is applied with the id label, the tooling and sorted, unique group-kinds; its own namespace is not listed', () => {
    expect(parentObject(ref, ['Deployment.apps', 'ConfigMap', 'ConfigMap'], ['shop', 'b', 'a', 'b']).metadata).toEqual({
      name: 'kube-ship-production',
      namespace: 'shop',
      labels: { [ID_LABEL]: id },
      annotations: { [TOOLING]: 'kube-ship/v1', [GROUP_KINDS]: 'ConfigMap,Deployment.apps', [NAMESPACES]: 'a,b' }
    })
  })

  it('scope: group-kinds of the documents, namespaces of the namespaced ones only', () => {
    const docs = [obj('apps/v1', 'Deployment', 'web', undefined), obj('v1', 'Namespace', 'extra', undefined), obj('v1', 'ConfigMap', 'c', 'other')]
    expect(scopeOf(docs, 'shop', gk => gk === 'Namespace')).toEqual({ groupKinds: ['ConfigMap', 'Deployment.apps', 'Namespace'], namespaces: ['shop', 'other'] })
  })
})

describe('members are labelled', () => {
  const doc = (labels?: Record<string, string>) => ({ object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels } }, origin: { file: 'k8s/app.yaml', line: 7 } })

  it('every document gets part-of; its own labels stay; the input is not changed', () => {
    const input = [doc({ app: 'web' }), doc()]
    const out = withMembership(input, id)
    expect(out.map(d => d.object.metadata.labels)).toEqual([{ app: 'web', [PART_OF]: id }, { [PART_OF]: id }])
    expect(input[0].object.metadata.labels).toEqual({ app: 'web' })
  })

  it('the same id already there is fine; another set is refused at file:line', () => {
    expect(withMembership([doc({ [PART_OF]: id })], id)[0].object.metadata.labels).toEqual({ [PART_OF]: id })
    expect(() => withMembership([doc({ [PART_OF]: 'applyset-x-v1' })], id)).toThrow(DeployError)
    try {
      withMembership([doc({ [PART_OF]: 'applyset-x-v1' })], id)
    } catch (err) {
      expect((err as DeployError).line()).toBe('k8s/app.yaml:7: ConfigMap/c already carries applyset.kubernetes.io/part-of=applyset-x-v1; it belongs to another ApplySet (remove the label from the manifest)')
    }
  })
})

describe('what prune deletes', () => {
  it('{A,B,C} then {A,B}: C goes', () => {
    const p = plan([cm('a'), cm('b'), cm('c')], desired('a', 'b'))
    expect(names(p)).toEqual(['ConfigMap/c'])
    expect(p.refused).toBeUndefined()
    expect(p.kept).toEqual([])
  })

  it('nothing removed: nothing goes', () => {
    expect(names(plan([cm('a'), cm('b')], desired('a', 'b')))).toEqual([])
  })

  it('the first run (no parent before) adopts and deletes nothing, even what carries the label', () => {
    const p = plan([cm('a'), cm('stray')], desired('a'), { parent: { existed: false, groupKinds: [], namespaces: ['shop'] } })
    expect(names(p)).toEqual([])
    expect(p.kept).toEqual([{ resource: 'ConfigMap/shop/stray', reason: expect.stringMatching(/first run with prune adopts/) }])
  })

  it('the keep annotation keeps an object (and only "false" means keep)', () => {
    const p = plan([cm('a'), cm('b', { annotations: { [KEEP]: 'false' } }), cm('c', { annotations: { [KEEP]: 'true' } }), cm('d')], desired('a', 'd'))
    expect(names(p)).toEqual(['ConfigMap/c'])
    expect(p.kept).toEqual([{ resource: 'ConfigMap/shop/b', reason: `annotated ${KEEP}: "false"` }])
  })

  it.each<[string, KubeObject, PruneAllowance]>([
    ['PersistentVolumeClaim', obj('v1', 'PersistentVolumeClaim', 'data'), 'PersistentVolumeClaim'],
    ['Namespace', obj('v1', 'Namespace', 'extra', undefined), 'Namespace'],
    ['CustomResourceDefinition', obj('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'gadgets.example.com', undefined), 'CustomResourceDefinition']
  ])('a %s stays unless allowed', (kind, o, allow) => {
    const live = [cm('a'), cm('b'), cm('c'), o]
    const kept = plan(live, desired('a', 'b', 'c'))
    expect(names(kept)).toEqual([])
    expect(kept.kept).toEqual([{ resource: expect.stringContaining(kind), reason: expect.stringContaining(`pruned only with prune-allow: ${kind}`) }])
    // a kept member stays a member: its group-kind stays listed
    expect(kept.groupKinds).toContain(groupKind(o.apiVersion, o.kind))
    expect(names(plan(live, desired('a', 'b', 'c'), { allow: [allow] }))).toEqual([`${kind}/${o.metadata.name}`])
  })

  it('a kind of the same name in another group is not protected', () => {
    expect(names(plan([cm('a'), cm('b'), obj('example.com/v1', 'Namespace', 'n')], desired('a', 'b')))).toEqual(['Namespace/n'])
  })

  it('canary copies and blue-green colours are the strategy’s', () => {
    const p = plan(
      [cm('a'), cm('b'), cm('c'), obj('apps/v1', 'Deployment', 'web-blue', 'shop', { labels: { [PART_OF]: id, 'kube-ship.dev/color': 'blue' } }), obj('v1', 'Service', 'web-canary', 'shop', { labels: { [PART_OF]: id, 'kube-ship.dev/canary-of': 'web' } })],
      desired('a', 'b', 'c')
    )
    expect(names(p)).toEqual([])
    expect(p.kept.map(k => k.resource)).toEqual(['Deployment/shop/web-blue', 'Service/shop/web-canary'])
  })

  it('what the strategy reported (no apiVersion) counts as applied in any group; another namespace or group does not', () => {
    const live = [cm('a'), cm('b'), cm('c'), obj('v1', 'ConfigMap', 'a', 'other'), obj('example.com/v1', 'ConfigMap', 'b')]
    const want = [...desired('a'), { kind: 'ConfigMap', namespace: 'shop', name: 'b' }, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'c' }]
    expect(plan(live, want).delete.map(o => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['other/a'])
    const strict = [...desired('a', 'b', 'c')]
    expect(names(plan(live, strict))).toEqual(['ConfigMap/a', 'ConfigMap/b'])
  })

  it('a cluster-scoped document with a stray namespace still matches its live object', () => {
    const live = [cm('a'), cm('b'), obj('rbac.authorization.k8s.io/v1', 'ClusterRole', 'reader', undefined)]
    expect(names(plan(live, [...desired('a', 'b'), { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', namespace: 'shop', name: 'reader' }]))).toEqual([])
  })

  it('workloads go before what they use, Namespaces last', () => {
    const live = [cm('a'), cm('b'), cm('c'), cm('d'), cm('e'), cm('f'), cm('old'), obj('v1', 'Namespace', 'ns', undefined), obj('v1', 'Service', 'web'), obj('apps/v1', 'Deployment', 'web')]
    expect(names(plan(live, desired('a', 'b', 'c', 'd', 'e', 'f'), { allow: ['Namespace'] }))).toEqual(['Deployment/web', 'Service/web', 'ConfigMap/old', 'Namespace/ns'])
  })

  it('the parent narrows to this run’s group-kinds and namespaces, plus those of kept members', () => {
    const p = planPrune({
      live: [cm('a'), cm('b'), obj('v1', 'Secret', 's'), obj('batch/v1', 'Job', 'j', 'other', { annotations: { [KEEP]: 'false' } })],
      desired: desired('a', 'b'),
      parent: { existed: true, groupKinds: ['ConfigMap', 'Job.batch', 'Secret'], namespaces: ['shop', 'other'] },
      scope: { groupKinds: ['ConfigMap'], namespaces: ['shop'] },
      allow: []
    })
    expect(names(p)).toEqual(['Secret/s'])
    expect(p.groupKinds).toEqual(['ConfigMap', 'Job.batch'])
    expect(p.namespaces).toEqual(['shop', 'other'])
  })
})

describe('deletion waves', () => {
  it('workloads, then what routes to them and the rest, then CRDs, then Namespaces', () => {
    const objs = [cm('z'), obj('v1', 'Namespace', 'n', undefined), obj('apps/v1', 'Deployment', 'web'), obj('v1', 'Service', 'web'), obj('batch/v1', 'Job', 'j'), obj('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'g.example.com', undefined)]
    expect(deleteWaves(objs).map(w => w.map(o => `${o.kind}/${o.metadata.name}`))).toEqual([['Deployment/web', 'Job/j'], ['Service/web', 'ConfigMap/z'], ['CustomResourceDefinition/g.example.com'], ['Namespace/n']])
    expect(deleteWaves([])).toEqual([])
  })
})

describe('the mass-deletion limit', () => {
  it.each<[number, number, string | undefined]>([
    [0, 0, undefined],
    [1, 3, undefined],
    [1, 2, undefined],
    [2, 3, 'more than half of the set'],
    [5, 6, 'more than half of the set'],
    [20, 100, undefined],
    [21, 100, 'more than 20 in one run']
  ])('%i of %i: %s', (n, size, expected) => {
    expect(massLimit(n, size)).toBe(expected)
  })

  it('refuses the whole prune with one line, unless allowed', () => {
    const live = [cm('a'), cm('b'), cm('c'), cm('d'), cm('e')]
    const p = plan(live, desired('a'))
    expect(p.refused).toBe('prune refused: it would delete 4 of the 5 objects of the set (more than half of the set); nothing was deleted (allow it with prune-allow: mass-deletion)')
    expect(p.refused).not.toContain('\n')
    expect(plan(live, desired('a'), { allow: ['mass-deletion'] }).refused).toBeUndefined()
  })
})
