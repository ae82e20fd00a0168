// One deploy per environment at a time: a coordination.k8s.io Lease `kube-ship-<environment>` in
// the target namespace. A second run waits (bounded), then fails naming the holder. The holder
// renews the lease while it runs; the post step releases it even when the main step failed.
// A lease its holder stopped renewing (a cancelled runner) is taken over once it has expired.
// A holder that can no longer prove it holds the lease (another holder took it, or no renewal
// got through within one lease duration) aborts `lost`, which the run's signal includes, so the
// run stops before its next write.
//
// Expiry is judged on our own clock twice over, since runners' clocks may disagree: a lease
// whose renewTime + duration is more than one further duration in the past is expired at once;
// otherwise it is expired when we have watched its resourceVersion not move for a full
// duration (client-go's leader election observes the same way).
import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import type { KubeConfig } from '@kubernetes/client-node'
import { DeployError } from '../errors.js'
import { state } from '../state.js'
import { type Kube, isTransient, clientFor } from './client.js'
import { ApiError, failure } from './errors.js'
import { sleep } from './pool.js'

const LEASE_SECONDS = 30

export interface LockHandle {
  namespace: string
  name: string
  holder: string
  /** stops renewing; set while held in this process */
  stop?: () => void
  /** aborts (with a DeployError naming the environment and the holder) when the lease is lost */
  lost?: AbortSignal
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1'
  kind: 'Lease'
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> }
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number }
}

/** Pure: the Lease name for an environment (a DNS subdomain). */
export function lockName(environment: string): string {
  const slug = environment
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
  return `kube-ship-${slug || 'default'}`.slice(0, 253).replace(/[-.]+$/, '')
}

/** Pure: Kubernetes MicroTime (RFC 3339 with exactly six fractional digits). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

/** Pure: has the holder stopped renewing, judged from renewTime alone (with one duration of slack for clock skew)? */
export function expiredByClock(spec: Lease['spec'], now: number): boolean {
  const duration = (spec.leaseDurationSeconds ?? LEASE_SECONDS) * 1000
  const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? '')
  return !Number.isFinite(renewed) || renewed + 2 * duration < now
}

let processHolder: string | undefined

/** This run's identity as a holder: repository, run and attempt, plus a nonce for local runs. */
export function holderIdentity(env: NodeJS.ProcessEnv = process.env): string {
  const run = env.GITHUB_RUN_ID ? `${env.GITHUB_REPOSITORY ?? ''}/runs/${env.GITHUB_RUN_ID}/${env.GITHUB_RUN_ATTEMPT ?? '1'}` : `local/${process.pid}`
  return `${run}#${randomBytes(3).toString('hex')}`
}

export interface AcquireOptions {
  environment: string
  namespace: string
  /** how long to wait for another run's lease */
  waitMs: number
  signal?: AbortSignal
  holder?: string
  leaseSeconds?: number
  /** poll interval while waiting */
  pollMs?: number
}

