// kube/: the Kubernetes object toolkit every stage shares, the lowest layer that talks to the
// API server (besides errors, retry, redact and state it imports only manifests/ helpers and
// report/model types; never deliver, strategies or main).
// client.ts the transport; objects.ts single-object get/list/patch/delete; apply.ts server-side
// apply with its journal; diff.ts the dry-run diff; rollback.ts undo from the journal; status/
// the rollout verdicts and the one concurrent wait; diagnose.ts and fastfail.ts why pods fail;
// hooks.ts chart hooks; lock.ts the deploy lock; capabilities.ts what a chart reads.
//
// This file is the one way this action talks to the API server: client-node's KubeConfig for credentials and
// its HTTP layer (RequestContext + IsomorphicFetchHttpLibrary) for transport, carrying plain JSON.
//
// Why not KubernetesObjectApi: it serialises built-in kinds through the typed models, which
// silently drops unknown fields (a `replicsa:` typo vanishes instead of failing) and returns class
// instances with Date objects, which breaks diffs. Plain JSON plus `fieldValidation=Strict`
// keeps the server the judge of what a manifest means.
import * as fs from 'node:fs'
import { promisify } from 'node:util'
import * as zlib from 'node:zlib'
import * as core from '@actions/core'
import { HttpMethod, IsomorphicFetchHttpLibrary, KubeConfig, RequestContext } from '@kubernetes/client-node'
import { DeployError } from '../errors.js'
import type { KubeObject } from '../manifests/types.js'
import { type Failure, parseRetryAfter, withRetry } from '../retry.js'
import { ApiError, networkCause } from './errors.js'
import { maskKubeConfig } from './credentials.js'

export interface KubeConfigSource {
  /** kubeconfig text (the `kubeconfig` input, already masked) */
  kubeconfig?: string
  /** `context-name` input */
  contextName?: string
}

/** Loads credentials from the input text, else $KUBECONFIG / ~/.kube/config; never echoes them. */
export function loadKubeConfig(source: KubeConfigSource, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig()
  const input = source.kubeconfig ? 'kubeconfig' : undefined
  try {
    if (source.kubeconfig) kc.loadFromString(source.kubeconfig)
    else {
      const file = env.KUBECONFIG?.split(':').find(f => f && fs.existsSync(f))
      if (env.KUBECONFIG && !file) throw new DeployError(`$KUBECONFIG names no existing file`, { input: 'kubeconfig' })
      if (file) kc.loadFromFile(file)
      else kc.loadFromDefault()
    }
  } catch (err) {
    if (err instanceof DeployError) throw err
    // js-yaml puts a snippet of the text after the first line; the snippet may hold a token.
    const reason = String((err as Error).message ?? err).split('\n')[0]
    throw new DeployError(`the kubeconfig does not parse: ${reason}`, { input: input ?? 'kubeconfig' })
  }
  maskKubeConfig(kc)
  if (!kc.getContexts().length && !kc.getCurrentCluster())
    throw new DeployError('the kubeconfig has no context; pass one in the kubeconfig input or set $KUBECONFIG', { input: 'kubeconfig' })
  if (source.contextName) {
    if (!kc.getContextObject(source.contextName)) {
      const known = kc.getContexts().map(c => c.name).join(', ') || 'none'
      throw new DeployError(`context '${source.contextName}' is not in the kubeconfig (it has: ${known})`, { input: 'context-name' })
    }
    kc.setCurrentContext(source.contextName)
  }
  const cluster = kc.getCurrentCluster()
  if (!cluster) throw new DeployError(`context '${kc.getCurrentContext()}' names no cluster in the kubeconfig`, { input: 'kubeconfig' })
  return kc
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>
  body?: unknown
  contentType?: string
  /** Accept header; JSON unless asked (logs are text) */
  accept?: string
  signal?: AbortSignal
  /** false: one attempt only (the caller has its own loop); retried by the one policy otherwise */
  retry?: boolean
  /** how long one attempt may wait for its answer before it counts as no answer (default 30 s) */
  attemptMs?: number
}

/** A connection that stays silent is no answer: retried like a reset instead of hanging the run. */
const ATTEMPT_MS = 30_000

/** How long the server keeps one watch open before ending it (client-go's minimum watch timeout). */
const WATCH_SECONDS = 300

export interface ApiResource {
  group: string
  version: string
  kind: string
  plural: string
  namespaced: boolean
}

export interface ObjectRef {
  apiVersion: string
  kind: string
  namespace?: string
  name?: string
  /** a whole object is not a ref: use refOf (its name lives in metadata) */
  metadata?: never
}

