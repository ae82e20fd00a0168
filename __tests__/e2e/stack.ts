// The local test stack as e2e tests see it: the values test/stack/up.sh wrote to env.json, a
// kubectl runner, fault injection and per-test namespaces. Everything here is real: the
// commands run against the stack's own dockerd, registries and control plane on 127.0.0.1.
import { afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export interface StackEnv {
  /** unix:// socket of the stack's dockerd (20.10, buildx v0.36 plugin installed). */
  dockerHost: string
  /** Open registry, host:port (plain HTTP, no auth). */
  registry: string
  /** htpasswd registry, host:port; authUser/authPassword are generated per stack. */
  authRegistry: string
  authUser: string
  authPassword: string
  /** Admin kubeconfig (system:masters). */
  kubeconfig: string
  /** Token kubeconfig for ServiceAccount kube-ship-deployer bound to rbac/deployer-role.yaml. */
  restrictedKubeconfig: string
  restrictedNamespace: string
  /** https://127.0.0.1:<port> */
  server: string
  /** CA that signed the apiserver's serving certificate. */
  caFile: string
  stateDir: string
  /** How long kwok waits before a scheduled pod becomes Running/Ready. */
  podReadyDelayMs: number
  /** kustomize 5.5 built from its module (what kubectl 1.32 embeds), for parity tests */
  kustomize: string
  /** Helm 4 built from its module, linked as `helm` in its own directory (put that on the action's PATH) */
  helm: string
  /** kwok's pod IP range (loopback): the responder answers as each Ready pod there */
  podCidr: string
  /** Traefik v3.7: entrypoint URLs of its Ingress NGINX provider and of the Gateway's listener */
  router: {
    nginx: string
    gateway: string
    /** the Gateway HTTPRoutes name as parentRef */
    gatewayRef: { namespace: string; name: string }
    /** Traefik's Prometheus metrics */
    metrics: string
    /** Traefik's read-only API (/api/rawdata: the configuration it routes by now) */
    api: string
  }
  /** the stack's Prometheus, scraping Traefik every second */
  prometheusUrl: string
  /** cosign v3 built from its module, for signing test images (absent in an env.json written before it) */
  cosign?: string
  /** buildkitd (attestation-capable) as buildx builder `builder`, recorded in buildxConfig (BUILDX_CONFIG); absent before it */
  buildkit?: { builder: string; buildxConfig: string; socket: string }
}

/** Pod label read by the stack's kwok stages to simulate a failure instead of becoming Ready. */
export const SIM_LABEL = 'sim.kube-ship.dev/behavior'
export type SimBehavior = 'image-pull-backoff' | 'crashloop' | 'not-ready' | 'slow-pull' | 'crash-once' | 'probe-twice' | 'config-late' | 'oom-once'
/** Pod labels the stack's responder reads: answer with this HTTP status / after this delay. */
export const SIM_HTTP = 'sim.kube-ship.dev/http'
export const SIM_HTTP_DELAY = 'sim.kube-ship.dev/http-delay'

export const stackScripts = fileURLToPath(new URL('../../test/stack/', import.meta.url))
export const stateDir = (): string => process.env.KUBE_SHIP_STATE ?? '/tmp/kube-ship-stack'

let cached: StackEnv | undefined

/** The running stack's coordinates; the jest global setup has started it. */
export function stack(): StackEnv {
  if (cached) return cached
  const file = `${stateDir()}/env.json`
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new Error(`${file} is missing: the local stack is not up (run test/stack/up.sh)`)
  }
  cached = JSON.parse(text) as StackEnv
  return cached
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command without a shell; never rejects, so callers can assert on refusals. */
export function run(file: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { encoding: 'utf8', env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolve({ code, stdout, stderr: err && !stderr ? err.message : stderr })
      }
    )
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

export interface KubectlOptions {
  /** Defaults to the admin kubeconfig. */
  kubeconfig?: string
  namespace?: string
  /** Sent on stdin (for `apply -f -`). */
  input?: string
  /**
   * Default true: when another test has stopped the apiserver (fault.sh's hold marker exists),
   * a refused connection waits for it to come back and retries. A fault test observing its own
   * outage passes false.
   */
  waitOutFaults?: boolean
}

const faultHold = (): string => `${stateDir()}/run/kube-apiserver.held`
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** kubectl's result without throwing (exit code, stdout, stderr). */
export async function kubectlResult(args: string[], opts: KubectlOptions = {}): Promise<RunResult> {
  const base = ['--kubeconfig', opts.kubeconfig ?? stack().kubeconfig]
  if (opts.namespace) base.push('--namespace', opts.namespace)
  const deadline = Date.now() + 180_000
  for (;;) {
    const r = await run('kubectl', [...base, ...args], { input: opts.input })
    const outage = r.code !== 0 && /refused|currently unable to handle/.test(r.stderr) && existsSync(faultHold())
    if (!outage || opts.waitOutFaults === false || Date.now() > deadline) return r
    while (existsSync(faultHold()) && Date.now() < deadline) await sleep(250)
  }
}

/** kubectl's stdout; rejects with kubectl's own error line when it fails. */
export async function kubectl(args: string[], opts: KubectlOptions = {}): Promise<string> {
  const r = await kubectlResult(args, opts)
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr.trim()}`)
  return r.stdout
}

/** kubectl ... -o json, parsed. */
export async function kubectlJson<T = any>(args: string[], opts: KubectlOptions = {}): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'], opts)) as T
}

/**
 * Polls `probe` until it returns something other than undefined/false, and returns that. Fails
 * with `what` and the last value seen after `timeoutMs`; for waiting on state, not for timing.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined && v !== false) return v
      last = v
    } catch (err) {
      last = err instanceof Error ? err.message : err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what} (last: ${JSON.stringify(last)})`)
    await sleep(250)
  }
}