/** Takes the environment's lease, waiting up to waitMs for another holder; renews it until released. */
export async function acquireLock(kc: KubeConfig, opts: AcquireOptions): Promise<LockHandle> {
  const api = clientFor(kc)
  const name = lockName(opts.environment)
  // One identity per process, so a nested acquire by the same run is re-entrant.
  const holder = opts.holder ?? (processHolder ??= holderIdentity())
  const seconds = opts.leaseSeconds ?? LEASE_SECONDS
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(opts.namespace)}/leases`
  const resource = `Lease/${opts.namespace}/${name}`
  const ctx = { resource, rbacResource: 'leases.coordination.k8s.io', namespace: opts.namespace }
  const giveUp = Date.now() + opts.waitMs
  let seen: { rv?: string; since: number } = { since: Date.now() }
  let told = false
  for (;;) {
    const now = Date.now()
    const spec = { holderIdentity: holder, leaseDurationSeconds: seconds, acquireTime: microTime(now), renewTime: microTime(now) }
    let lease: Lease | undefined
    try {
      lease = await api.get<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: opts.namespace, name }, opts.signal)
      if (!lease) {
        await api.request('POST', path, { body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'kube-ship' } }, spec }, signal: opts.signal })
        return held(api, { namespace: opts.namespace, name, holder }, seconds, opts.environment)
      }
      if (lease.metadata.resourceVersion !== seen.rv) seen = { rv: lease.metadata.resourceVersion, since: now }
      const current = lease.spec.holderIdentity
      const stale = expiredByClock(lease.spec, now) || now - seen.since > (lease.spec.leaseDurationSeconds ?? seconds) * 1000
      if (!current || current === holder || stale) {
        if (current && current !== holder) core.info(`${resource}: taking over the expired lock of ${current}`)
        const transitions = (lease.spec.leaseTransitions ?? 0) + (current === holder ? 0 : 1)
        await api.request('PUT', `${path}/${encodeURIComponent(name)}`, { body: { ...lease, spec: { ...spec, leaseTransitions: transitions } }, signal: opts.signal })
        return held(api, { namespace: opts.namespace, name, holder }, seconds, opts.environment)
      }
      if (!told) {
        core.info(`environment '${opts.environment}' is locked by ${current} (since ${lease.spec.acquireTime ?? 'unknown'}); waiting up to ${Math.round(opts.waitMs / 1000)}s`)
        told = true
      }
    } catch (err) {
      // 409: another run created or updated the lease between our read and write; read again.
      // No answer or a 5xx: try again while there is time to wait.
      if (!(err instanceof ApiError && err.code === 409) && !isTransient(err)) throw failure(err, { verb: lease ? 'update' : 'create', ...ctx })
    }
    if (Date.now() >= giveUp || opts.signal?.aborted)
      throw new DeployError(`environment '${opts.environment}' is locked by ${lease?.spec.holderIdentity ?? 'another run'} since ${lease?.spec.acquireTime ?? 'unknown'}; gave up after ${Math.round(opts.waitMs / 1000)}s`, {
        resource,
        hint: `another deploy to this environment is running; its lock is released when it ends, or expires ${seconds}s after its last renewal`
      })
    await sleep(Math.min(opts.pollMs ?? 2000, Math.max(0, giveUp - Date.now())), opts.signal).catch(() => undefined)
  }
}

/** Pure: the renewal that still proves the lease must finish before this (a third of a duration spare). */
export function renewDeadline(lastRenewedMs: number, seconds: number): number {
  return lastRenewedMs + (seconds * 1000 * 2) / 3
}

function held(api: Kube, handle: LockHandle, seconds: number, environment: string): LockHandle {
  state.saveLock(handle)
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(handle.namespace)}/leases/${encodeURIComponent(handle.name)}`
  const lost = new AbortController()
  const stopped = new AbortController()
  let renewed = Date.now()
  const lose = (why: string): void => {
    clearInterval(timer)
    lost.abort(
      new DeployError(`lost the deploy lock of environment '${environment}': ${why}; stopped before the next change`, {
        resource: `Lease/${handle.namespace}/${handle.name}`,
        hint: 'another deploy may be changing this environment now'
      })
    )
  }
  let busy = false
  const renew = async (): Promise<void> => {
    // Each renewal retries (the one policy) until the lease would no longer be ours to renew.
    const signal = AbortSignal.any([stopped.signal, AbortSignal.timeout(Math.max(1, renewDeadline(renewed, seconds) - Date.now()))])
    try {
      for (;;) {
        const lease = await api.request<Lease>('GET', path, { signal, attemptMs: 5000 })
        if (lease.spec.holderIdentity !== handle.holder) return lose(`it is held by ${lease.spec.holderIdentity ?? 'nobody'} now`)
        try {
          await api.request('PUT', path, { body: { ...lease, spec: { ...lease.spec, renewTime: microTime(Date.now()) } }, signal, attemptMs: 5000 })
          renewed = Date.now()
          return
        } catch (err) {
          // 409: the lease changed since the read (often our own retried PUT whose answer was
          // lost); read again at once: waiting for the next tick would leave it no time.
          if (!(err instanceof ApiError && err.code === 409)) throw err
          await sleep(200, signal)
        }
      }
    } catch (err) {
      if (stopped.signal.aborted) return
      if (err instanceof ApiError && err.code === 404) return lose('the Lease was deleted')
      if (Date.now() >= renewDeadline(renewed, seconds))
        lose(`no renewal got through for ${Math.round((Date.now() - renewed) / 1000)}s of its ${seconds}s (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`)
    }
  }
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    void renew().finally(() => (busy = false))
  }, (seconds * 1000) / 3)
  timer.unref()
  handle.stop = () => {
    clearInterval(timer)
    stopped.abort()
  }
  handle.lost = lost.signal
  return handle
}

/**
 * Releases the lease if this run still holds it. With no handle it reads the one the main step
 * saved (the post step). Never throws: a lease left behind expires on its own.
 */
export async function releaseLock(kc: KubeConfig, handle?: LockHandle): Promise<boolean> {
  const h: LockHandle | undefined = handle ?? state.lock()
  if (!h) return false
  h.stop?.()
  const api = clientFor(kc)
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(h.namespace)}/leases/${encodeURIComponent(h.name)}`
  // Its own short budget: the run's deadline may be what ended the run.
  const signal = AbortSignal.timeout(15_000)
  try {
    const lease = await api.request<Lease>('GET', path, { signal })
    if (lease.spec.holderIdentity !== h.holder) return false
    await api.request('DELETE', path, { body: { preconditions: { resourceVersion: lease.metadata.resourceVersion } }, signal })
    state.saveLock(undefined)
    return true
  } catch (err) {
    if (err instanceof ApiError && err.code === 404) return false
    core.warning(`could not release the deploy lock ${h.namespace}/${h.name}: ${(err as Error).message}; it expires on its own`)
    return false
  }
}
