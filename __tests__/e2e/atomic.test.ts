// A failed run changes nothing, or undoes what it changed (issue 10 §2), against the local
// control plane: a document the identity may not write is refused by the dry run before the
// first real write (repeated, since the old failure was a race), a namespace the run created is
// deleted again when the run is refused, rollback restores every object the run changed (not
// only workloads) and deletes what it created, and the dry run does not make applies chattier.
import { afterAll, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import type { KubeObject } from '../../src/manifests/types.js'
import { clientFor } from '../../src/kube/client.js'
import { applyObjects, ensureNamespace } from '../../src/kube/apply.js'
import { adminKc, configMap, deploy, deployment, documents, image, restrictedKc, service } from './deliver-fixtures.js'
import { deleteNamespace, kubectl, kubectlJson, kubectlResult, stack, suiteNamespaces, waitFor } from './stack.js'

const secret = (name: string, data: Record<string, string>): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', stringData: data }) as KubeObject

/** resourceVersion, generation and image of what a test must find untouched. */
async function snapshot(ns: string, names: string[]): Promise<Record<string, unknown>> {
  const list = await kubectlJson(['-n', ns, 'get', 'deployments,configmaps,services', '-o', 'json'])
  const out: Record<string, unknown> = {}
  for (const i of list.items)
    if (names.includes(i.metadata.name))
      out[`${i.kind}/${i.metadata.name}`] = { rv: i.metadata.resourceVersion, generation: i.metadata.generation, image: i.spec?.template?.spec?.containers?.[0]?.image }
  return out
}

/** Gone, or on its way out (a namespace is finalized asynchronously). */
async function namespaceGone(ns: string): Promise<boolean> {
  const r = await kubectlResult(['get', 'namespace', ns, '-o', 'json'])
  return r.code !== 0 || JSON.parse(r.stdout).metadata.deletionTimestamp !== undefined
}

const settle = (ms: number) => new Promise(r => setTimeout(r, ms))

describe('a refused run changes nothing', () => {
  const made: string[] = []
  afterAll(async () => {
    for (const ns of made) await deleteNamespace(ns)
  })

  it('a Secret the Role may not write next to a Deployment change: v1 keeps running and nothing changed (5 times)', async () => {
    const ns = stack().restrictedNamespace
    const kc = restrictedKc()
    const name = `atomic-${randomBytes(3).toString('hex')}`
    const cm = `${name}-settings`
    try {
      const first = await deploy(kc, ns, [deployment(name, 'v1'), configMap(cm, { mode: 'a' })])
      expect(first.error).toBeUndefined()
      const before = await snapshot(ns, [name, cm])
      expect(before[`Deployment/${name}`]).toMatchObject({ image: image('v1') })
      for (let i = 0; i < 5; i++) {
        // The Secret comes first: its refusal answers while the Deployment's write is in flight.
        const run = await deploy(kc, ns, [secret(`${name}-creds`, { token: 's3cret' }), deployment(name, 'v2'), configMap(cm, { mode: 'b' })])
        expect(run.error).toMatch(new RegExp(`Secret/${ns}/${name}-creds: forbidden: .* cannot patch secrets in namespace ${ns}`))
        expect(run.error).not.toContain('s3cret')
        expect(run.report.status).toBe('failed')
        expect(run.report.rollback).toEqual([])
        // A write that was still in flight would land about now.
        await settle(500)
        expect(await snapshot(ns, [name, cm])).toEqual(before)
      }
      const live = await kubectlJson(['-n', ns, 'get', 'deployment', name])
      expect(live.status.availableReplicas).toBe(2)
      expect(live.spec.template.spec.containers[0].image).toBe(image('v1'))
    } finally {
      await kubectl(['-n', ns, 'delete', 'deployment', name, '--ignore-not-found', '--wait=false'])
      await kubectl(['-n', ns, 'delete', 'configmap', cm, '--ignore-not-found', '--wait=false'])
    }
  })

  it('an invalid object into a namespace the run created: the namespace is deleted again', async () => {
    const kc = adminKc()
    const ns = `atomic-new-${randomBytes(3).toString('hex')}`
    made.push(ns)
    const run = await deploy(kc, ns, [configMap('early', { a: '1' }), deployment('bad', 'v1', { replicas: -1 })])
    expect(run.error).toMatch(new RegExp(`^k8s/app.yaml:21: Deployment/${ns}/bad: invalid: spec.replicas`))
    expect(run.report.status).toBe('failed')
    expect(await namespaceGone(ns)).toBe(true)
  })

  it('an unknown kind after the lock made the namespace (as the pipeline does): the namespace is deleted again', async () => {
    const kc = adminKc()
    const ns = `atomic-lock-${randomBytes(3).toString('hex')}`
    made.push(ns)
    await ensureNamespace(clientFor(kc), ns)
    expect(await namespaceGone(ns)).toBe(false)
    const run = await deploy(kc, ns, [configMap('early', { a: '1' }), { apiVersion: 'nothing.kube-ship.dev/v1', kind: 'Gadget', metadata: { name: 'g' } } as KubeObject])
    expect(run.error).toBe('k8s/app.yaml:21: Gadget/g: kind Gadget (nothing.kube-ship.dev/v1) is not served by the cluster (is its CustomResourceDefinition installed?)')
    expect(await namespaceGone(ns)).toBe(true)
  })

  it('a Namespace document that did not exist, then a refused object: the namespace is deleted again', async () => {
    const kc = adminKc()
    const ns = `atomic-doc-${randomBytes(3).toString('hex')}`
    made.push(ns)
    const typo = deployment('typo', 'v1')
    ;(typo.spec as Record<string, unknown>).replicsa = 3
    const run = await deploy(kc, 'default', [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { ...configMap('c', {}), metadata: { name: 'c', namespace: ns } }, { ...typo, metadata: { name: 'typo', namespace: ns } }])
    expect(run.error).toMatch(/\.spec\.replicsa: field not declared in schema$/)
    expect(await namespaceGone(ns)).toBe(true)
  })
})

describe('rollback restores every object the run changed', () => {
  const fresh = suiteNamespaces()

  it('ConfigMaps, Secrets and Services get their previous version back, objects the run created are deleted', async () => {
    const kc = adminKc()
    const ns = await fresh('atomic-rollback')
    const v1 = [deployment('web', 'v1'), configMap('settings', { mode: 'a' }), secret('creds', { token: 'one' }), service('web')]
    expect((await deploy(kc, ns, v1)).report.status).toBe('succeeded')
    // Another manager's change that the run does not touch must survive the rollback too.
    await kubectl(['-n', ns, 'label', 'configmap', 'settings', 'owner=platform'])
    const read = async () => ({
      settings: await kubectlJson(['-n', ns, 'get', 'configmap', 'settings', '--show-managed-fields']),
      creds: await kubectlJson(['-n', ns, 'get', 'secret', 'creds']),
      svc: await kubectlJson(['-n', ns, 'get', 'service', 'web'])
    })
    const before = await read()

    const changedService = service('web')
    ;(changedService.spec as { ports: unknown[] }).ports = [{ port: 81, targetPort: 8081 }]
    const v2 = [
      deployment('web', 'v2', { behavior: 'image-pull-backoff' }),
      configMap('settings', { mode: 'b', extra: 'x' }),
      secret('creds', { token: 'two' }),
      changedService,
      configMap('added', { new: '1' }),
      service('added')
    ]
    const run = await deploy(kc, ns, v2)
    expect(run.report.status).toBe('rolled-back')
    expect(run.report.rollback.map(r => `${r.resource}=${r.action}`)).toEqual(
      [
        `ConfigMap/${ns}/added=deleted`,
        `ConfigMap/${ns}/settings=restored`,
        `Deployment/${ns}/web=restored`,
        `Secret/${ns}/creds=restored`,
        `Service/${ns}/added=deleted`,
        `Service/${ns}/web=restored`
      ].sort()
    )

    const after = await read()
    expect(after.settings.data).toEqual({ mode: 'a' })
    expect(after.settings.metadata.labels).toEqual({ owner: 'platform' })
    expect(after.creds.data).toEqual(before.creds.data)
    expect(after.svc.spec.ports).toEqual(before.svc.spec.ports)
    // The other manager keeps its field; no field of the failed run remains.
    const owners = (o: any) => o.metadata.managedFields.map((f: any) => `${f.manager}:${f.operation}`).sort()
    expect(owners(after.settings)).toContain('kubectl-label:Update')
    expect(JSON.stringify(after.settings.metadata.managedFields)).not.toContain('f:extra')
    expect((await kubectlResult(['-n', ns, 'get', 'configmap', 'added'])).code).not.toBe(0)
    await waitFor('Service added to be gone', async () => (await kubectlResult(['-n', ns, 'get', 'service', 'added'])).code !== 0)
    expect((await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])).spec.template.spec.containers[0].image).toBe(image('v1'))

    // The next good deploy takes everything back without a conflict warning for another manager.
    const warnings: string[] = []
    const next = await applyObjects(kc, documents([deployment('web', 'v3'), configMap('settings', { mode: 'c' }), secret('creds', { token: 'three' }), service('web')]), {
      namespace: ns,
      warn: w => warnings.push(w)
    })
    expect(next.slice(0, 3).map(a => a.change)).toEqual(['configured', 'configured', 'configured'])
    expect(warnings).toEqual([])
  })

  it('a namespace the run created is deleted with everything in it when the rollout fails', async () => {
    const kc = adminKc()
    const ns = `atomic-fresh-${randomBytes(3).toString('hex')}`
    try {
      const run = await deploy(kc, ns, [deployment('web', 'v1', { behavior: 'image-pull-backoff' }), configMap('settings', { mode: 'a' })])
      expect(run.report.status).toBe('rolled-back')
      expect(run.report.rollback).toEqual([{ resource: `Namespace/${ns}`, action: 'deleted', message: 'created by this run, with everything in it' }])
      expect(await namespaceGone(ns)).toBe(true)
    } finally {
      await deleteNamespace(ns)
    }
  })
})

