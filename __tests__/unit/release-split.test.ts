import { describe, expect, it } from '@jest/globals'
import type { KubeObject, Manifest } from '../../src/manifests/types.js'
import type { Change } from '../../src/report/model.js'
import { configRefs, environmentLabel, objectKey, renameConfigRefs, splitRelease } from '../../src/strategies/release-split.js'
import { leftoverOf } from '../../src/strategies/canary-plan.js'

const doc = (object: KubeObject): Manifest => ({ object, origin: { file: 'app.yaml', line: 1 } })
const cm = (name: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...extra }, data: { k: name } })
const secret = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', data: { p: 'eA==' } })

/** A Deployment naming ConfigMaps and Secrets in every place a pod spec can. */
function workload(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      template: {
        spec: {
          serviceAccountName: 'web-sa',
          imagePullSecrets: [{ name: 'pull' }],
          initContainers: [{ name: 'init', envFrom: [{ configMapRef: { name: 'init-env' } }] }],
          containers: [
            {
              name: 'web',
              envFrom: [{ configMapRef: { name: 'env' } }, { secretRef: { name: 'env-secret' } }],
              env: [
                { name: 'A', valueFrom: { configMapKeyRef: { name: 'one-key', key: 'k' } } },
                { name: 'B', valueFrom: { secretKeyRef: { name: 'one-secret', key: 'p' } } },
                { name: 'C', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'D', value: 'plain' }
              ]
            }
          ],
          volumes: [
            { name: 'cfg', configMap: { name: 'files' } },
            { name: 'tls', secret: { secretName: 'tls' } },
            { name: 'both', projected: { sources: [{ configMap: { name: 'proj-cm' } }, { secret: { name: 'proj-secret' } }, { downwardAPI: { items: [] } }] } },
            { name: 'tmp', emptyDir: {} }
          ]
        }
      }
    }
  }
}

describe('configRefs', () => {
  it('finds every ConfigMap and Secret a pod template names, and nothing else', () => {
    const refs = configRefs(workload())
    expect([...refs.configMaps].sort()).toEqual(['env', 'files', 'init-env', 'one-key', 'proj-cm'])
    expect([...refs.secrets].sort()).toEqual(['env-secret', 'one-secret', 'proj-secret', 'pull', 'tls'])
  })

  it('is empty for a template without references', () => {
    const refs = configRefs({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { template: { spec: { containers: [{ name: 'a' }] } } } })
    expect([refs.configMaps.size, refs.secrets.size]).toEqual([0, 0])
  })
})

describe('renameConfigRefs', () => {
  it('renames exactly the named objects, by kind, and leaves the input alone', () => {
    const w = workload()
    const before = JSON.stringify(w)
    // 'tls' as a ConfigMap rename must not touch the Secret named tls.
    const out = renameConfigRefs(w, new Map([['ConfigMap/files', 'files-canary'], ['Secret/proj-secret', 'proj-secret-canary'], ['ConfigMap/tls', 'wrong'], ['Secret/pull', 'pull-canary']]))
    expect(JSON.stringify(w)).toBe(before)
    const refs = configRefs(out)
    expect([...refs.configMaps].sort()).toEqual(['env', 'files-canary', 'init-env', 'one-key', 'proj-cm'])
    expect([...refs.secrets].sort()).toEqual(['env-secret', 'one-secret', 'proj-secret-canary', 'pull-canary', 'tls'])
  })
})

