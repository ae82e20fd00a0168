// The one allowed stand-in: GitHub's REST API as a local HTTP server on 127.0.0.1. Handlers keep
// state (comments, pulls, deployments, refs); every request is routed and validated against
// GitHub's own OpenAPI description (@octokit/openapi, api.github.com.json) by openapi-backend, so
// a wrong path, verb, parameter or body is answered 4xx AND recorded in `violations` — tests
// assert that list is empty.
//
// Stricter than GitHub on purpose: request bodies may not carry properties the description does
// not name (GitHub ignores them silently; here they are a typo to catch).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import OpenAPIBackendModule from 'openapi-backend'
import type { Context, Document } from 'openapi-backend'

const { OpenAPIBackend } = OpenAPIBackendModule as unknown as typeof import('openapi-backend')

export interface StandInOptions {
  /** login of the token's user; GITHUB_TOKEN acts as github-actions[bot] */
  login: string
  /** GET /user answers 403 as it does for GITHUB_TOKEN (an installation token) */
  userForbidden: boolean
  /** every write answers 403, like GITHUB_TOKEN on a pull_request from a fork */
  readOnly: boolean
}

export interface Violation {
  method: string
  path: string
  status: number
  problem: string
}

export interface RecordedRequest {
  method: string
  path: string
  operationId?: string
  body?: unknown
  authorized: boolean
}

export interface User {
  login: string
  id: number
  type: 'User' | 'Bot'
}

export interface Comment {
  id: number
  owner: string
  repo: string
  issue_number: number
  body: string
  user: User
  created_at: string
  updated_at: string
}

export interface Pull {
  number: number
  owner: string
  repo: string
  title: string
  body: string | null
  state: 'open' | 'closed'
  head: { ref: string; sha: string }
  base: { ref: string; sha: string }
  merged_at: string | null
  merge_commit_sha: string | null
  draft: boolean
  maintainer_can_modify: boolean
}

export interface DeploymentStatus {
  id: number
  state: string
  environment: string
  environment_url: string
  log_url: string
  description: string
  created_at: string
}

export interface Deployment {
  id: number
  owner: string
  repo: string
  ref: string
  sha: string
  task: string
  environment: string
  description: string | null
  transient_environment: boolean
  production_environment: boolean
  payload: unknown
  auto_merge?: boolean
  required_contexts?: string[]
  created_at: string
  statuses: DeploymentStatus[]
}

export interface StandInState {
  comments: Comment[]
  pulls: Pull[]
  deployments: Deployment[]
  /** owner/repo → ref name without refs/ (e.g. heads/main) → sha */
  refs: Map<string, Map<string, string>>
}

export interface GitHubStandIn {
  /** base URL for Octokit, e.g. http://127.0.0.1:41234 */
  url: string
  options: StandInOptions
  state: StandInState
  violations: Violation[]
  requests: RecordedRequest[]
  /** seeds a pull request (merged when merge_commit_sha is given) and returns it */
  addPull(owner: string, repo: string, pull: Partial<Pull> & { number: number; head: { ref: string; sha: string } }): Pull
  /** seeds a comment by any user */
  addComment(owner: string, repo: string, issue: number, body: string, login: string): Comment
  /** comments on one issue, oldest first */
  commentsOn(owner: string, repo: string, issue: number): Comment[]
  stop(): Promise<void>
}

const BOT: User = { login: 'github-actions[bot]', id: 41898282, type: 'Bot' }

let definition: Document | undefined

/** GitHub's description, parsed once per process and tightened (see the header comment). */
function githubDescription(): Document {
  if (definition) return definition
  const require = createRequire(import.meta.url)
  const file = require.resolve('@octokit/openapi/generated/api.github.com.json')
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Document
  for (const ops of Object.values(doc.paths ?? {}))
    for (const op of Object.values(ops ?? {})) {
      const schema = (op as { requestBody?: { content?: Record<string, { schema?: Record<string, unknown> }> } })
        ?.requestBody?.content?.['application/json']?.schema
      if (schema && schema.type === 'object' && schema.properties && schema.additionalProperties === undefined)
        schema.additionalProperties = false
    }
  definition = doc
  return doc
}

