// Runs the bundled action (dist/index.js) as the GitHub runner does: inputs as INPUT_* variables,
// outputs, state and the job summary through the runner's files, then the post step with the
// saved state. Tests read what a workflow would see.
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const repo = path.resolve(import.meta.dirname, '../..')
/** The bundle to run: dist/ by default; KUBE_SHIP_DIST names another build of it (a branch's, in a temp dir). */
const entry = path.join(process.env.KUBE_SHIP_DIST ?? path.join(repo, 'dist'), 'index.js')

export interface ActionRun {
  code: number
  /** stdout and stderr of the main step, interleaved as the log shows them */
  log: string
  outputs: Record<string, string>
  summary: string
  postLog: string
}

/** Reads a runner file-command file (NAME<<DELIM\nvalue\nDELIM). */
export function readCommandFile(file: string): Record<string, string> {
  const values: Record<string, string> = {}
  const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : []
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i])
    if (!m) continue
    const body: string[] = []
    for (i++; i < lines.length && lines[i] !== m[2]; i++) body.push(lines[i])
    values[m[1]] = body.join('\n')
  }
  return values
}

/**
 * Runs the main step, then the post step. Asynchronous on purpose: a test's in-process HTTP
 * stand-in (the GitHub API) must keep serving while the action runs.
 */
export interface RunOptions {
  env?: Record<string, string>
  cwd?: string
  /**
   * Cancels the main step as the runner does once the log matches `when`: SIGINT, SIGTERM 7.5 s
   * later, SIGKILL 2.5 s after that; with kill, SIGKILL at once (a runner that died).
   */
  cancel?: { when: RegExp; kill?: boolean }
}

export async function runAction(inputs: Record<string, string>, opts: RunOptions = {}): Promise<ActionRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-run-'))
  const files = { GITHUB_OUTPUT: 'output', GITHUB_STATE: 'state', GITHUB_STEP_SUMMARY: 'summary' }
  const base: Record<string, string> = { RUNNER_TEMP: dir, GITHUB_ACTIONS: 'true' }
  for (const [key, name] of Object.entries(files)) {
    base[key] = path.join(dir, name)
    fs.writeFileSync(base[key], '')
  }
  const env = { ...process.env, ...base, ...opts.env }
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value
  const main = await step(env, opts.cwd ?? repo, opts.cancel)
  const state = Object.fromEntries(Object.entries(readCommandFile(base.GITHUB_STATE)).map(([k, v]) => [`STATE_${k}`, v]))
  const post = await step({ ...env, ...state }, opts.cwd ?? repo)
  const run = {
    code: main.code,
    log: main.log,
    outputs: readCommandFile(base.GITHUB_OUTPUT),
    summary: fs.readFileSync(base.GITHUB_STEP_SUMMARY, 'utf8'),
    postLog: post.log
  }
  fs.rmSync(dir, { recursive: true, force: true })
  return run
}

function step(env: NodeJS.ProcessEnv, cwd: string, cancel?: RunOptions['cancel']): Promise<{ code: number; log: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(repo, 'scripts/node24'), [entry], { cwd, env, timeout: 280_000 })
    let log = ''
    const timers: NodeJS.Timeout[] = []
    const onData = (d: Buffer): void => {
      log += d
      if (cancel && !timers.length && cancel.when.test(log)) {
        child.kill(cancel.kill ? 'SIGKILL' : 'SIGINT')
        timers.push(setTimeout(() => child.kill('SIGTERM'), 7500), setTimeout(() => child.kill('SIGKILL'), 10_000))
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      timers.forEach(clearTimeout)
      resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : -1), log })
    })
  })
}

/** The ::error:: lines of a log: what the runner shows as the failure. */
export function errorLines(log: string): string[] {
  return log.split('\n').filter(l => l.startsWith('::error'))
}
