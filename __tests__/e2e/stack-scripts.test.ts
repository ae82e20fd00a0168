// The stack scripts in bad situations: each ends in one clear line, and only processes the stack
// recorded are ever stopped. Runs against private state dirs (and stand-in processes for the
// PID bookkeeping), so the shared stack is never touched.
import { afterAll, describe, expect, it } from '@jest/globals'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { run, stackScripts } from './stack.js'

const state = mkdtempSync(path.join(tmpdir(), 'stack-scripts-'))
afterAll(() => rmSync(state, { recursive: true, force: true }))

const upSh = (env: NodeJS.ProcessEnv) => run('bash', [`${stackScripts}up.sh`], { env: { ...process.env, KUBE_SHIP_STATE: state, ...env }, timeoutMs: 60_000 })
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('stack: error:'))

describe('test/stack/up.sh refusals', () => {
  it('names the port and its owner when something else listens there', async () => {
    const server: Server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    try {
      const r = await upSh({ KUBE_SHIP_REGISTRY_PORT: String(port), KUBE_SHIP_AUTH_REGISTRY_PORT: '1', KUBE_SHIP_ETCD_PORT: '2', KUBE_SHIP_ETCD_PEER_PORT: '3', KUBE_SHIP_APISERVER_PORT: '4' })
      expect(r.code).toBe(1)
      expect(errorLines(r.stderr)).toEqual([
        `stack: error: registry-open cannot start: 127.0.0.1:${port} is in use by pid ${process.pid} (node), which this stack did not start (stop it, or run test/stack/down.sh if it is a stack from another KUBE_SHIP_STATE)`
      ])
      expect(existsSync(path.join(state, 'run'))).toBe(false) // nothing was started
    } finally {
      server.close()
    }
  })

  it('names the missing tool instead of failing somewhere later', async () => {
    // A PATH holding everything up.sh checks for except Go.
    const bin = path.join(state, 'bin')
    mkdirSync(bin)
    const tools = ['bash', 'dirname', 'mkdir', 'rm', 'flock', 'chmod', 'id', 'date', 'stat', 'dockerd', 'docker-registry', 'htpasswd', 'openssl', 'prometheus', 'kubectl', 'curl', 'ss', 'setsid', 'docker']
    for (const tool of tools) {
      const found = await run('bash', ['-c', `command -v ${tool}`])
      expect(found).toMatchObject({ code: 0 })
      symlinkSync(found.stdout.trim(), path.join(bin, tool))
    }
    const r = await upSh({ PATH: bin })
    expect(r.code).toBe(1)
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^stack: error: missing tools: go \(/)])
  })
})

// Runs bash with lib.sh sourced on a fresh private state dir.
async function withLib(script: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'stack-lib-'))
  const r = await run('bash', ['-c', `set -euo pipefail; . '${stackScripts}lib.sh'; ${script}`], { env: { ...process.env, KUBE_SHIP_STATE: dir }, timeoutMs: 60_000 })
  return { dir, ...r }
}

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('test/stack PID bookkeeping', () => {
  it('down.sh stops the processes up.sh recorded and nothing else', async () => {
    const bystander = spawn('sleep', ['300'], { stdio: 'ignore' })
    try {
      const { dir, code, stderr } = await withLib('launch kwok sleep 301; launch etcd sleep 302; cat "$RUN/kwok.pid" "$RUN/etcd.pid"')
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
      const down = await run('bash', [`${stackScripts}down.sh`, '--purge'], { env: { ...process.env, KUBE_SHIP_STATE: dir } })
      expect(down.code).toBe(0)
      expect(down.stderr).toMatch(/stopped kwok \(pid \d+\)\n.*stopped etcd \(pid \d+\)/s)
      expect(isRunning(bystander.pid!)).toBe(true)
      expect(existsSync(dir)).toBe(false)
    } finally {
      bystander.kill()
    }
  })

  it('drops a stale PID file instead of signalling whatever has that PID now', async () => {
    const { dir, code, stderr } = await withLib(`mkdir -p "$RUN"; echo ${process.pid} >"$RUN/kwok.pid"; printf 'kwok\\0' >"$RUN/kwok.cmd"; stop kwok; ls "$RUN"`)
    try {
      expect(code).toBe(0)
      expect(stderr).toBe(`stack: kwok: removing stale PID file (pid ${process.pid} is not running)\n`)
      expect(isRunning(process.pid)).toBe(true) // the test runner itself held that PID
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('reports a component that dies while starting with the tail of its log', async () => {
    const { dir, code, stderr } = await withLib(`launch etcd bash -c 'echo "listen tcp: address 99999: invalid port" >&2; sleep 0.5; exit 3'; wait_for etcd 30 "etcd health" false`)
    try {
      expect(code).toBe(1)
      expect(stderr.split('\n')).toEqual([
        'stack: error: etcd exited while waiting for etcd health',
        `stack: last lines of ${dir}/logs/etcd.log:`,
        '  | listen tcp: address 99999: invalid port',
        ''
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
