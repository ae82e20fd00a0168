// The deliver stage against the local control plane: concurrent waits for every workload kind,
// created/configured/unchanged, namespace creation, CRDs before their objects, one-line errors
// with file:line, and diff mode leaving the cluster untouched.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { adminKc, configMap, crd, daemonSet, deploy, deployment, documents, image, job, service, statefulSet } from './deliver-fixtures.js'
import { deleteNamespace, freshNamespace, kubectl, kubectlJson, kubectlResult, stack } from './stack.js'
import type { KubeObject } from '../../src/manifests/types.js'
import { checkConnection, loadKubeConfig } from '../../src/kube/client.js'
import { applyObjects } from '../../src/kube/apply.js'
import { DeployError } from '../../src/errors.js'
import { createServer } from 'node:net'
import { readFileSync } from 'node:fs'

describe('deliver: apply and wait', () => {
  const kc = adminKc()
  const created: string[] = []
  afterAll(async () => {
    for (const ns of created) await deleteNamespace(ns)
  })

  it('creates the namespace, waits for Deployments, a StatefulSet, a DaemonSet and a Job together, and is idempotent', async () => {
    const ns = `deliver-${randomBytes(3).toString('hex')}`
    created.push(ns)
    expect((await kubectlResult(['get', 'namespace', ns])).code).not.toBe(0)
    const objects = [
      configMap('settings', { mode: 'a' }),
      deployment('web-a', 'v1'),
      deployment('web-b', 'v1', { replicas: 3 }),
      deployment('web-c', 'v1', { replicas: 1 }),
      service('web-a'),
      statefulSet('db', 'v1'),
      daemonSet('agent', 'v1'),
      job('migrate', 'v1')
    ]
    const first = await deploy(kc, ns, objects)
    expect(first.error).toBeUndefined()
    expect(first.report.status).toBe('succeeded')
    expect(first.report.resources.map(r => `${r.kind}/${r.name}=${r.change}`).sort()).toEqual(
      [
        'ConfigMap/settings=created',
        'DaemonSet/agent=created',
        'Deployment/web-a=created',
        'Deployment/web-b=created',
        'Deployment/web-c=created',
        'Job/migrate=created',
        'Service/web-a=created',
        'StatefulSet/db=created'
      ].sort()
    )
    expect(first.report.resources.every(r => r.namespace === ns)).toBe(true)
    expect(first.report.workloads.map(w => [w.kind, w.name, w.ok])).toEqual(
      expect.arrayContaining([
        ['Deployment', 'web-a', true],
        ['Deployment', 'web-b', true],
        ['Deployment', 'web-c', true],
        ['StatefulSet', 'db', true],
        ['DaemonSet', 'agent', true],
        ['Job', 'migrate', true]
      ])
    )
    expect(first.report.workloads).toHaveLength(6)
    // The verdicts match the cluster: every replica available, the Job complete.
    const web = await kubectlJson(['-n', ns, 'get', 'deployment', 'web-b'])
    expect(web.status.availableReplicas).toBe(3)
    const migrate = await kubectlJson(['-n', ns, 'get', 'job', 'migrate'])
    expect(migrate.status.conditions.some((c: any) => c.type === 'Complete' && c.status === 'True')).toBe(true)
    const db = await kubectlJson(['-n', ns, 'get', 'statefulset', 'db'])
    expect(db.status.readyReplicas).toBe(2)

    // The same documents again change nothing and finish at once.
    const again = await deploy(kc, ns, objects)
    expect(again.report.status).toBe('succeeded')
    expect(new Set(again.report.resources.map(r => r.change))).toEqual(new Set(['unchanged']))

    // One edited document is the only one configured.
    const edited = objects.map(o => (o.metadata.name === 'settings' ? configMap('settings', { mode: 'b' }) : o))
    const third = await deploy(kc, ns, edited)
    expect(third.report.resources.filter(r => r.change !== 'unchanged')).toEqual([{ kind: 'ConfigMap', namespace: ns, name: 'settings', change: 'configured' }])
  })

  it('applies a CRD, waits until it is Established, then applies its objects in the same run', async () => {
    const ns = await freshNamespace('deliver-crd')
    created.push(ns)
    const group = `e2e${randomBytes(3).toString('hex')}.kube-ship.dev`
    const definition = crd(group, 'Widget')
    const widget: KubeObject = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } } as KubeObject
    try {
      // The custom object comes first in the file: ordering puts the CRD ahead of it.
      const run = await deploy(kc, ns, [widget, definition])
      expect(run.error).toBeUndefined()
      expect(run.report.resources.map(r => `${r.kind}=${r.change}`)).toEqual(['CustomResourceDefinition=created', 'Widget=created'])
      expect(run.report.resources[0].namespace).toBeUndefined()
      const live = await kubectlJson(['-n', ns, 'get', `widgets.${group}`, 'w1'])
      expect(live.spec.size).toBe(3)
    } finally {
      await kubectl(['delete', 'crd', `widgets.${group}`, '--wait=false', '--ignore-not-found'])
    }
  })

  it('takes fields back from another manager and says which (kubectl scale)', async () => {
    const ns = await freshNamespace('deliver-conflict')
    created.push(ns)
    expect((await deploy(kc, ns, [deployment('web', 'v1')])).report.status).toBe('succeeded')
    await kubectl(['-n', ns, 'scale', 'deployment/web', '--replicas=3'])
    const warnings: string[] = []
    const [applied] = await applyObjects(kc, documents([deployment('web', 'v1')]), { namespace: ns, warn: w => warnings.push(w) })
    expect(applied.change).toBe('configured')
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^Deployment/${ns}/web: took over fields from another manager: conflict with "kubectl.*" .*\\.spec\\.replicas`))])
    expect((await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])).spec.replicas).toBe(2)
  })

  describe('one-line errors naming file:line', () => {
    let ns: string
    beforeAll(async () => {
      ns = await freshNamespace('deliver-errors')
      created.push(ns)
    })

    it('an unknown kind fails before anything of its phase is applied', async () => {
      const docs = documents([configMap('early', { a: '1' }), { apiVersion: 'nothing.kube-ship.dev/v1', kind: 'Gadget', metadata: { name: 'g' } } as KubeObject])
      const run = await deploy(kc, ns, docs)
      expect(run.error).toBe(
        `k8s/app.yaml:21: Gadget/g: kind Gadget (nothing.kube-ship.dev/v1) is not served by the cluster (is its CustomResourceDefinition installed?)`
      )
      expect((await kubectlResult(['-n', ns, 'get', 'configmap', 'early'])).code).not.toBe(0)
    })

    it('an invalid object names the field paths the server gave', async () => {
      const bad = deployment('bad', 'v1', { replicas: -1 })
      const run = await deploy(kc, ns, documents([configMap('ok', {}), bad], 'k8s/bad.yaml'))
      expect(run.error).toMatch(new RegExp(`^k8s/bad.yaml:21: Deployment/${ns}/bad: invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`))
      expect(run.error).not.toContain('\n')
    })

    it('an unknown field is refused instead of silently dropped', async () => {
      const typo = deployment('typo', 'v1')
      ;(typo.spec as any).replicsa = 3
      const run = await deploy(kc, ns, [typo])
      expect(run.error).toMatch(/^k8s\/app.yaml:1: Deployment\/.*\/typo: invalid: \.spec\.replicsa: field not declared in schema$/)
    })

    it('a changed selector says the object must be recreated', async () => {
      expect((await deploy(kc, ns, [deployment('moving', 'v1')])).report.status).toBe('succeeded')
      const moved = deployment('moving', 'v1')
      ;(moved.spec as any).selector = { matchLabels: { app: 'moving', tier: 'web' } }
      ;(moved.spec as any).template.metadata.labels.tier = 'web'
      const run = await deploy(kc, ns, [moved], { 'rollback-on-failure': 'false' })
      expect(run.error).toMatch(/invalid: spec.selector: .*field is immutable.*\(an immutable field \(e.g. a selector\) changed; the object must be recreated/)
    })
  })

  describe('strategy canary with nothing to compare with', () => {
    const digest = `sha256:${'c'.repeat(64)}`
    const canary = () => ({ strategy: 'canary', image: `${stack().registry}/e2e/web`, digest, 'canary-steps': '50:1s' })

    it('a first deploy goes out with the rolling plan and says so; a failing one is rolled back as rolling rolls back', async () => {
      const ns = await freshNamespace('deliver-fallback')
      created.push(ns)
      const first = await deploy(kc, ns, [deployment('web', `v1@${digest}`)], canary())
      expect(first.error).toBeUndefined()
      expect(first.plan).toBe('rolling')
      expect(first.report.status).toBe('succeeded')
      expect(first.report.warnings).toContain(`canary skipped: Deployment ${ns}/web is new, deployed directly`)
      expect(await kubectl(['-n', ns, 'get', 'deployment', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'])).toBe(image(`v1@${digest}`))

      const bad = await deploy(kc, ns, [deployment('other', `v1@${digest}`, { behavior: 'crashloop' })], canary())
      expect(bad.error).toMatch(new RegExp(`^Deployment/${ns}/other: `))
      expect(bad.report.warnings).toContain(`canary skipped: Deployment ${ns}/other is new, deployed directly`)
      expect(bad.report.rollback.map(r => `${r.resource}=${r.action}`)).toEqual([`Deployment/${ns}/other=deleted`])
      expect(bad.report.status).toBe('rolled-back')
      expect((await kubectlResult(['-n', ns, 'get', 'deployment', 'other'])).code).not.toBe(0)
    })
  })

  describe('mode diff', () => {
    it('shows the server-side dry-run diff and changes nothing', async () => {
      const ns = await freshNamespace('deliver-diff')
      created.push(ns)
      expect((await deploy(kc, ns, [deployment('web', 'v1'), configMap('settings', { mode: 'a' })])).report.status).toBe('succeeded')
      const before = await kubectlJson(['-n', ns, 'get', 'deployment,configmap'])
      const versions = (list: any) => Object.fromEntries(list.items.map((i: any) => [`${i.kind}/${i.metadata.name}`, i.metadata.resourceVersion]))

      const run = await deploy(kc, ns, [deployment('web', 'v2'), configMap('settings', { mode: 'a' }), configMap('added', { x: '1' })], { mode: 'diff' })
      expect(run.error).toBeUndefined()
      expect(run.report.status).toBe('diff')
      const diff = run.report.diff!
      expect(diff).toContain(`--- live/Deployment/${ns}/web`)
      expect(diff).toContain(`-          image: ${image('v1')}`)
      expect(diff).toContain(`+          image: ${image('v2')}`)
      expect(diff).toContain(`+++ planned/ConfigMap/${ns}/added`)
      expect(diff).toContain('--- /dev/null')
      expect(diff).not.toContain(`ConfigMap/${ns}/settings`)
      expect(diff).not.toMatch(/managedFields|resourceVersion|creationTimestamp|uid:/)
      expect(run.report.resources.map(r => `${r.name}=${r.change}`)).toEqual(['web=configured', 'settings=unchanged', 'added=created'])

      const after = await kubectlJson(['-n', ns, 'get', 'deployment,configmap'])
      expect(versions(after)).toEqual(versions(before))
      expect((await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])).spec.template.spec.containers[0].image).toBe(image('v1'))
      expect((await kubectlResult(['-n', ns, 'get', 'configmap', 'added'])).code).not.toBe(0)
    })

    it('shows a CRD and its objects as added without installing the CRD', async () => {
      const ns = await freshNamespace('deliver-diff-crd')
      created.push(ns)
      const group = `diff${randomBytes(3).toString('hex')}.kube-ship.dev`
      const definition = crd(group, 'Gadget')
      const gadget = { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g1' }, spec: { size: 1 } } as KubeObject
      const run = await deploy(kc, ns, [definition, gadget], { mode: 'diff' })
      expect(run.error).toBeUndefined()
      expect(run.report.resources.map(r => `${r.kind}/${r.namespace ?? '-'}=${r.change}`)).toEqual(['CustomResourceDefinition/-=created', `Gadget/${ns}=created`])
      expect(run.report.diff).toContain(`+++ planned/Gadget/${ns}/g1`)
      expect((await kubectlResult(['get', 'crd', `gadgets.${group}`])).code).not.toBe(0)
    })

    it('into a namespace that does not exist yet shows everything added and creates nothing', async () => {
      const ns = `deliver-diff-${randomBytes(3).toString('hex')}`
      const run = await deploy(kc, ns, [deployment('web', 'v1')], { mode: 'diff' })
      expect(run.error).toBeUndefined()
      expect(run.report.diff).toContain(`+++ planned/Deployment/${ns}/web`)
      expect(run.report.resources).toEqual([{ kind: 'Deployment', namespace: ns, name: 'web', change: 'created' }])
      expect((await kubectlResult(['get', 'namespace', ns])).code).not.toBe(0)
    })
  })

  describe('connecting', () => {
    const config = (server: string, token: string): string => `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${server}", certificate-authority-data: "${readFileSync(stack().caFile).toString('base64')}"}}]
users: [{name: u, user: {token: "${token}"}}]
contexts: [{name: e2e, context: {cluster: c, user: u}}]
current-context: e2e
`
    const lineOf = async (text: string): Promise<string> => {
      const err = await checkConnection(loadKubeConfig({ kubeconfig: text })).then(
        () => undefined,
        e => e
      )
      expect(err).toBeInstanceOf(DeployError)
      return (err as DeployError).line()
    }

    it('names the server that does not answer, and never prints the token', async () => {
      const probe = createServer()
      await new Promise<void>(r => probe.listen(0, '127.0.0.1', r))
      const port = (probe.address() as { port: number }).port
      await new Promise(r => probe.close(r))
      const line = await lineOf(config(`https://127.0.0.1:${port}`, 'tok-e2e-secret'))
      expect(line).toBe(`the API server https://127.0.0.1:${port} did not answer: ECONNREFUSED (check the kubeconfig server address and that the cluster is reachable from the runner)`)
    })

    it('says the credentials were refused', async () => {
      const line = await lineOf(config(stack().server, 'tok-e2e-secret'))
      expect(line).toBe(`input 'kubeconfig': the API server ${stack().server} rejected the credentials of context 'e2e' (401) (the token or client certificate is expired or wrong)`)
      expect(line).not.toContain('tok-e2e-secret')
    })

    it('answers the server version for a good kubeconfig', async () => {
      expect(await checkConnection(adminKc())).toMatch(/^v1\.\d+/)
    })
  })
})