describe('the dry run does not make applies chattier', () => {
  const fresh = suiteNamespaces()

  it('25 objects: one dry run and one write each when new (nothing read: the dry run says they are new), one dry run each and a LIST per kind when unchanged', async () => {
    const kc = adminKc()
    const ns = await fresh('atomic-count')
    const objects = Array.from({ length: 25 }, (_, i) => (i % 5 === 0 ? service(`svc-${i}`) : configMap(`cm-${i}`, { i: String(i) })))
    const k = clientFor(kc)
    const send = k.send.bind(k)
    let requests = 0
    let reads = 0
    k.send = ((...args: Parameters<typeof send>) => {
      requests++
      if (args[0] === 'GET' && /\/(configmaps|services)\b/.test(args[1])) reads++
      return send(...args)
    }) as typeof k.send
    const created = await applyObjects(kc, documents(objects), { namespace: ns })
    expect(created.every(a => a.change === 'created')).toBe(true)
    const createRequests = requests
    expect(reads).toBe(0)
    requests = 0
    reads = 0
    const again = await applyObjects(kc, documents(objects), { namespace: ns })
    expect(again.every(a => a.change === 'unchanged')).toBe(true)
    // Discovery (2 groups at most), the namespace check and one LIST per kind come on top.
    expect(createRequests).toBeLessThanOrEqual(2 * 25 + 5)
    expect(requests).toBeLessThanOrEqual(25 + 3)
    // what rollback needs of the existing objects: one LIST per kind
    expect(reads).toBe(2)
    process.stdout.write(`apply of 25 objects: ${createRequests} requests (create), ${requests} (unchanged)\n`)
  })
})