export async function startGitHub(options: Partial<StandInOptions> = {}): Promise<GitHubStandIn> {
  const opts: StandInOptions = { login: BOT.login, userForbidden: true, readOnly: false, ...options }
  const state: StandInState = { comments: [], pulls: [], deployments: [], refs: new Map() }
  const violations: Violation[] = []
  const requests: RecordedRequest[] = []
  let nextId = 1000
  const now = (): string => new Date().toISOString()
  const me = (): User => (opts.login === BOT.login ? BOT : { login: opts.login, id: 1, type: 'User' })

  const api = new OpenAPIBackend({
    definition: githubDescription(),
    quick: true,
    strict: false,
    coerceTypes: true,
    validate: true
  })

  type Reply = { status: number; body?: unknown; headers?: Record<string, string> }
  type Handler = (c: Context, base: string) => Reply

  const fail = (status: number, message: string): Reply => ({
    status,
    body: { message, documentation_url: 'https://docs.github.com/rest', status: String(status) }
  })
  const repoOf = (c: Context): [string, string] => [String(c.request.params.owner), String(c.request.params.repo)]
  const bodyOf = <T>(c: Context): T => c.request.requestBody as T

  const commentJson = (x: Comment, base: string): unknown => ({
    id: x.id,
    node_id: `IC_${x.id}`,
    url: `${base}/repos/${x.owner}/${x.repo}/issues/comments/${x.id}`,
    html_url: `https://github.com/${x.owner}/${x.repo}/pull/${x.issue_number}#issuecomment-${x.id}`,
    issue_url: `${base}/repos/${x.owner}/${x.repo}/issues/${x.issue_number}`,
    body: x.body,
    user: x.user,
    author_association: 'NONE',
    created_at: x.created_at,
    updated_at: x.updated_at
  })
  const pullJson = (p: Pull, base: string): unknown => ({
    id: p.number + 500_000,
    number: p.number,
    state: p.state,
    title: p.title,
    body: p.body,
    draft: p.draft,
    url: `${base}/repos/${p.owner}/${p.repo}/pulls/${p.number}`,
    html_url: `https://github.com/${p.owner}/${p.repo}/pull/${p.number}`,
    head: { ...p.head, label: `${p.owner}:${p.head.ref}`, repo: { name: p.repo, full_name: `${p.owner}/${p.repo}` } },
    base: { ...p.base, label: `${p.owner}:${p.base.ref}`, repo: { name: p.repo, full_name: `${p.owner}/${p.repo}` } },
    merged: p.merged_at !== null,
    merged_at: p.merged_at,
    merge_commit_sha: p.merge_commit_sha,
    maintainer_can_modify: p.maintainer_can_modify,
    user: me()
  })
  const deploymentJson = (d: Deployment, base: string): unknown => {
    const { statuses: _statuses, owner, repo, auto_merge: _a, required_contexts: _r, ...rest } = d
    return { ...rest, url: `${base}/repos/${owner}/${repo}/deployments/${d.id}`, creator: me() }
  }
  const statusJson = (d: Deployment, s: DeploymentStatus, base: string): unknown => ({
    ...s,
    target_url: s.log_url,
    deployment_url: `${base}/repos/${d.owner}/${d.repo}/deployments/${d.id}`,
    creator: me()
  })

  /** page/per_page like GitHub, with a Link header Octokit's paginate follows */
  const page = <T>(c: Context, items: T[], base: string, path: string): Reply => {
    const perPage = Math.min(100, Number(c.request.query.per_page ?? 30))
    const n = Number(c.request.query.page ?? 1)
    const slice = items.slice((n - 1) * perPage, n * perPage)
    const headers: Record<string, string> = {}
    const query = new URLSearchParams(c.request.query as Record<string, string>)
    if (n * perPage < items.length) {
      query.set('page', String(n + 1))
      query.set('per_page', String(perPage))
      headers.link = `<${base}${path}?${query}>; rel="next"`
    }
    return { status: 200, body: slice, headers }
  }

  const findPull = (c: Context): Pull | undefined => {
    const [owner, repo] = repoOf(c)
    return state.pulls.find(p => p.owner === owner && p.repo === repo && p.number === Number(c.request.params.pull_number))
  }
  const findDeployment = (c: Context): Deployment | undefined => {
    const [owner, repo] = repoOf(c)
    return state.deployments.find(d => d.owner === owner && d.repo === repo && d.id === Number(c.request.params.deployment_id))
  }
  const refsOf = (c: Context): Map<string, string> => {
    const key = repoOf(c).join('/')
    if (!state.refs.has(key)) state.refs.set(key, new Map())
    return state.refs.get(key) as Map<string, string>
  }

  const handlers: Record<string, Handler> = {
    'users/get-authenticated': () =>
      opts.userForbidden ? fail(403, 'Resource not accessible by integration') : { status: 200, body: me() },

    'issues/list-comments': (c, base) => {
      const [owner, repo] = repoOf(c)
      const issue = Number(c.request.params.issue_number)
      const list = state.comments.filter(x => x.owner === owner && x.repo === repo && x.issue_number === issue)
      return page(c, list.map(x => commentJson(x, base)), base, c.request.path)
    },
    'issues/get-comment': (c, base) => {
      const x = state.comments.find(y => y.id === Number(c.request.params.comment_id))
      return x ? { status: 200, body: commentJson(x, base) } : fail(404, 'Not Found')
    },
    'issues/create-comment': (c, base) => {
      const [owner, repo] = repoOf(c)
      const { body } = bodyOf<{ body: string }>(c)
      if (body.length > 65_536) return fail(422, 'Body is too long (maximum is 65536 characters)')
      const issue = Number(c.request.params.issue_number)
      if (!state.pulls.some(p => p.owner === owner && p.repo === repo && p.number === issue)) return fail(404, 'Not Found')
      const x: Comment = { id: nextId++, owner, repo, issue_number: issue, body, user: me(), created_at: now(), updated_at: now() }
      state.comments.push(x)
      return { status: 201, body: commentJson(x, base) }
    },
    'issues/update-comment': (c, base) => {
      const x = state.comments.find(y => y.id === Number(c.request.params.comment_id))
      if (!x) return fail(404, 'Not Found')
      const { body } = bodyOf<{ body: string }>(c)
      if (body.length > 65_536) return fail(422, 'Body is too long (maximum is 65536 characters)')
      // GitHub lets a token edit only its own comments (without admin rights)
      if (x.user.login !== opts.login) return fail(403, 'Resource not accessible by integration')
      Object.assign(x, { body, updated_at: now() })
      return { status: 200, body: commentJson(x, base) }
    },
    'issues/delete-comment': c => {
      const i = state.comments.findIndex(y => y.id === Number(c.request.params.comment_id))
      if (i < 0) return fail(404, 'Not Found')
      state.comments.splice(i, 1)
      return { status: 204 }
    },

    'pulls/list': (c, base) => {
      const [owner, repo] = repoOf(c)
      const q = c.request.query as Record<string, string | undefined>
      const wanted = q.state ?? 'open'
      const list = state.pulls.filter(
        p =>
          p.owner === owner &&
          p.repo === repo &&
          (wanted === 'all' || p.state === wanted) &&
          (!q.head || `${owner}:${p.head.ref}` === q.head || p.head.ref === q.head) &&
          (!q.base || p.base.ref === q.base)
      )
      return page(c, list.map(p => pullJson(p, base)), base, c.request.path)
    },
    'pulls/get': (c, base) => {
      const p = findPull(c)
      return p ? { status: 200, body: pullJson(p, base) } : fail(404, 'Not Found')
    },
    'pulls/create': (c, base) => {
      const [owner, repo] = repoOf(c)
      const b = bodyOf<{ title?: string; head: string; base: string; body?: string; draft?: boolean; maintainer_can_modify?: boolean }>(c)
      const headRef = b.head.includes(':') ? b.head.split(':')[1] : b.head
      if (state.pulls.some(p => p.owner === owner && p.repo === repo && p.state === 'open' && p.head.ref === headRef && p.base.ref === b.base))
        return fail(422, `A pull request already exists for ${owner}:${headRef}.`)
      const refs = refsOf(c)
      const number = Math.max(0, ...state.pulls.filter(p => p.owner === owner && p.repo === repo).map(p => p.number)) + 1
      const p: Pull = {
        number,
        owner,
        repo,
        title: b.title ?? headRef,
        body: b.body ?? null,
        state: 'open',
        head: { ref: headRef, sha: refs.get(`heads/${headRef}`) ?? '' },
        base: { ref: b.base, sha: refs.get(`heads/${b.base}`) ?? '' },
        merged_at: null,
        merge_commit_sha: null,
        draft: b.draft ?? false,
        maintainer_can_modify: b.maintainer_can_modify ?? false
      }
      state.pulls.push(p)
      return { status: 201, body: pullJson(p, base) }
    },
    'pulls/update': (c, base) => {
      const p = findPull(c)
      if (!p) return fail(404, 'Not Found')
      const b = bodyOf<{ title?: string; body?: string; state?: 'open' | 'closed'; base?: string }>(c)
      if (b.title !== undefined) p.title = b.title
      if (b.body !== undefined) p.body = b.body
      if (b.state !== undefined) p.state = b.state
      if (b.base !== undefined) p.base.ref = b.base
      return { status: 200, body: pullJson(p, base) }
    },
    'repos/list-pull-requests-associated-with-commit': (c, base) => {
      const [owner, repo] = repoOf(c)
      const sha = String(c.request.params.commit_sha)
      const list = state.pulls.filter(p => p.owner === owner && p.repo === repo && (p.head.sha === sha || p.merge_commit_sha === sha))
      return page(c, list.map(p => pullJson(p, base)), base, c.request.path)
    },

    'repos/create-deployment': (c, base) => {
      const [owner, repo] = repoOf(c)
      const b = bodyOf<Partial<Deployment> & { ref: string }>(c)
      if (b.description && b.description.length > 140) return fail(422, 'description is too long (maximum is 140 characters)')
      const d: Deployment = {
        id: nextId++,
        owner,
        repo,
        ref: b.ref,
        sha: /^[0-9a-f]{40}$/.test(b.ref) ? b.ref : (refsOf(c).get(`heads/${b.ref}`) ?? '0'.repeat(40)),
        task: b.task ?? 'deploy',
        environment: b.environment ?? 'production',
        description: b.description ?? '',
        transient_environment: b.transient_environment ?? false,
        production_environment: b.production_environment ?? (b.environment ?? 'production') === 'production',
        payload: b.payload ?? {},
        auto_merge: b.auto_merge,
        required_contexts: b.required_contexts,
        created_at: now(),
        statuses: []
      }
      state.deployments.push(d)
      return { status: 201, body: deploymentJson(d, base) }
    },
    'repos/list-deployments': (c, base) => {
      const [owner, repo] = repoOf(c)
      const q = c.request.query as Record<string, string | undefined>
      const list = state.deployments
        .filter(d => d.owner === owner && d.repo === repo)
        .filter(d => (!q.environment || d.environment === q.environment) && (!q.sha || d.sha === q.sha) && (!q.ref || d.ref === q.ref))
        .reverse() // newest first, like GitHub
      return page(c, list.map(d => deploymentJson(d, base)), base, c.request.path)
    },
    'repos/get-deployment': (c, base) => {
      const d = findDeployment(c)
      return d ? { status: 200, body: deploymentJson(d, base) } : fail(404, 'Not Found')
    },
    'repos/create-deployment-status': (c, base) => {
      const d = findDeployment(c)
      if (!d) return fail(404, 'Not Found')
      const b = bodyOf<{ state: string; log_url?: string; target_url?: string; description?: string; environment?: string; environment_url?: string; auto_inactive?: boolean }>(c)
      if (b.description && b.description.length > 140) return fail(422, 'description is too long (maximum is 140 characters)')
      const s: DeploymentStatus = {
        id: nextId++,
        state: b.state,
        environment: b.environment ?? d.environment,
        environment_url: b.environment_url ?? '',
        log_url: b.log_url ?? b.target_url ?? '',
        description: b.description ?? '',
        created_at: now()
      }
      d.statuses.push(s)
      // auto_inactive (default true): a success makes earlier non-transient deployments of the
      // environment inactive, as GitHub does
      if (b.state === 'success' && b.auto_inactive !== false)
        for (const other of state.deployments)
          if (other !== d && other.owner === d.owner && other.repo === d.repo && other.environment === d.environment && !other.transient_environment) {
            const last = other.statuses[other.statuses.length - 1]
            if (last && last.state !== 'inactive') other.statuses.push({ ...last, id: nextId++, state: 'inactive', created_at: now() })
          }
      return { status: 201, body: statusJson(d, s, base) }
    },
    'repos/list-deployment-statuses': (c, base) => {
      const d = findDeployment(c)
      if (!d) return fail(404, 'Not Found')
      return page(c, [...d.statuses].reverse().map(s => statusJson(d, s, base)), base, c.request.path)
    },
    'repos/delete-deployment': c => {
      const d = findDeployment(c)
      if (!d) return fail(404, 'Not Found')
      state.deployments.splice(state.deployments.indexOf(d), 1)
      return { status: 204 }
    },

    'git/get-ref': c => {
      const ref = String(c.request.params.ref)
      const sha = refsOf(c).get(ref)
      return sha ? { status: 200, body: { ref: `refs/${ref}`, object: { sha, type: 'commit' } } } : fail(404, 'Not Found')
    },
    'git/create-ref': c => {
      const b = bodyOf<{ ref: string; sha: string }>(c)
      const name = b.ref.replace(/^refs\//, '')
      if (!b.ref.startsWith('refs/')) return fail(422, 'Reference name must start with refs/')
      if (refsOf(c).has(name)) return fail(422, 'Reference already exists')
      refsOf(c).set(name, b.sha)
      return { status: 201, body: { ref: b.ref, object: { sha: b.sha, type: 'commit' } } }
    },
    'git/update-ref': c => {
      const ref = String(c.request.params.ref)
      if (!refsOf(c).has(ref)) return fail(422, 'Reference does not exist')
      const b = bodyOf<{ sha: string }>(c)
      refsOf(c).set(ref, b.sha)
      return { status: 200, body: { ref: `refs/${ref}`, object: { sha: b.sha, type: 'commit' } } }
    }
  }

  type Outcome = Reply & { violation?: string; operationId?: string }
  api.register({
    notFound: () => ({ ...fail(404, 'Not Found'), violation: 'no such path in the GitHub REST API' }),
    methodNotAllowed: () => ({ ...fail(404, 'Not Found'), violation: 'path exists but not with this method' }),
    validationFail: (c: Context) => ({
      ...fail(422, 'Validation Failed'),
      operationId: c.operation?.operationId,
      violation: `${c.operation?.operationId}: ${(c.validation.errors ?? []).map(e => `${e.instancePath || '(request)'} ${e.message}`).join('; ')}`
    }),
    notImplemented: (c: Context) => ({
      ...fail(501, 'Not implemented by the stand-in'),
      operationId: c.operation?.operationId,
      violation: `${c.operation?.operationId} is valid GitHub API but the stand-in does not implement it`
    })
  })
  await api.init()

  const server: Server = createServer((req, res) => void serve(req, res))
  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const method = (req.method ?? 'GET').toUpperCase()
    const authorized = /^(token|bearer) \S+/i.test(String(req.headers.authorization ?? ''))
    const record: RecordedRequest = { method, path: url.pathname, authorized }
    requests.push(record)
    const base = `http://${req.headers.host}`
    let out: Outcome
    try {
      const body = raw ? JSON.parse(raw) : undefined
      record.body = body
      if (!authorized) {
        out = { ...fail(401, 'Requires authentication'), violation: 'request without a token' }
      } else {
        out = (await api.handleRequest(
          { method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers as Record<string, string>, body },
          base,
          record
        )) as Outcome
      }
    } catch (err) {
      out = { ...fail(400, 'Problems parsing JSON'), violation: `unreadable request: ${(err as Error).message}` }
    }
    if (out.violation) violations.push({ method, path: url.pathname, status: out.status, problem: out.violation })
    res.writeHead(out.status, { 'content-type': 'application/json; charset=utf-8', ...out.headers })
    res.end(out.body === undefined ? '' : JSON.stringify(out.body))
  }

  // Implemented operations; a read-only token fails every write, as GitHub does.
  api.register(
    Object.fromEntries(
      Object.entries(handlers).map(([id, handle]) => [
        id,
        (c: Context, base: string, record: RecordedRequest): Outcome => {
          record.operationId = id
          if (opts.readOnly && record.method !== 'GET') return fail(403, 'Resource not accessible by integration')
          return handle(c, base)
        }
      ])
    )
  )

  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url,
    options: opts,
    state,
    violations,
    requests,
    addPull(owner, repo, p) {
      const pull: Pull = {
        owner,
        repo,
        title: `PR ${p.number}`,
        body: null,
        state: p.merge_commit_sha ? 'closed' : 'open',
        base: { ref: 'main', sha: '1'.repeat(40) },
        merged_at: p.merge_commit_sha ? now() : null,
        merge_commit_sha: null,
        draft: false,
        maintainer_can_modify: false,
        ...p
      }
      state.pulls.push(pull)
      return pull
    },
    addComment(owner, repo, issue, body, login) {
      const x: Comment = {
        id: nextId++,
        owner,
        repo,
        issue_number: issue,
        body,
        user: login === BOT.login ? BOT : { login, id: 7, type: 'User' },
        created_at: now(),
        updated_at: now()
      }
      state.comments.push(x)
      return x
    },
    commentsOn(owner, repo, issue) {
      return state.comments.filter(x => x.owner === owner && x.repo === repo && x.issue_number === issue)
    },
    stop: () => new Promise<void>((resolve, reject) => server.close(err => (err ? reject(err) : resolve())))
  }
}
