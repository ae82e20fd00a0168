// The deploy lock and the least-privilege Role, with the restricted kubeconfig (ServiceAccount
// kube-ship-deployer bound to test/stack/rbac/deployer-role.yaml in team-a): runs are serialised,
// a waiting run gives up with a clear line, an expired lease is taken over, the post step's
// release works from saved state, and a deploy (including a failed one and its rollback) needs
// nothing beyond the documented Role; what the Role does not grant fails with one line.
import { afterAll, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { acquireLock, lockName, microTime, releaseLock } from '../../src/kube/lock.js'
import { STATE_KEYS } from '../../src/state.js'
import { DeployError } from '../../src/errors.js'
import { configMap, deploy, deployment, documents, image, job, restrictedKc, service } from './deliver-fixtures.js'
import { kubectl, kubectlJson, kubectlResult, stack, waitFor } from './stack.js'

const suffix = (): string => randomBytes(3).toString('hex')

describe('deploy lock (restricted kubeconfig)', () => {
  const kc = restrictedKc()
  const ns = stack().restrictedNamespace
  const leases = (env: string) => kubectlResult(['-n', ns, 'get', 'lease', lockName(env), '-o', 'json'])

  it('a second run waits, then fails naming the holder; after release it gets the lock', async () => {
    const env = `lock-${suffix()}`
    const a = await acquireLock(kc, { environment: env, namespace: ns, waitMs: 5000, holder: 'run-a' })
    try {
      let err: unknown
      await acquireLock(kc, { environment: env, namespace: ns, waitMs: 1500, holder: 'run-b', pollMs: 300 }).catch(e => (err = e))
      expect(err).toBeInstanceOf(DeployError)
      expect((err as DeployError).line()).toMatch(
        new RegExp(`^Lease/${ns}/kube-ship-${env}: environment '${env}' is locked by run-a since \\S+; gave up after 2s \\(another deploy to this environment is running`)
      )
    } finally {
      expect(await releaseLock(kc, a)).toBe(true)
    }
    const b = await acquireLock(kc, { environment: env, namespace: ns, waitMs: 5000, holder: 'run-b' })
    expect(JSON.parse((await leases(env)).stdout).spec.holderIdentity).toBe('run-b')
    await releaseLock(kc, b)
    expect((await leases(env)).code).not.toBe(0)
  })

  it('serialises two concurrent deploys to one environment', async () => {
    const env = `serial-${suffix()}`
    const log: string[] = []
    const runOne = async (who: string): Promise<void> => {
      const lock = await acquireLock(kc, { environment: env, namespace: ns, waitMs: 120_000, holder: who, pollMs: 200 })
      log.push(`${who} start`)
      try {
        const run = await deploy(kc, ns, [configMap(`serial-${env}`, { by: who })])
        expect(run.report.status).toBe('succeeded')
      } finally {
        log.push(`${who} end`)
        await releaseLock(kc, lock)
      }
    }
    await Promise.all([runOne('first'), runOne('second')])
    expect(log).toHaveLength(4)
    // Whoever went first finished before the other started.
    expect(log[0].split(' ')[0]).toBe(log[1].split(' ')[0])
    expect(log[1]).toMatch(/ end$/)
    expect(log[2].split(' ')[0]).toBe(log[3].split(' ')[0])
    await kubectl(['-n', ns, 'delete', 'configmap', `serial-${env}`])
  })

  it('takes over a lease its holder stopped renewing, and renews its own', async () => {
    const env = `stale-${suffix()}`
    const hourAgo = microTime(Date.now() - 3_600_000)
    await kubectl(['-n', ns, 'apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: lockName(env) },
        spec: { holderIdentity: 'crashed-run', leaseDurationSeconds: 30, acquireTime: hourAgo, renewTime: hourAgo }
      })
    })
    const lock = await acquireLock(kc, { environment: env, namespace: ns, waitMs: 1000, holder: 'rescuer', leaseSeconds: 3 })
    try {
      const taken = JSON.parse((await leases(env)).stdout)
      expect(taken.spec).toMatchObject({ holderIdentity: 'rescuer', leaseTransitions: 1, leaseDurationSeconds: 3 })
      await waitFor('a renewal', async () => JSON.parse((await leases(env)).stdout).spec.renewTime !== taken.spec.renewTime, 10_000)
    } finally {
      lock.stop?.()
    }
    // The post step releases from the state the main step saved.
    process.env[`STATE_${STATE_KEYS.lock}`] = JSON.stringify({ namespace: ns, name: lockName(env), holder: 'rescuer' })
    try {
      expect(await releaseLock(kc)).toBe(true)
    } finally {
      delete process.env[`STATE_${STATE_KEYS.lock}`]
    }
    expect((await leases(env)).code).not.toBe(0)
  })
})

describe('least-privilege Role (restricted kubeconfig)', () => {
  const kc = restrictedKc()
  const ns = stack().restrictedNamespace
  const name = `ship-${suffix()}`
  afterAll(async () => {
    await kubectl(['-n', ns, 'delete', 'deployment,service,configmap,job', '-l', `e2e-run=${name}`, '--ignore-not-found', '--wait=false'])
  })
  const labelled = <T extends { metadata: { labels?: Record<string, string> } }>(o: T): T => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, 'e2e-run': name } } })

  it('deploys, fails, diagnoses and rolls back with exactly the documented Role', async () => {
    const objects = [labelled(configMap(`${name}-cfg`, { a: '1' })), labelled(deployment(name, 'v1')), labelled(service(name)), labelled(job(`${name}-job`, 'v1'))]
    const ok = await deploy(kc, ns, objects)
    expect(ok.error).toBeUndefined()
    expect(ok.report.status).toBe('succeeded')
    expect(ok.report.resources.map(r => r.change)).toEqual(['created', 'created', 'created', 'created'])

    const bad = await deploy(kc, ns, [labelled(deployment(name, 'v2', { behavior: 'crashloop' }))])
    expect(bad.report.status).toBe('rolled-back')
    expect(bad.report.diagnostics[0].reason).toBe('CrashLoopBackOff')
    expect(bad.report.diagnostics[0].events.length).toBeGreaterThan(0)
    expect(bad.report.rollback).toEqual([{ resource: `Deployment/${ns}/${name}`, action: 'restored', image: image('v1') }])
    expect((await kubectlJson(['-n', ns, 'get', 'deployment', name])).spec.template.spec.containers[0].image).toBe(image('v1'))
  })

  it('what the Role does not grant fails with one line naming verb, resource and namespace', async () => {
    const elsewhere = { ...configMap(`${name}-x`, {}), metadata: { name: `${name}-x`, namespace: 'default' } }
    const run = await deploy(kc, ns, documents([elsewhere], 'k8s/other.yaml'))
    expect(run.error).toBe(
      `k8s/other.yaml:1: ConfigMap/default/${name}-x: forbidden: system:serviceaccount:${ns}:kube-ship-deployer cannot patch configmaps in namespace default (grant 'patch' on 'configmaps' in the deployer Role)`
    )
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `${name}-role` }, rules: [] }
    const cluster = await deploy(kc, ns, [role])
    expect(cluster.error).toMatch(/ClusterRole\/ship-\w+-role: forbidden: system:serviceaccount:team-a:kube-ship-deployer cannot patch clusterroles.rbac.authorization.k8s.io \(cluster-scoped\)/)
  })
})
