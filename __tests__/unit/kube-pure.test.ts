import { isPodReady } from '../../src/manifests/pods.js'
import { describe, expect, it } from '@jest/globals'
import { changeOf, checkDocuments, conflictSummary, type Journal, type JournalEntry, kindsDefinedBy, phaseOf, sameObject, withNamespace } from '../../src/kube/apply.js'
import { mapLimit } from '../../src/kube/pool.js'
import { cleanForDiff, renderDiff } from '../../src/kube/diff.js'
import { describeStatus, rbacVerb } from '../../src/kube/errors.js'
import { expiredByClock, lockName, microTime } from '../../src/kube/lock.js'
import { capturesOf, changed, hasChanges, previousImage, restoreBody, templateOf, undoable, undoPlan } from '../../src/kube/rollback.js'
import { DeployError } from '../../src/errors.js'
import type { KubeObject, Manifest } from '../../src/manifests/types.js'

const m = (object: KubeObject, line = 1): Manifest => ({ object, origin: { file: 'k8s/app.yaml', line } })
const o = (apiVersion: string, kind: string, name = 'web', extra: Record<string, unknown> = {}): KubeObject => ({ apiVersion, kind, metadata: { name }, ...extra })

describe('apply planning', () => {
  it.each([
    ['v1', 'Namespace', 'namespace'],
    ['apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'crd'],
    ['apps/v1', 'Deployment', 'rest'],
    ['example.com/v1', 'Namespace', 'rest']
  ])('%s %s goes in phase %s', (apiVersion, kind, phase) => {
    expect(phaseOf({ apiVersion, kind })).toBe(phase)
  })

  it.each<[string, boolean, string | undefined, string | undefined]>([
    ['namespaced without one gets the default', true, undefined, 'apps'],
    ['namespaced keeps its own', true, 'own', 'own'],
    ['cluster-scoped never gets one', false, undefined, undefined],
    ['cluster-scoped loses a stray one', false, 'own', undefined]
  ])('%s', (_n, namespaced, given, expected) => {
    const obj = o('v1', 'ConfigMap', 'c', {})
    if (given) obj.metadata.namespace = given
    expect(withNamespace(obj, namespaced, 'apps').metadata.namespace).toBe(expected)
    expect(obj.metadata.namespace).toBe(given)
  })

  it.each<[string, Manifest[], RegExp | undefined]>([
    ['fine', [m(o('v1', 'ConfigMap', 'a')), m(o('v1', 'ConfigMap', 'b'))], undefined],
    ['duplicate names both places', [m(o('v1', 'ConfigMap', 'a'), 3), m(o('v1', 'ConfigMap', 'a'), 9)], /^k8s\/app.yaml:9: ConfigMap\/a is defined twice; first at k8s\/app.yaml:3$/],
    ['same name, other kind is fine', [m(o('v1', 'ConfigMap', 'a')), m(o('v1', 'Secret', 'a'))], undefined],
    ['generateName', [m({ apiVersion: 'v1', kind: 'Pod', metadata: { name: '', generateName: 'x-' } })], /object has no metadata.name \(server-side apply needs metadata.name; generateName is not supported\)$/],
    ['no kind', [m({ apiVersion: 'v1', kind: '', metadata: { name: 'a' } })], /object has no kind$/]
  ])('checkDocuments: %s', (_n, docs, error) => {
    if (!error) return expect(() => checkDocuments(docs)).not.toThrow()
    // The one line a run prints: the place, the message of manifests/check.ts, its hint.
    expect(() => checkDocuments(docs)).toThrow(DeployError)
    try {
      checkDocuments(docs)
    } catch (err) {
      expect((err as DeployError).line()).toMatch(/^k8s\/app.yaml:\d+: /)
      expect((err as DeployError).line()).toMatch(error)
    }
  })

  const rv = (v: string): KubeObject => ({ ...o('v1', 'ConfigMap'), metadata: { name: 'web', resourceVersion: v } })
  it.each([
    ['new object', undefined, rv('5'), 201, 'created'],
    ['rv kept', rv('5'), rv('5'), 200, 'unchanged'],
    ['rv moved', rv('5'), rv('6'), 200, 'configured']
  ] as const)('change: %s', (_n, before, after, code, change) => {
    expect(changeOf(before, after, code)).toBe(change)
  })

  it('kinds a CRD defines, per served version, with their scope', () => {
    const crd = (scope: string) =>
      ({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'x' }, spec: { group: 'e.dev', scope, names: { kind: 'Widget' }, versions: [{ name: 'v1' }, { name: 'v2' }] } }) as KubeObject
    expect([...kindsDefinedBy([crd('Namespaced')])]).toEqual([
      ['e.dev/v1|Widget', true],
      ['e.dev/v2|Widget', true]
    ])
    expect(kindsDefinedBy([crd('Cluster')]).get('e.dev/v1|Widget')).toBe(false)
  })

  it('mapLimit keeps order and never runs more than the limit', async () => {
    let running = 0
    let peak = 0
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n, i) => {
      peak = Math.max(peak, ++running)
      await new Promise(r => setTimeout(r, n))
      running--
      return n * 10 + i
    })
    expect(out).toEqual([50, 11, 42, 23, 34])
    expect(peak).toBe(2)
  })

  it('mapLimit waits for the calls in flight before it rejects, and starts no new ones', async () => {
    const finished: number[] = []
    const started: number[] = []
    const run = mapLimit([1, 2, 3, 4], 2, async n => {
      started.push(n)
      if (n === 1) throw new Error('first fails at once')
      await new Promise(r => setTimeout(r, 30))
      finished.push(n)
      return n
    })
    await expect(run).rejects.toThrow('first fails at once')
    // 2 was in flight when 1 failed: it finished before the rejection; 3 and 4 never started.
    expect(finished).toEqual([2])
    expect(started).toEqual([1, 2])
  })

  it('conflict summary keeps the managers and fields', () => {
    expect(conflictSummary('Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas')).toBe(
      'conflict with "kubectl-edit" using apps/v1: .spec.replicas'
    )
  })
})

