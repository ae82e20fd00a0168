// Prune through a KEP-3659 ApplySet (issue 14), through the bundled action on the local stack:
// what left the manifests is deleted after a good rollout and reported; guard rails keep PVCs,
// annotated objects and what was never in the set; the limit refuses a mass deletion with one
// line; a rolled-back run and mode diff delete nothing; kubectl's ApplySet prune sees the set and
// refuses to touch it.
import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { stringify } from 'yaml'
import type { KubeObject } from '../../src/manifests/types.js'
import { ID_LABEL, PART_OF, applySetId, parentRef } from '../../src/kube/applyset.js'
import { type ActionRun, errorLines, runAction } from './action.js'
import { configMap, deployment } from './deliver-fixtures.js'
import { pushImage } from './helm-fixtures.js'
import { kubectl, kubectlJson, kubectlResult, run, stack, suiteNamespaces } from './stack.js'

const fresh = suiteNamespaces()

/** Runs the action on these objects (one manifests file) with prune on, as admin unless told. */
async function ship(ns: string, objects: KubeObject[], inputs: Record<string, string> = {}, kubeconfig = stack().kubeconfig): Promise<ActionRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-prune-'))
  try {
    fs.writeFileSync(path.join(dir, 'app.yaml'), objects.map(o => stringify(o)).join('---\n'))
    return await runAction(
      { manifests: 'app.yaml', namespace: ns, prune: 'true', timeout: '2m', comment: 'never', ...inputs },
      { cwd: dir, env: { KUBECONFIG: kubeconfig, GITHUB_REPOSITORY: '', GITHUB_SHA: 'b'.repeat(40) } }
    )
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const exists = async (ns: string, what: string): Promise<boolean> => (await kubectlResult(['-n', ns, 'get', what])).code === 0
const ok = (r: ActionRun): void => {
  expect(errorLines(r.log)).toEqual([])
  expect(r.outputs.status).toBe(r.outputs.status === 'diff' ? 'diff' : 'succeeded')
}
const parentOf = (ns: string) => kubectlJson(['-n', ns, 'get', 'configmap', parentRef('production', ns).name])
const idOf = (ns: string) => applySetId({ ...parentRef('production', ns), group: '' })
/** Where the Rollout group (the wait for every workload's verdict) ends in the log; -1 if there is none. */
const rolloutEnd = (log: string): number => {
  const start = log.indexOf('::group::Rollout')
  return start < 0 ? -1 : log.indexOf('::endgroup::', start)
}
const withEnv = (o: KubeObject, name: string, value: string): KubeObject => {
  const d = structuredClone(o) as KubeObject & { spec: { template: { spec: { containers: { env?: unknown[] }[] } } } }
  d.spec.template.spec.containers[0].env = [{ name, valueFrom: { configMapKeyRef: { name: value, key: 'mode' } } }]
  return d
}

describe('prune through the ApplySet', () => {
  it('{A, B, C} then {A, B}: C is deleted (its pods with it) after the rollout, and the report says so', async () => {
    const ns = await fresh('prune-abc')
    const first = await ship(ns, [deployment('a', 'v1'), configMap('b', { x: '1' }), deployment('c', 'v1')])
    ok(first)
    // The KEP's parent: id label, tooling, group-kinds; every member carries part-of.
    const parent = await parentOf(ns)
    expect(parent.metadata.labels[ID_LABEL]).toBe(idOf(ns))
    expect(parent.metadata.annotations).toMatchObject({ 'applyset.kubernetes.io/tooling': 'kube-ship/v1', 'applyset.kubernetes.io/contains-group-kinds': 'ConfigMap,Deployment.apps' })
    for (const what of ['deployment/a', 'configmap/b', 'deployment/c']) expect((await kubectlJson(['-n', ns, 'get', what])).metadata.labels[PART_OF]).toBe(idOf(ns))
    expect(first.log).toContain('new, this run adopts what it applies')

    const second = await ship(ns, [deployment('a', 'v1'), configMap('b', { x: '1' })])
    ok(second)
    expect(await exists(ns, 'deployment/c')).toBe(false)
    // Foreground: the Deployment was gone only once its ReplicaSets and pods were.
    expect((await kubectlJson(['-n', ns, 'get', 'replicasets,pods', '-l', 'app=c'])).items).toEqual([])
    expect(await exists(ns, 'deployment/a')).toBe(true)
    expect(await exists(ns, 'configmap/b')).toBe(true)
    expect(second.summary).toContain(`deleted: <code>Deployment/${ns}/c</code>`)
    expect(JSON.parse(second.outputs.resources)).toContainEqual({ kind: 'Deployment', namespace: ns, name: 'c', change: 'deleted' })
    // The prune comes after the rollout's verdict in the log.
    expect(rolloutEnd(second.log)).toBeGreaterThan(0)
    expect(second.log.indexOf(`Prune: deleted Deployment/${ns}/c`)).toBeGreaterThan(rolloutEnd(second.log))

    // No Deployment left in the manifests: the kind is still listed by the parent, so A is found and goes.
    const third = await ship(ns, [configMap('b', { x: '1' })])
    ok(third)
    expect(await exists(ns, 'deployment/a')).toBe(false)
    expect((await parentOf(ns)).metadata.annotations['applyset.kubernetes.io/contains-group-kinds']).toBe('ConfigMap')
  })

  it('a renamed ConfigMap: the old one goes after the rollout passed; a failed rollout keeps it (rolled back, nothing pruned)', async () => {
    const ns = await fresh('prune-rename')
    const v1 = [withEnv(deployment('web', 'v1'), 'MODE', 'settings-1'), configMap('settings-1', { mode: 'a' })]
    ok(await ship(ns, v1))

    // A rollout that fails is rolled back: the old ConfigMap the restored pods read stays.
    const broken = [withEnv(deployment('web', 'v2', { behavior: 'image-pull-backoff' }), 'MODE', 'settings-2'), configMap('settings-2', { mode: 'b' })]
    const failed = await ship(ns, broken)
    expect(failed.outputs.status).toBe('rolled-back')
    expect(await exists(ns, 'configmap/settings-1')).toBe(true)
    expect(failed.log).not.toContain('Prune: deleted')
    expect(failed.summary).not.toContain('Prune:')

    const good = [withEnv(deployment('web', 'v2'), 'MODE', 'settings-2'), configMap('settings-2', { mode: 'b' })]
    const run2 = await ship(ns, good)
    ok(run2)
    expect(await exists(ns, 'configmap/settings-1')).toBe(false)
    expect(await exists(ns, 'configmap/settings-2')).toBe(true)
    // Deleted only once the new pods (which read settings-2) had rolled out.
    expect(rolloutEnd(run2.log)).toBeGreaterThan(0)
    expect(run2.log.indexOf(`Prune: deleted ConfigMap/${ns}/settings-1`)).toBeGreaterThan(rolloutEnd(run2.log))
    expect(run2.summary).toContain(`deleted: <code>ConfigMap/${ns}/settings-1</code>`)
  })

  it('a PersistentVolumeClaim removed from the manifests stays (reported as kept); an annotated object stays', async () => {
    const ns = await fresh('prune-keep')
    const pv = `prune-pv-${ns}`
    await kubectl(['apply', '-f', '-'], {
      input: stringify({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: pv }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: '', hostPath: { path: '/tmp/none' }, claimRef: { namespace: ns, name: 'data' } } })
    })
    try {
      const pvc = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: '', volumeName: pv, resources: { requests: { storage: '1Gi' } } } }
      const keep = { ...configMap('pinned', { a: '1' }), metadata: { name: 'pinned', annotations: { 'kube-ship.dev/prune': 'false' } } }
      const base = [configMap('a', { a: '1' }), configMap('b', { a: '1' }), configMap('c', { a: '1' })]
      ok(await ship(ns, [...base, pvc as KubeObject, keep]))
      const again = await ship(ns, base)
      ok(again)
      expect(await exists(ns, 'pvc/data')).toBe(true)
      expect(await exists(ns, 'configmap/pinned')).toBe(true)
      expect(again.summary).toContain(`kept: <code>PersistentVolumeClaim/${ns}/data</code>`)
      expect(again.summary).toContain(`kept: <code>ConfigMap/${ns}/pinned</code> (annotated kube-ship.dev/prune: &quot;false&quot;)`)
      // Kept members stay in the set: a later run still sees them.
      expect((await parentOf(ns)).metadata.annotations['applyset.kubernetes.io/contains-group-kinds']).toBe('ConfigMap,PersistentVolumeClaim')
    } finally {
      await kubectl(['delete', 'pv', pv, '--wait=false', '--ignore-not-found'])
    }
  })

  it('the limit refuses a mass deletion with one line and deletes nothing; prune-allow: mass-deletion lets it through', async () => {
    const ns = await fresh('prune-mass')
    const all = ['a', 'b', 'c', 'd', 'e'].map(n => configMap(n, { n }))
    ok(await ship(ns, all))
    const refused = await ship(ns, all.slice(0, 1))
    expect(refused.code).not.toBe(0)
    expect(errorLines(refused.log)).toEqual([
      "::error::input 'prune-allow': prune refused: it would delete 4 of the 5 objects of the set (more than half of the set); nothing was deleted (allow it with prune-allow: mass-deletion)"
    ])
    for (const n of ['b', 'c', 'd', 'e']) expect(await exists(ns, `configmap/${n}`)).toBe(true)
    expect(refused.summary).toContain(`not deleted: <code>ConfigMap/${ns}/b</code>`)
    const allowed = await ship(ns, all.slice(0, 1), { 'prune-allow': 'mass-deletion' })
    ok(allowed)
    for (const n of ['b', 'c', 'd', 'e']) expect(await exists(ns, `configmap/${n}`)).toBe(false)
  })

  it('mode diff lists the deletions and changes nothing', async () => {
    const ns = await fresh('prune-diff')
    ok(await ship(ns, [configMap('a', { a: '1' }), configMap('b', { a: '1' }), configMap('c', { a: '1' })]))
    const before = await parentOf(ns)
    const diff = await ship(ns, [configMap('a', { a: '1' }), configMap('b', { a: '1' })], { mode: 'diff' })
    ok(diff)
    expect(diff.summary).toContain(`will delete: <code>ConfigMap/${ns}/c</code>`)
    expect(JSON.parse(diff.outputs.resources)).toContainEqual({ kind: 'ConfigMap', namespace: ns, name: 'c', change: 'deleted' })
    expect(await exists(ns, 'configmap/c')).toBe(true)
    expect((await parentOf(ns)).metadata.resourceVersion).toBe(before.metadata.resourceVersion)
  })

  it('the first run with prune adopts: nothing that was never in the set is deleted, not even an object that carries the label', async () => {
    const ns = await fresh('prune-adopt')
    // Deployed before prune was turned on, then dropped from the manifests.
    ok(await ship(ns, [configMap('a', { a: '1' }), configMap('legacy', { a: '1' })], { prune: 'false' }))
    await kubectl(['-n', ns, 'create', 'configmap', 'stray'])
    await kubectl(['-n', ns, 'label', 'configmap', 'stray', `${PART_OF}=${idOf(ns)}`])
    const first = await ship(ns, [configMap('a', { a: '1' }), configMap('b', { a: '1' }), configMap('c', { a: '1' })])
    ok(first)
    expect(await exists(ns, 'configmap/legacy')).toBe(true)
    expect(await exists(ns, 'configmap/stray')).toBe(true)
    expect(first.summary).toContain(`kept: <code>ConfigMap/${ns}/stray</code> (not in the set before this run`)
    // The next run owns the set; what it never labelled is still not a member.
    ok(await ship(ns, [configMap('a', { a: '1' }), configMap('b', { a: '1' }), configMap('c', { a: '1' })]))
    expect(await exists(ns, 'configmap/legacy')).toBe(true)
  })

  it('a delete the Role does not grant fails with one line naming the verb and resource; the rollout stays', async () => {
    const ns = await fresh('prune-rbac')
    const sa = 'system:serviceaccount:' + stack().restrictedNamespace + ':kube-ship-deployer'
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'no-delete', namespace: ns },
      rules: [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }
      ]
    }
    const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'no-delete', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'no-delete' }, subjects: [{ kind: 'User', name: sa }] }
    await kubectl(['apply', '-f', '-'], { input: [role, binding].map(o => stringify(o)).join('---\n') })
    const cms = ['a', 'b', 'c'].map(n => configMap(n, { n }))
    const r = await ship(ns, cms, {}, stack().restrictedKubeconfig)
    ok(r)
    const refused = await ship(ns, cms.slice(0, 2), {}, stack().restrictedKubeconfig)
    expect(errorLines(refused.log)).toEqual([`::error::ConfigMap/${ns}/c: forbidden: ${sa} cannot delete configmaps in namespace ${ns} (grant 'delete' on 'configmaps' in the deployer Role)`])
    expect(await exists(ns, 'configmap/c')).toBe(true)
  })
})

