// Running docker, buildx and cosign for the image stage: one runner that streams the tool's
// output to the job log, keeps the stderr tail for the one error line, and stops the tool when
// the run is cancelled (a SIGINT to the action must not leave a build or a push running).
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as core from '@actions/core'

export interface ToolRun {
  code: number
  stdout: string
  /** the last 20 kB of stderr */
  stderr: string
  /** the program is not on PATH */
  missing: boolean
}

export interface ToolOptions {
  /** stream stdout/stderr to the job log (a build's progress); otherwise only collected */
  stream?: boolean
  env?: NodeJS.ProcessEnv
  input?: string
  /** on abort the tool gets SIGTERM, then SIGKILL 5 s later; the promise settles when it exits */
  signal?: AbortSignal
}

const KILL_AFTER_MS = 5000

/** Runs file without a shell; never rejects (an abort resolves once the tool has exited). */
export function runTool(file: string, args: string[], opts: ToolOptions = {}): Promise<ToolRun> {
  return new Promise(resolve => {
    if (opts.stream) core.info(`[command]${file} ${args.join(' ')}`)
    // Its own process group: `docker buildx` is the docker CLI plus the buildx plugin it starts,
    // and a stop must reach both (killing only the CLI would leave buildx building).
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: true })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (opts.stream) process.stdout.write(d)
    })
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20000)
      if (opts.stream) process.stderr.write(d)
    })
    let killer: NodeJS.Timeout | undefined
    const signalGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, sig)
      } catch {
        // already gone
      }
    }
    const onAbort = (): void => {
      signalGroup('SIGTERM')
      killer = setTimeout(() => signalGroup('SIGKILL'), KILL_AFTER_MS)
    }
    if (opts.signal?.aborted) onAbort()
    else opts.signal?.addEventListener('abort', onAbort, { once: true })
    const done = (r: ToolRun): void => {
      clearTimeout(killer)
      opts.signal?.removeEventListener('abort', onAbort)
      resolve(r)
    }
    child.on('error', err => done({ code: 127, stdout, stderr: err.message, missing: (err as NodeJS.ErrnoException).code === 'ENOENT' }))
    child.on('close', code => done({ code: code ?? 1, stdout, stderr, missing: false }))
    if (opts.input !== undefined) child.stdin!.end(opts.input)
  })
}

/** The program's path when it is on PATH (checked before any work, to fail with one line). */
export function onPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, name)
    try {
      fs.accessSync(file, fs.constants.X_OK)
      if (fs.statSync(file).isFile()) return file
    } catch {
      // not here
    }
  }
  return undefined
}