describe('API failures as one line', () => {
  const ctx = { verb: 'apply', resource: 'Deployment/team-a/web', rbacResource: 'deployments.apps', namespace: 'team-a' }
  it.each<[string, number, Record<string, unknown>, RegExp, RegExp | undefined]>([
    [
      'forbidden names user, verb, resource and namespace',
      403,
      { reason: 'Forbidden', message: 'deployments.apps "web" is forbidden: User "system:serviceaccount:team-a:d" cannot patch resource "deployments"' },
      /forbidden: system:serviceaccount:team-a:d cannot patch deployments.apps in namespace team-a/,
      /grant 'patch' on 'deployments.apps'/
    ],
    [
      'invalid lists field paths',
      422,
      { reason: 'Invalid', message: 'x', details: { causes: [{ field: 'spec.replicas', message: 'Invalid value: -1: must be >= 0' }, { field: 'spec.template.spec.containers[0].image', message: 'Required value' }] } },
      /invalid: spec.replicas: Invalid value: -1: must be >= 0; spec.template.spec.containers\[0\].image: Required value/,
      undefined
    ],
    [
      'immutable selector hints at a new object',
      422,
      { reason: 'Invalid', details: { causes: [{ field: 'spec.selector', message: 'Invalid value: ...: field is immutable' }] } },
      /spec.selector: .*immutable/,
      /recreated/
    ],
    ['strict decoding', 400, { reason: 'BadRequest', message: 'strict decoding error: unknown field "spec.replicsa"' }, /invalid: strict decoding error: unknown field "spec.replicsa"/, undefined],
    [
      'a field SSA cannot type',
      500,
      { reason: 'InternalError', message: 'failed to create typed patch object (apps/typo; apps/v1, Kind=Deployment): .spec.replicsa: field not declared in schema' },
      /^invalid: \.spec\.replicsa: field not declared in schema$/,
      undefined
    ],
    ['unauthorized', 401, {}, /rejected the credentials/, /expired/],
    ['other', 500, { reason: 'InternalError', message: 'etcd down' }, /500 InternalError: etcd down/, undefined]
  ])('%s', (_n, code, status, message, hint) => {
    const d = describeStatus(code, status, ctx)
    expect(d.message).toMatch(message)
    if (hint) expect(d.hint).toMatch(hint)
    else expect(d.hint).toBeUndefined()
  })

  it.each([
    ['apply', 'patch'],
    ['read', 'get'],
    ['watch', 'watch']
  ])('rbac verb of %s is %s', (verb, expected) => expect(rbacVerb(verb)).toBe(expected))
})