describe('splitRelease', () => {
  const rest = [
    doc(cm('files', { labels: { team: 'shop' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'x' } })),
    doc(cm('env')),
    doc(secret('tls')),
    doc(cm('unreferenced')),
    doc({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' } }),
    doc({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web-sa' } }),
    doc({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'other-sa' } }),
    doc({ ...cm('files'), metadata: { name: 'files', namespace: 'elsewhere' } })
  ]
  const labels = { 'kube-ship.dev/canary-of': 'web', 'kube-ship.dev/environment': 'production' }
  const earlyLabels = { 'kube-ship.dev/early-of': 'web', 'kube-ship.dev/environment': 'production' }
  const key = (o: KubeObject) => objectKey(o, 'shop')
  const split = (changes: [KubeObject, Change][]) =>
    splitRelease({ rest, workload: workload(), namespace: 'shop', changes: new Map(changes.map(([o, c]) => [key(o), c])), suffix: '-canary', labels, earlyLabels })
  const names = (ms: Manifest[]) => ms.map(m => `${m.object.kind}/${m.object.metadata.namespace ?? ''}/${m.object.metadata.name}`)
  const all = (c: Change): [KubeObject, Change][] => rest.map(m => [m.object, c])

  it.each<[string, [KubeObject, Change][], string[], string[], string[]]>([
    ['nothing changes: no copies, nothing to promote', all('unchanged'), [], [], []],
    [
      'a changed referenced ConfigMap and a new Secret are copied; they and the other changes wait for promotion',
      [...all('unchanged'), [cm('files'), 'configured'], [secret('tls'), 'created'], [cm('unreferenced'), 'configured'], [rest[4].object, 'configured']],
      ['ConfigMap/shop/files-canary', 'Secret/shop/tls-canary'],
      [],
      ['ConfigMap//files', 'Secret//tls', 'ConfigMap//unreferenced', 'Service//web']
    ],
    [
      'a new ServiceAccount the template runs as is created early; another new one waits',
      [...all('unchanged'), [rest[5].object, 'created'], [rest[6].object, 'created']],
      [],
      ['ServiceAccount//web-sa'],
      ['ServiceAccount//other-sa']
    ],
    ['a changed ServiceAccount is not early: the stable pods run as it', [...all('unchanged'), [rest[5].object, 'configured']], [], [], ['ServiceAccount//web-sa']],
    [
      'a document the dry run did not answer for counts as changed; one of the same name in another namespace is not referenced',
      [],
      ['ConfigMap/shop/files-canary', 'ConfigMap/shop/env-canary', 'Secret/shop/tls-canary'],
      [],
      names(rest)
    ]
  ])('%s', (_, changes, copies, early, later) => {
    const s = split(changes)
    expect(names(s.copies)).toEqual(copies)
    expect(names(s.early)).toEqual(early)
    expect(names(s.adopt)).toEqual(early)
    expect(names(s.later)).toEqual(later)
    const refs = configRefs(s.workload)
    for (const c of s.copies) expect(c.object.kind === 'ConfigMap' ? refs.configMaps : refs.secrets).toContain(c.object.metadata.name)
  })

  it('an early object carries the early labels beside its own; its document, applied on promotion, does not', () => {
    const account = doc({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web-sa', labels: { team: 'shop' } } })
    const s = splitRelease({ rest: [account], workload: workload(), namespace: 'shop', changes: new Map([[key(account.object), 'created']]), suffix: '-canary', labels, earlyLabels })
    expect(s.early.map(m => m.object.metadata.labels)).toEqual([{ team: 'shop', ...earlyLabels }])
    expect(s.adopt).toEqual([account])
    expect(account.object.metadata.labels).toEqual({ team: 'shop' })
  })

  it('copies carry the content, the source labels plus the owner labels, and no server or last-applied metadata', () => {
    const live = { ...cm('files'), metadata: { name: 'files', labels: { team: 'shop', 'applyset.kubernetes.io/part-of': 'applyset-x' }, resourceVersion: '9', uid: 'u', managedFields: [] } }
    const s = splitRelease({ rest: [doc(live)], workload: workload(), namespace: 'shop', changes: new Map(), suffix: '-blue', labels, earlyLabels })
    expect(s.copies[0].object).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'files-blue', namespace: 'shop', labels: { team: 'shop', ...labels } }, data: { k: 'files' } })
    const first = split([[cm('files'), 'configured']]).copies[0].object
    expect(first.metadata.annotations).toEqual({ note: 'x' })
  })

  it('refuses a copy name longer than an object name may be', () => {
    const long = 'a'.repeat(250)
    const w = renameConfigRefs(workload(), new Map([['ConfigMap/files', long]]))
    expect(() => splitRelease({ rest: [doc(cm(long))], workload: w, namespace: 'shop', changes: new Map(), suffix: '-canary', labels, earlyLabels })).toThrow(/^the copy a{250}-canary of ConfigMap\/shop\/a{250} would be longer than 253 characters$/)
  })
})

describe('environmentLabel', () => {
  it.each([
    ['production', 'production'],
    ['staging_eu.1', 'staging_eu.1']
  ])('%s is a label value already', (env, out) => expect(environmentLabel(env)).toBe(out))

  it.each(['preview/pr-12', 'Prod EU', 'x'.repeat(64), '/', '-a-'])('%s becomes a valid, distinct label value', env => {
    const v = environmentLabel(env)
    expect(v).toMatch(/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/)
    expect(v).not.toBe(environmentLabel(`${env}2`))
  })
})

describe('leftoverOf', () => {
  const o = (labels?: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-canary', labels } })
  it.each<[string, Record<string, string> | undefined, 'ours' | 'legacy' | 'other']>([
    ['this environment', { 'kube-ship.dev/canary-of': 'web', 'kube-ship.dev/environment': 'production' }, 'ours'],
    ['another environment', { 'kube-ship.dev/canary-of': 'web', 'kube-ship.dev/environment': 'staging' }, 'other'],
    ['an older version (no environment label)', { 'kube-ship.dev/canary-of': 'web' }, 'legacy'],
    ['another Deployment', { 'kube-ship.dev/canary-of': 'api', 'kube-ship.dev/environment': 'production' }, 'other'],
    ['no canary at all', undefined, 'other']
  ])('%s', (_, labels, expected) => expect(leftoverOf(o(labels), 'web', 'production')).toBe(expected))
})
