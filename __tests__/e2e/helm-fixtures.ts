// What the Helm e2e tests share: the stack's Helm 4 (built from its module) run with a config
// of its own, images pushed straight to the stack's registry through its HTTP API (small OCI
// images with distinct digests, no build), and the pipeline run in-process from src/main.ts
// with inputs as the runner passes them (dist/ is rebuilt only by the integrator).
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { readCommandFile } from './action.js'
import { run, type RunResult, stack } from './stack.js'

export const repoRoot = path.resolve(import.meta.dirname, '../..')
export const exampleChart = path.join(repoRoot, 'examples/app/chart')

const summaryFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-summary-')), 'summary')
const helmHome = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-helm-home-'))

/** Environment for helm: its own config, cache and registry login, so tests do not share state. */
export function helmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HELM_CONFIG_HOME: path.join(helmHome, 'config'),
    HELM_CACHE_HOME: path.join(helmHome, 'cache'),
    HELM_DATA_HOME: path.join(helmHome, 'data'),
    KUBECONFIG: stack().kubeconfig,
    ...extra
  }
}

/** The PATH the action sees: the stack's `helm` first. */
export const pathWithHelm = (): string => `${path.dirname(stack().helm)}:${process.env.PATH}`

export async function helm(args: string[], opts: { cwd?: string; input?: string } = {}): Promise<RunResult> {
  const r = await run('bash', ['-c', 'cd "$0" && exec "$@"', opts.cwd ?? repoRoot, stack().helm, ...args], { env: helmEnv(), input: opts.input, timeoutMs: 120_000 })
  return r
}

/** helm that must succeed; rejects with helm's own words. */
export async function helmOk(args: string[], opts: { cwd?: string; input?: string } = {}): Promise<string> {
  const r = await helm(args, opts)
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed: ${r.stderr.trim()}`)
  return r.stdout
}

/** A copy of a chart directory in a temp dir (tests edit charts). */
export function copyChart(from: string, name = path.basename(from)): { dir: string; chart: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-chart-test-'))
  fs.cpSync(from, path.join(dir, name), { recursive: true })
  return { dir, chart: path.join(dir, name) }
}

/**
 * Pushes a minimal OCI image (one config blob, no layers) as repo:tag to a stack registry and
 * returns its digest; `seed` makes each version's digest distinct. kwok runs no containers, so
 * the image only has to exist for the registry check.
 */
export async function pushImage(repo: string, tag: string, seed: string, registry = stack().registry, auth?: { user: string; password: string }): Promise<string> {
  const headers: Record<string, string> = auth ? { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` } : {}
  const base = `http://${registry}/v2/${repo}`
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { seed } }, rootfs: { type: 'layers', diff_ids: [] } }))
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`
  const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST', headers, signal: AbortSignal.timeout(30_000) })
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status}`)
  const location = new URL(start.headers.get('location')!, `http://${registry}`)
  location.searchParams.set('digest', configDigest)
  const put = await fetch(location, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: config, signal: AbortSignal.timeout(30_000) })
  if (put.status !== 201) throw new Error(`blob upload: ${put.status}`)
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers: [] })
  )
  const m = await fetch(`${base}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
    signal: AbortSignal.timeout(30_000)
  })
  if (m.status !== 201) throw new Error(`manifest put: ${m.status} ${await m.text()}`)
  return `sha256:${createHash('sha256').update(manifest).digest('hex')}`
}

export interface PipelineRun {
  code: number
  log: string
  outputs: Record<string, string>
  summary: string
}

/**
 * Runs src/main.ts's run() in this process with INPUT_* set as the runner sets them, capturing
 * what it writes (the log) and the outputs and summary files; restores the environment after.
 * Runs must not overlap (one test file runs its tests one at a time).
 */
export async function runPipeline(inputs: Record<string, string>, opts: { cwd: string; env?: Record<string, string> }): Promise<PipelineRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-inproc-'))
  // @actions/core's summary keeps the first file it wrote to for the life of the process: one file for all runs.
  const files = { GITHUB_OUTPUT: path.join(dir, 'output'), GITHUB_STATE: path.join(dir, 'state'), GITHUB_STEP_SUMMARY: summaryFile }
  for (const f of Object.values(files)) fs.writeFileSync(f, '')
  const saved = { ...process.env }
  const env: Record<string, string> = {
    ...files,
    RUNNER_TEMP: dir,
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: opts.cwd,
    ...helmEnv(),
    KUBECONFIG: stack().kubeconfig,
    PATH: pathWithHelm(),
    ...opts.env
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v
  for (const [name, value] of Object.entries(inputs)) process.env[`INPUT_${name.toUpperCase()}`] = value
  let log = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array) => {
    log += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()
    if (process.env.KUBE_SHIP_TEST_LOG) process.stderr.write(chunk)
    return true
  }) as typeof process.stdout.write
  const exitCode = process.exitCode
  let code: number
  try {
    const { runPipeline: main } = await import('../../src/main.js')
    await main()
    code = process.exitCode === 1 ? 1 : 0
  } finally {
    process.stdout.write = write
    process.exitCode = exitCode
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
    Object.assign(process.env, saved)
  }
  const result = { code, log, outputs: readCommandFile(files.GITHUB_OUTPUT), summary: fs.readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8') }
  fs.rmSync(dir, { recursive: true, force: true })
  return result
}

/** The ::error:: lines of a log. */
export const errors = (log: string): string[] => log.split('\n').filter(l => l.startsWith('::error'))