describe('diff rendering', () => {
  const live = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'c',
      namespace: 'n',
      uid: 'u',
      resourceVersion: '1',
      generation: 1,
      creationTimestamp: 't',
      managedFields: [{}],
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' }
    },
    data: { a: '1' },
    status: { x: 1 }
  } as KubeObject
  it('removes noise fields and an emptied annotation map', () => {
    expect(cleanForDiff(live)).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n' }, data: { a: '1' } })
  })
  it('shows only real changes; new objects all added', () => {
    const planned = { ...live, metadata: { ...live.metadata, resourceVersion: '2' }, data: { a: '2' } } as KubeObject
    const same = { ...live, metadata: { ...live.metadata, resourceVersion: '9' } } as KubeObject
    const { text, changed } = renderDiff([
      { resource: 'ConfigMap/n/c', live, planned },
      { resource: 'ConfigMap/n/same', live, planned: same },
      { resource: 'ConfigMap/n/new', planned: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'new' } } }
    ])
    expect(changed).toBe(2)
    expect(text).toContain('--- live/ConfigMap/n/c')
    expect(text).toContain('-  a: "1"')
    expect(text).toContain('+  a: "2"')
    expect(text).not.toContain('ConfigMap/n/same')
    expect(text).toContain('--- /dev/null')
    expect(text).toContain('+kind: ConfigMap')
    expect(text).not.toMatch(/managedFields|resourceVersion|uid:/)
  })
})

describe('deploy lock', () => {
  it.each([
    ['production', 'kube-ship-production'],
    ['PR 42/preview', 'kube-ship-pr-42-preview'],
    ['--', 'kube-ship-default']
  ])('lock name for %s', (env, name) => expect(lockName(env)).toBe(name))

  it('MicroTime has six fractional digits', () => {
    expect(microTime(Date.parse('2026-11-25T10:00:00.123Z'))).toBe('2026-11-25T10:00:00.123000Z')
  })

  const now = Date.parse('2026-11-25T10:00:00Z')
  it.each([
    ['renewed just now', { renewTime: '2026-11-25T09:59:50.000000Z', leaseDurationSeconds: 30 }, false],
    ['within one duration of skew slack', { renewTime: '2026-11-25T09:59:10.000000Z', leaseDurationSeconds: 30 }, false],
    ['long gone', { renewTime: '2026-11-25T09:00:00.000000Z', leaseDurationSeconds: 30 }, true],
    ['never renewed', {}, true]
  ])('expired by clock: %s', (_n, spec, expected) => expect(expiredByClock(spec, now)).toBe(expected))
})

describe('rollback decisions', () => {
  const dep = (revision: string, image: string): KubeObject =>
    ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', annotations: { 'deployment.kubernetes.io/revision': revision } },
      spec: { template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } } }
    }) as KubeObject

  it.each([
    ['same revision and template', dep('1', 'a'), dep('1', 'a'), false],
    ['revision moved', dep('1', 'a'), dep('2', 'b'), true],
    ['template changed before the revision moved', dep('1', 'a'), dep('1', 'b'), true]
  ])('changed: %s', (_n, before, live, expected) => expect(changed(before, live)).toBe(expected))

  it('a ReplicaSet template loses pod-template-hash (kubectl rollout undo)', () => {
    const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-abc' }, spec: { template: { metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' } } } } } as KubeObject
    expect(templateOf(rs)).toEqual({ metadata: { labels: { app: 'web' } } })
    expect((rs as any).spec.template.metadata.labels['pod-template-hash']).toBe('abc')
  })

  it('previous image comes from the first workload that existed', () => {
    const t = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'x' }
    expect(previousImage([{ target: t, resource: 'a' }, { target: t, resource: 'b', before: dep('3', 'reg/web@sha256:1') }])).toBe('reg/web@sha256:1')
    expect(previousImage([{ target: t, resource: 'a' }])).toBeUndefined()
    const app = `reg.local:5000/team/app@sha256:${'a'.repeat(64)}`
    const sidecar = dep('3', 'docker.io/library/envoy:1')
    ;(sidecar as any).spec.template.spec.containers.push({ name: 'app', image: app })
    expect(previousImage([{ target: t, resource: 'b', before: sidecar }], 'reg.local:5000/team/app')).toBe(app)
    expect(previousImage([{ target: t, resource: 'b', before: sidecar }], 'reg.local:5000/other')).toBe('docker.io/library/envoy:1')
  })

  it('only apps/v1 Deployments, StatefulSets and DaemonSets are undoable', () => {
    const docs = [o('apps/v1', 'Deployment'), o('apps/v1', 'StatefulSet'), o('apps/v1', 'DaemonSet'), o('batch/v1', 'Job'), o('v1', 'Service')].map(x => m(x))
    expect(undoable(docs).map(d => d.object.kind)).toEqual(['Deployment', 'StatefulSet', 'DaemonSet'])
  })
})