/**
 * Creates a namespace unique to this test (`<prefix>-<random>`) and waits until pods can be
 * created in it (the controller-manager has made its default ServiceAccount).
 */
export async function freshNamespace(prefix: string): Promise<string> {
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'e2e'
  const name = `${base}-${randomBytes(3).toString('hex')}`
  await kubectl(['create', 'namespace', name])
  await kubectl(['label', 'namespace', name, 'kube-ship.dev/e2e=true'])
  await waitFor(`ServiceAccount default in ${name}`, async () => (await kubectlResult(['-n', name, 'get', 'serviceaccount', 'default'])).code === 0, 60_000)
  return name
}

/**
 * freshNamespace for one describe block: call it at describe time; every namespace the returned
 * function makes is deleted after the block.
 */
export function suiteNamespaces(): (prefix: string) => Promise<string> {
  const made: string[] = []
  afterAll(async () => {
    for (const ns of made) await deleteNamespace(ns)
  })
  return async prefix => {
    const ns = await freshNamespace(prefix)
    made.push(ns)
    return ns
  }
}

/** Deletes a namespace made by freshNamespace without waiting for its contents to go. */
export async function deleteNamespace(name: string): Promise<void> {
  await kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found'])
}

async function fault(action: 'apiserver-stop' | 'apiserver-start'): Promise<void> {
  const r = await run('bash', [`${stackScripts}fault.sh`, action], { timeoutMs: 300_000 })
  if (r.code !== 0) throw new Error(`test/stack/fault.sh ${action} failed: ${r.stderr.trim()}`)
}

/** Stops kube-apiserver (etcd and the rest keep running). Always pair with startApiserver in a finally. */
export const stopApiserver = (): Promise<void> => fault('apiserver-stop')
/** Starts kube-apiserver again with the same flags and resolves once /readyz is ok. */
export const startApiserver = (): Promise<void> => fault('apiserver-start')
