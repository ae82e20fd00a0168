// The stack scripts' refusals: each bad situation ends in one clear line, before anything starts.
// Runs against a private, empty state dir so the shared stack is never touched.
import { afterAll, describe, expect, it } from '@jest/globals'
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
    const tools = ['bash', 'dirname', 'mkdir', 'rm', 'flock', 'chmod', 'id', 'date', 'stat', 'dockerd', 'docker-registry', 'htpasswd', 'openssl', 'kubectl', 'curl', 'ss', 'setsid', 'docker']
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
