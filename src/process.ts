// The one way this action runs a program (docker, buildx, cosign, git, kustomize, kubectl,
// helm): no shell, the exit code answered instead of thrown, stdin only when there is input
// (otherwise closed), output collected and, for a build, streamed to the job log. A signal (the
// job's cancellation) stops the program's whole process group: `docker buildx` is the docker
// CLI plus the buildx plugin it starts, and a stop must reach both.
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as core from '@actions/core'

export interface ProgramResult {
  code: number
  stdout: string
  /** the last 20 kB of stderr */
  stderr: string
  /** the program is not on PATH */
  missing: boolean
}

export interface ProgramOptions {
  cwd?: string
  /** default: process.env as this module sees it (a test sandbox's too) */
  env?: NodeJS.ProcessEnv
  /** written to stdin, which is then closed */
  input?: string
  /** show the command line and stream the output to the job log (a build); otherwise only collected */
  stream?: boolean
  /** on abort the program gets SIGTERM, then SIGKILL 5 s later; the promise settles when it exits */
  signal?: AbortSignal
}

const KILL_AFTER_MS = 5000
const STDERR_TAIL = 20000

/** Runs file with args; never rejects (an abort resolves once the program has exited). */
export function runProgram(file: string, args: string[], opts: ProgramOptions = {}): Promise<ProgramResult> {
  return new Promise(resolve => {
    if (opts.stream) core.info(`[command]${file} ${args.join(' ')}`)
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: true })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (opts.stream) process.stdout.write(d)
    })
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-STDERR_TAIL)
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
    const done = (r: ProgramResult): void => {
      clearTimeout(killer)
      opts.signal?.removeEventListener('abort', onAbort)
      resolve(r)
    }
    child.on('error', err => done({ code: 127, stdout, stderr: err.message, missing: (err as NodeJS.ErrnoException).code === 'ENOENT' }))
    child.on('close', code => done({ code: code ?? 1, stdout, stderr, missing: false }))
    // A program that exits without reading its input must not fail the run with EPIPE.
    if (opts.input !== undefined) child.stdin!.on('error', () => undefined).end(opts.input)
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