/** A namespace with two pushed digests of one image, and the web Deployment + Service a strategy steps. */
async function webApp(prefix: string) {
  const ns = await fresh(prefix)
  const repo = `e2e/${prefix}-${ns}`
  const image = `${stack().registry}/${repo}`
  const [d1, d2] = [await pushImage(repo, 'v1', `${ns}-1`), await pushImage(repo, 'v2', `${ns}-2`)]
  const web = { ...deployment('web', 'v1'), spec: { ...(deployment('web', 'v1').spec as object), template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: `${image}:v1` }] } } } }
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } }
  return { ns, image, d1, d2, web, svc }
}

describe('prune with blue-green', () => {
  it('prunes after the switch; the colour Deployments stay the strategy’s', async () => {
    const { ns, image, d1, d2, web, svc } = await webApp('prune-bg')
    const bg = (digest: string) => ({ image, digest, strategy: 'blue-green' })
    ok(await ship(ns, [web, svc, configMap('extra', { a: '1' }), configMap('keep', { a: '1' })], bg(d1)))
    const first = (await kubectlJson(['-n', ns, 'get', 'service', 'web'])).spec.selector['kube-ship.dev/color']
    const second = await ship(ns, [web, svc, configMap('keep', { a: '1' })], bg(d2))
    ok(second)
    expect(await exists(ns, 'configmap/extra')).toBe(false)
    // Switched, then pruned; the old colour (scaled to 0 for the next switch) is not a prune candidate.
    expect(second.log.indexOf(`Prune: deleted ConfigMap/${ns}/extra`)).toBeGreaterThan(second.log.indexOf('now selects'))
    expect(second.log.indexOf('now selects')).toBeGreaterThan(0)
    expect(await exists(ns, `deployment/web-${first}`)).toBe(true)
    expect(second.summary).not.toContain(`deleted: <code>Deployment/${ns}/web-${first}</code>`)
  })
})