/** The ref of an object: apiVersion, kind, namespace and name. */
export function refOf(o: KubeObject): ObjectRef {
  return { apiVersion: o.apiVersion, kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name }
}

const http = new IsomorphicFetchHttpLibrary()
const gunzip = promisify(zlib.gunzip)

/** No answer at all (refused, reset, DNS); waits retry these until their deadline. */
export class UnreachableError extends DeployError {
  /** the connection was never made, so the server cannot have acted on the request */
  notSent = false
}

/** Connection errors that mean nothing reached the server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'])

/** Pure: what a failed request tells the retry policy (undefined: not a request failure). */
export function classify(err: unknown): Failure | undefined {
  if (err instanceof UnreachableError) return { network: true, notSent: err.notSent }
  if (!(err instanceof ApiError)) return undefined
  // SSA answers a field the schema does not know with a 500; retrying cannot fix the manifest.
  const permanent = /failed to create typed patch object/.test(err.status.message ?? '')
  return { status: err.code, retryAfterMs: err.retryAfterMs, permanent }
}

/** Worth retrying inside a deadline: no answer, throttling, or a server-side failure. */
export function isTransient(err: unknown): boolean {
  const f = classify(err)
  return !!f && !f.permanent && (f.network === true || f.status === 429 || (f.status !== undefined && f.status >= 500))
}

/** One per KubeConfig (see `clientFor`): transport, discovery cache, the context's default namespace. */
export class Kube {
  readonly server: string
  private dispatcher: ReturnType<RequestContext['getDispatcher']>
  private readonly groups = new Map<string, Promise<Map<string, ApiResource> | undefined>>()
  /** the credentials' headers, when they cannot change during the run */
  private fixedAuth?: Record<string, string>

  constructor(readonly kc: KubeConfig) {
    this.server = kc.getCurrentCluster()!.server.replace(/\/+$/, '')
  }

  /** The namespace the context names, else 'default' (kubectl's rule). */
  get contextNamespace(): string {
    return this.kc.getContextObject(this.kc.getCurrentContext())?.namespace || 'default'
  }

