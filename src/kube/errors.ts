// API failures as people read them: one line naming the verb, the resource and the namespace,
// the server's reason, and a hint for the causes we know (RBAC, schema, immutable fields).
import { DeployError } from '../errors.js'
import type { Origin } from '../manifests/types.js'

/** The Status object the API server answers errors with (fields we read). */
export interface ApiStatus {
  kind?: string
  message?: string
  reason?: string
  code?: number
  details?: { name?: string; group?: string; kind?: string; causes?: { reason?: string; message?: string; field?: string }[] }
}

/** A non-2xx answer. Carries the parsed Status, never request headers (they hold credentials). */
export class ApiError extends Error {
  readonly status: ApiStatus
  /** the server's Retry-After, when it sent one (429, 503) */
  retryAfterMs?: number
  constructor(
    readonly code: number,
    body: unknown,
    readonly method: string,
    readonly path: string
  ) {
    const status: ApiStatus = typeof body === 'object' && body ? (body as ApiStatus) : { message: typeof body === 'string' ? body.slice(0, 300) : undefined }
    super(`${method} ${path}: ${code} ${status.reason ?? ''} ${status.message ?? ''}`.trim())
    this.name = 'ApiError'
    this.status = status
  }
}

export interface FailureContext {
  /** what we tried: apply, get, delete, list, watch, patch */
  verb: string
  /** kind/namespace/name */
  resource: string
  /** plural.group, as RBAC rules name it */
  rbacResource?: string
  namespace?: string
  origin?: Origin
}

/** Turns any error from a request into the one DeployError shown for it. */
export function failure(err: unknown, ctx: FailureContext): DeployError {
  if (err instanceof DeployError) return withPlace(err, ctx)
  if (!(err instanceof ApiError)) return withPlace(new DeployError(String((err as Error)?.message ?? err)), ctx)
  const { message, hint } = describeStatus(err.code, err.status, ctx)
  // DeployError.line() shows file:line or else the resource; with a file, name the resource too.
  return new DeployError(ctx.origin ? `${ctx.resource}: ${message}` : message, { resource: ctx.resource, file: ctx.origin?.file, line: ctx.origin?.line, hint })
}

function withPlace(err: DeployError, ctx: FailureContext): DeployError {
  if (err.place.file || err.place.input) return err
  if (!ctx.origin) return err.place.resource ? err : new DeployError(err.message, { ...err.place, resource: ctx.resource })
  const text = err.message.startsWith(ctx.resource) ? err.message : `${ctx.resource}: ${err.message}`
  return new DeployError(text, { ...err.place, resource: ctx.resource, file: ctx.origin.file, line: ctx.origin.line })
}

/** Pure: the message and hint for a Status. */
export function describeStatus(code: number, status: ApiStatus, ctx: FailureContext): { message: string; hint?: string } {
  const causes = status.details?.causes ?? []
  if (code === 401) return { message: 'the API server rejected the credentials (401)', hint: 'the token or client certificate is expired or wrong' }
  if (code === 403) {
    const user = /User "([^"]+)"/.exec(status.message ?? '')?.[1]
    const where = ctx.namespace ? ` in namespace ${ctx.namespace}` : ' (cluster-scoped)'
    const what = ctx.rbacResource ?? status.details?.kind ?? 'this resource'
    return {
      message: `forbidden: ${user ?? 'the kubeconfig user'} cannot ${rbacVerb(ctx.verb)} ${what}${where}`,
      hint: `grant '${rbacVerb(ctx.verb)}' on '${what}' in the deployer Role`
    }
  }
  // SSA reports fields the schema does not know as a 500 "failed to create typed patch object".
  const typed = /failed to create typed patch object \([^)]*\): (.*)$/s.exec(status.message ?? '')
  if (typed) return { message: `invalid: ${typed[1]}` }
  if (code === 422 || status.reason === 'Invalid' || (code === 400 && /unknown field|strict decoding/i.test(status.message ?? ''))) {
    const parts = causes.length
      ? causes.map(c => (c.field ? `${c.field}: ${c.message ?? c.reason}` : (c.message ?? c.reason ?? '')))
      : [stripPrefix(status.message ?? 'rejected')]
    const immutable = parts.some(p => /immutable/i.test(p))
    return {
      message: `invalid: ${parts.join('; ')}`,
      hint: immutable
        ? 'an immutable field (e.g. a selector) changed; the object must be recreated: delete it first or give it a new name'
        : undefined
    }
  }
  if (code === 404) return { message: `not found${status.message ? `: ${stripPrefix(status.message)}` : ''}` }
  if (code === 409) return { message: `conflict: ${stripPrefix(status.message ?? 'the object changed meanwhile')}` }
  return { message: `${code} ${status.reason ?? 'error'}${status.message ? `: ${stripPrefix(status.message)}` : ''}` }
}

/** The RBAC verb behind an action word (SSA is a patch; a wait is list + watch). */
export function rbacVerb(verb: string): string {
  return verb === 'apply' ? 'patch' : verb === 'read' ? 'get' : verb
}

/** The server repeats the object in front of its message ('Deployment.apps "web" is invalid: ...'). */
function stripPrefix(message: string): string {
  return message.replace(/^[\w.]+ "[^"]*" is (invalid|forbidden): /, '')
}

/** The reason a request got no answer, without URLs' query strings or anything secret. */
export function networkCause(err: unknown): string {
  const e = err as { cause?: { code?: string; message?: string }; code?: string; message?: string }
  return e?.cause?.code ?? e?.code ?? e?.cause?.message ?? e?.message ?? String(err)
}