describe('prune with a canary', () => {
  it('prunes only after the promotion; the canary objects are the strategy’s, never prune candidates', async () => {
    const { ns, image, d1, d2, web, svc } = await webApp('prune-cn')
    const ingress = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web' },
      spec: { ingressClassName: 'nginx', rules: [{ host: `${ns}.example`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] }
    }
    ok(await ship(ns, [web, svc, ingress, configMap('extra', { a: '1' }), configMap('keep', { a: '1' })], { image, digest: d1 }))
    const second = await ship(ns, [web, svc, ingress, configMap('keep', { a: '1' })], { image, digest: d2, strategy: 'canary', 'canary-steps': '20:1s' })
    ok(second)
    expect(await exists(ns, 'configmap/extra')).toBe(false)
    expect(second.log.indexOf(`Prune: deleted ConfigMap/${ns}/extra`)).toBeGreaterThan(second.log.indexOf('Canary promoted'))
    expect(second.log.indexOf('Canary promoted')).toBeGreaterThan(0)
    expect(second.summary).not.toMatch(/deleted: .*web-canary/)
    expect((await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])).spec.template.spec.containers[0].image).toBe(`${image}@${d2}`)
    expect(await exists(ns, 'configmap/keep')).toBe(true)
  })
})

describe("kubectl's view of kube-ship's ApplySet (KUBECTL_APPLYSET=true)", () => {
  const kubectlApplySet = async (ns: string, parent: string, objects: KubeObject[]) =>
    run('kubectl', ['--kubeconfig', stack().kubeconfig, '-n', ns, 'apply', '--server-side', '--prune', `--applyset=${parent}`, '-f', '-'], {
      input: objects.map(o => stringify(o)).join('---\n'),
      env: { ...process.env, KUBECTL_APPLYSET: 'true' }
    })

  it('kubectl computes the same id for a parent, and refuses to prune or change kube-ship’s set', async () => {
    const ns = await fresh('prune-kubectl')
    // kubectl's own set: its id label is the one applySetId computes for that parent.
    const own = await kubectlApplySet(ns, 'configmaps/probe', [configMap('k1', { a: '1' })])
    expect(own.stderr).toBe('')
    expect((await kubectlJson(['-n', ns, 'get', 'configmap', 'probe'])).metadata.labels[ID_LABEL]).toBe(applySetId({ name: 'probe', namespace: ns, kind: 'ConfigMap', group: '' }))

    ok(await ship(ns, [configMap('a', { a: '1' }), configMap('b', { a: '1' }), configMap('c', { a: '1' })]))
    const before = await parentOf(ns)
    // kubectl pointed at kube-ship's parent with only A: it must not delete B and C.
    const theirs = await kubectlApplySet(ns, `configmaps/${parentRef('production', ns).name}`, [configMap('a', { a: '1' })])
    expect(theirs.code).not.toBe(0)
    expect(theirs.stderr).toMatch(/managed by tooling "kube-ship" instead of "kubectl"/)
    for (const n of ['a', 'b', 'c']) expect(await exists(ns, `configmap/${n}`)).toBe(true)
    expect((await parentOf(ns)).metadata.resourceVersion).toBe(before.metadata.resourceVersion)
  })

  it('kube-ship refuses a parent kubectl manages, with one line, before it applies anything', async () => {
    const ns = await fresh('prune-kubectl-parent')
    const name = parentRef('production', ns).name
    expect((await kubectlApplySet(ns, `configmaps/${name}`, [configMap('k1', { a: '1' })])).stderr).toBe('')
    const r = await ship(ns, [configMap('a', { a: '1' })])
    expect(errorLines(r.log)).toEqual([expect.stringMatching(new RegExp(`^::error::ConfigMap/${ns}/${name}: is the ApplySet parent of another tool \\(applyset.kubernetes.io/tooling: kubectl/v1\\.\\d+`))])
    expect(await exists(ns, 'configmap/a')).toBe(false)
    expect(await exists(ns, 'configmap/k1')).toBe(true)
  })
})