describe('undo of a failed run, from its journal', () => {
  const entry = (kind: string, name: string, extra: Partial<JournalEntry> = {}): JournalEntry => ({
    apiVersion: kind === 'Deployment' ? 'apps/v1' : kind === 'Job' ? 'batch/v1' : 'v1',
    kind,
    namespace: 'app',
    name,
    resource: `${kind}/app/${name}`,
    rbacResource: `${kind.toLowerCase()}s`,
    readable: true,
    written: true,
    ...extra
  })
  const before = o('v1', 'ConfigMap', 'settings', { data: { a: '1' } })

  it('undoes only what was written and changed; a created namespace goes as a whole; Jobs stay', () => {
    const journal: Journal = {
      entries: [
        entry('Deployment', 'web', { before: o('apps/v1', 'Deployment'), change: 'configured' }),
        entry('ConfigMap', 'settings', { before, change: 'configured' }),
        entry('ConfigMap', 'same', { before, change: 'unchanged' }),
        entry('ConfigMap', 'refused', { before, written: false }),
        entry('Secret', 'in-flight', { before }),
        entry('Job', 'migrate', { change: 'created' }),
        entry('ConfigMap', 'inside', { namespace: 'fresh', change: 'created' }),
        { ...entry('Namespace', 'fresh', { change: 'created' }), namespace: undefined }
      ],
      createdNamespaces: ['fresh']
    }
    const plan = undoPlan(journal)
    expect(plan.workloads.map(e => e.name)).toEqual(['web'])
    expect(plan.objects.map(e => e.name)).toEqual(['settings', 'in-flight'])
    expect(plan.left.map(e => e.name)).toEqual(['migrate'])
    expect(hasChanges(journal)).toBe(true)
    expect(hasChanges({ entries: [entry('ConfigMap', 'same', { before, change: 'unchanged' })], createdNamespaces: [] })).toBe(false)
    expect(capturesOf(journal).map(c => c.resource)).toEqual(['Deployment/app/web'])
  })

  it('a restore body is the captured object with the live resourceVersion and uid, without status', () => {
    const captured = { ...o('v1', 'Service', 'web'), metadata: { name: 'web', resourceVersion: '5', uid: 'u1', generation: 2, managedFields: [{ manager: 'kube-ship' }] }, status: { x: 1 } } as KubeObject
    const live = { ...captured, metadata: { ...captured.metadata, resourceVersion: '9', uid: 'u1' } }
    expect(restoreBody(captured, live)).toEqual({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', resourceVersion: '9', uid: 'u1', managedFields: [{ manager: 'kube-ship' }] } })
    expect(captured.metadata.resourceVersion).toBe('5')
  })

  it.each<[string, KubeObject, KubeObject, boolean]>([
    ['a list item without apiVersion/kind equals the dry-run answer', { metadata: { name: 'c', resourceVersion: '1' }, data: { a: '1' } } as unknown as KubeObject, o('v1', 'ConfigMap', 'c', { metadata: { resourceVersion: '1', name: 'c' }, data: { a: '1' } }), true],
    ['key order does not matter', o('v1', 'ConfigMap', 'c', { data: { a: '1', b: '2' } }), o('v1', 'ConfigMap', 'c', { data: { b: '2', a: '1' } }), true],
    ['a changed value does', o('v1', 'ConfigMap', 'c', { data: { a: '1' } }), o('v1', 'ConfigMap', 'c', { data: { a: '2' } }), false]
  ])('sameObject: %s', (_n, live, answer, expected) => expect(sameObject(live, answer)).toBe(expected))
})

describe('isPodReady', () => {
  it.each<[string, object, boolean]>([
    ['Ready True', { status: { conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'True' }] } }, true],
    ['Ready False', { status: { conditions: [{ type: 'Ready', status: 'False' }] } }, false],
    ['no Ready condition', { status: { conditions: [{ type: 'PodScheduled', status: 'True' }] } }, false],
    ['no status yet', {}, false]
  ])('%s', (_name, pod, want) => expect(isPodReady(pod)).toBe(want))
})