  /** JSON request; non-2xx throws ApiError, no answer throws a DeployError naming the server. */
  async request<T = KubeObject>(method: keyof typeof HttpMethod, path: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.send<T>(method, path, opts)).body
  }

  /**
   * Like request, with the HTTP status (SSA answers 201 when it created the object). Every
   * request goes through the one retry policy unless opts.retry is false; a POST is repeated
   * only when the server cannot have acted on it.
   */
  async send<T = KubeObject>(method: keyof typeof HttpMethod, path: string, opts: RequestOptions = {}): Promise<{ code: number; body: T }> {
    if (opts.retry === false) return this.sendOnce<T>(method, path, opts)
    return withRetry(() => this.sendOnce<T>(method, path, opts), {
      method,
      signal: opts.signal,
      classify,
      onRetry: (err, attempt) => {
        if (attempt === 1) core.debug(`${method} ${path}: ${(err as Error).message.split('\n')[0]}; retrying`)
      }
    })
  }

  /** A request on the run's one connection pool and TLS setup, credentials applied. */
  private async context(method: keyof typeof HttpMethod, path: string, opts: RequestOptions): Promise<RequestContext> {
    const url = new URL(this.server + path)
    for (const [name, value] of Object.entries(opts.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value))
    const ctx = new RequestContext(url.toString(), HttpMethod[method])
    if (this.fixedAuth && this.dispatcher) {
      for (const [name, value] of Object.entries(this.fixedAuth)) ctx.setHeaderParam(name, value)
      ctx.setDispatcher(this.dispatcher)
    } else {
      await this.kc.applySecurityAuthentication(ctx)
      // client-node 2.0.1 builds a new undici Agent for every request, so every request would pay
      // a TCP and TLS handshake; keep the first one (same cluster, same credentials) for the run.
      const dispatcher = ctx.getDispatcher()
      if (dispatcher) ctx.setDispatcher((this.dispatcher ??= dispatcher))
      // A token, a client certificate or a password cannot change during the run: their headers
      // are kept, instead of decoding the credentials and building an Agent per request. Exec
      // plugins and auth providers (which refresh tokens) are asked every time.
      const user = this.kc.getCurrentUser()
      if (dispatcher && !user?.exec && !user?.authProvider) this.fixedAuth = { ...ctx.getHeaders() }
    }
    ctx.setHeaderParam('Accept', opts.accept ?? 'application/json')
    return ctx
  }

  /**
   * One watch request (`watch=true`) on the run's connection pool: each event line is parsed and
   * handed on as it arrives, none kept; a handler answering 'stop' ends it. Resolves when the
   * stream ends (err set when it broke), the signal aborts, or nothing arrived for `quietMs`
   * (err is then a TimeoutError: resume, nothing is lost). A refusal is an ApiError.
   * As client-go's reflectors do, the server is asked to end the watch after WATCH_SECONDS, so
   * a quiet watch costs one request per 5 minutes, not one per 30 s; the client's own timer is
   * only the safety net for a connection that died without a word.
   */
  async watch(
    path: string,
    query: RequestOptions['query'],
    signal: AbortSignal,
    onEvent: (type: string, obj: KubeObject) => 'stop' | undefined,
    quietMs = (WATCH_SECONDS + 30) * 1000
  ): Promise<{ err?: unknown; stopped?: boolean }> {
    const controller = new AbortController()
    let quiet = false
    let timer: NodeJS.Timeout | undefined
    const arm = (): void => {
      clearTimeout(timer)
      timer = setTimeout(() => ((quiet = true), controller.abort()), quietMs)
    }
    const onAbort = (): void => controller.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      const ctx = await this.context('GET', path, { query: { timeoutSeconds: WATCH_SECONDS, ...query, watch: true } })
      ctx.setSignal(controller.signal)
      arm()
      const res = await http.send(ctx).toPromise()
      if (res.httpStatusCode !== 200) {
        const text = await res.body.text().catch(() => '')
        return { err: new ApiError(res.httpStatusCode, text ? safeJson(text) : undefined, 'GET', path) }
      }
      // Lines are cut from the bytes and only a whole line becomes a string: a partial line waits
      // as bytes outside the JS heap, not as a string holding its whole chunk alive (chunks kept
      // across collections grew V8's young generation to 64 MiB at 200 Deployments).
      const reader = (res.body.stream() as ReadableStream<Uint8Array>).getReader()
      const decoder = new TextDecoder()
      let rest: Buffer | undefined
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return {}
        arm()
        let bytes = rest ? Buffer.concat([rest, value]) : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
        rest = undefined
        for (let end; (end = bytes.indexOf(10)) >= 0; bytes = bytes.subarray(end + 1)) {
          if (end === 0) continue
          let event: { type: string; object: KubeObject }
          try {
            event = JSON.parse(decoder.decode(bytes.subarray(0, end)))
          } catch {
            continue
          }
          if (onEvent(event.type, event.object) === 'stop') return { stopped: true }
        }
        // a copy: a view would keep the whole chunk
        if (bytes.length) rest = Buffer.from(bytes)
      }
    } catch (err) {
      if (signal.aborted) return {}
      if (quiet) return { err: new DOMException(`no watch event for ${quietMs / 1000}s`, 'TimeoutError') }
      return { err: err instanceof ApiError ? err : unreachable(this.server, err) }
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      controller.abort()
    }
  }

  private async sendOnce<T>(method: keyof typeof HttpMethod, path: string, opts: RequestOptions): Promise<{ code: number; body: T }> {
    const ctx = await this.context(method, path, opts)
    const url = new URL(ctx.getUrl())
    let payload: string | undefined
    if (opts.body !== undefined) {
      ctx.setHeaderParam('Content-Type', opts.contentType ?? 'application/json')
      ctx.setBody((payload = JSON.stringify(opts.body)))
    }
    const attempt = AbortSignal.timeout(opts.attemptMs ?? ATTEMPT_MS)
    const signal = opts.signal ? AbortSignal.any([opts.signal, attempt]) : attempt
    ctx.setSignal(signal)
    let code: number
    let text: string
    let retryAfter: string | undefined
    try {
      const dispatcher = ctx.getDispatcher()
      if (dispatcher) {
        // The dispatcher's own request API, not fetch over it: fetch's WHATWG streams and
        // body iteration cost more CPU than the rest of a request (bench/requests.mjs).
        // gzip as fetch asked for it: the API server compresses only large answers (big LISTs).
        const headers = { ...ctx.getHeaders(), 'Accept-Encoding': 'gzip' }
        const res = await dispatcher.request({ origin: url.origin, path: url.pathname + url.search, method, headers, body: payload, signal })
        code = res.statusCode
        const after = res.headers['retry-after']
        retryAfter = Array.isArray(after) ? after[0] : after
        text = res.headers['content-encoding'] === 'gzip' ? (await gunzip(Buffer.from(await res.body.arrayBuffer()))).toString() : await res.body.text()
      } else {
        const res = await http.send(ctx).toPromise()
        code = res.httpStatusCode
        retryAfter = res.headers['retry-after']
        text = await res.body.text()
      }
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err
      if (attempt.aborted) throw new UnreachableError(`the API server ${this.server} did not answer ${method} ${url.pathname} within ${(opts.attemptMs ?? ATTEMPT_MS) / 1000}s`)
      throw unreachable(this.server, err)
    }
    const body = text ? safeJson(text) : undefined
    if (code < 200 || code > 299) {
      const e = new ApiError(code, body, method, url.pathname)
      e.retryAfterMs = parseRetryAfter(retryAfter)
      throw e
    }
    return { code, body: body as T }
  }

  /** Where a kind is served: plural, scope. Cached per group/version for the run. */
  async resource(apiVersion: string, kind: string): Promise<ApiResource> {
    const found = (await this.discover(apiVersion))?.get(kind)
    if (found) return found
    // A CRD applied earlier in this run may have added the kind since the cache was filled.
    this.groups.delete(apiVersion)
    const again = (await this.discover(apiVersion))?.get(kind)
    if (again) return again
    throw new DeployError(`kind ${kind} (${apiVersion}) is not served by the cluster`, {
      hint: apiVersion.includes('.') ? 'is its CustomResourceDefinition installed?' : 'check apiVersion and kind'
    })
  }

  private discover(apiVersion: string): Promise<Map<string, ApiResource> | undefined> {
    let entry = this.groups.get(apiVersion)
    if (!entry) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
      const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion]
      entry = this.request<{ resources: { name: string; kind: string; namespaced: boolean }[] }>('GET', path)
        .then(list => {
          const kinds = new Map<string, ApiResource>()
          for (const r of list.resources ?? [])
            if (!r.name.includes('/')) kinds.set(r.kind, { group, version, kind: r.kind, plural: r.name, namespaced: r.namespaced })
          return kinds
        })
        .catch(err => {
          this.groups.delete(apiVersion)
          if (err instanceof ApiError && err.code === 404) return undefined
          throw err
        })
      this.groups.set(apiVersion, entry)
    }
    return entry
  }

  /** URL path of an object (name given) or of its collection. */
  async path(ref: ObjectRef, subresource?: string): Promise<string> {
    const r = await this.resource(ref.apiVersion, ref.kind)
    const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`
    const ns = r.namespaced && ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : ''
    const name = ref.name ? `/${encodeURIComponent(ref.name)}` : ''
    return `${base}${ns}/${r.plural}${name}${subresource ? `/${subresource}` : ''}`
  }

  /** GET that answers undefined for 404. */
  async get<T = KubeObject>(ref: ObjectRef, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', await this.path(ref), { signal })
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined
      throw err
    }
  }
}

/**
 * Pure: the one line for a request that got no answer. Only a connection that could not be made
 * points at the kubeconfig address; a reset or a closed socket is the network or the server.
 */
export function unreachable(server: string, err: unknown): UnreachableError {
  const cause = networkCause(err)
  const notSent = NOT_SENT.has(cause)
  const e = notSent
    ? new UnreachableError(`the API server ${server} did not answer: ${cause}`, { hint: 'check the kubeconfig server address and that the cluster is reachable from the runner' })
    : new UnreachableError(`the connection to the API server ${server} broke: ${cause}`)
  e.notSent = notSent
  return e
}

const clients = new WeakMap<KubeConfig, Kube>()

/** The Kube for a KubeConfig, made once so discovery is fetched once per run. */
export function clientFor(config: KubeConfig): Kube {
  let api = clients.get(config)
  if (!api) clients.set(config, (api = new Kube(config)))
  return api
}

/** Checks the server answers and the credentials are accepted, with one clear line if not. */
export async function checkConnection(config: KubeConfig, signal?: AbortSignal): Promise<string> {
  const api = clientFor(config)
  const timeout = AbortSignal.timeout(15_000)
  // Retried like every request; when the 15 s run out, the last failure is the better line
  // (a refused connection names the address to check, a bare timeout names nothing).
  let last: unknown
  const all = signal ? AbortSignal.any([signal, timeout]) : timeout
  try {
    const v = await withRetry(() => api.request<{ gitVersion?: string }>('GET', '/version', { signal: all, retry: false }), {
      method: 'GET',
      signal: all,
      classify,
      onRetry: err => void (last = err)
    })
    return v.gitVersion ?? 'unknown'
  } catch (err) {
    if (timeout.aborted) throw last instanceof DeployError ? last : new DeployError(`the API server ${api.server} did not answer within 15s`, { input: 'kubeconfig' })
    if (err instanceof ApiError && err.code === 401)
      throw new DeployError(`the API server ${api.server} rejected the credentials of context '${config.getCurrentContext()}' (401)`, {
        input: 'kubeconfig',
        hint: 'the token or client certificate is expired or wrong'
      })
    throw err
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** matchLabels as a label selector query (key=value,...). */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, v]) => `${key}=${v}`)
    .join(',')
}
