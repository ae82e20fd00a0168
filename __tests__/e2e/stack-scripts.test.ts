// The stack scripts in bad situations: each ends in one clear line, and only processes the stack
// recorded are ever stopped. Runs against private state dirs (and stand-in processes for the
// PID bookkeeping); the shared stack is only read, and given the same idempotent up.sh every
// e2e run starts with, which must keep its data plane (responder, Traefik, Prometheus) running.
import { afterAll, describe, expect, it } from '@jest/globals'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { run, stack, stackScripts, stateDir } from './stack.js'

const state = mkdtempSync(path.join(tmpdir(), 'stack-scripts-'))
afterAll(() => rmSync(state, { recursive: true, force: true }))

const upSh = (env: NodeJS.ProcessEnv) => run('bash', [`${stackScripts}up.sh`], { env: { ...process.env, KUBE_SHIP_STATE: state, ...env }, timeoutMs: 60_000 })
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('stack: error:'))

/** A port nothing listens on now (the kernel's pick, released at once). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

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

  // The data plane's ports are checked with the others, before anything is built or started.
  it.each([
    ['traefik', 'KUBE_SHIP_ROUTER_GATEWAY_PORT'],
    ['prometheus', 'KUBE_SHIP_PROMETHEUS_PORT']
  ])('names %s, its port and the owner when something else listens on %s', async (component, variable) => {
    const server: Server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const vars = ['REGISTRY', 'AUTH_REGISTRY', 'ETCD', 'ETCD_PEER', 'APISERVER', 'ROUTER_NGINX', 'ROUTER_NGINX_TLS', 'ROUTER_GATEWAY', 'ROUTER_ADMIN', 'PROMETHEUS']
    const env: NodeJS.ProcessEnv = {}
    for (const v of vars) env[`KUBE_SHIP_${v}_PORT`] = String(await freePort())
    env[variable] = String(port)
    try {
      const r = await upSh(env)
      expect(r.code).toBe(1)
      expect(errorLines(r.stderr)).toEqual([
        `stack: error: ${component} cannot start: 127.0.0.1:${port} is in use by pid ${process.pid} (node), which this stack did not start (stop it, or run test/stack/down.sh if it is a stack from another KUBE_SHIP_STATE)`
      ])
      expect(existsSync(path.join(state, 'run'))).toBe(false)
    } finally {
      server.close()
    }
  })

  it('names the missing tool instead of failing somewhere later', async () => {
    // A PATH holding everything up.sh checks for except Go.
    const bin = path.join(state, 'bin')
    mkdirSync(bin)
    const tools = ['bash', 'dirname', 'mkdir', 'rm', 'flock', 'chmod', 'id', 'date', 'stat', 'dockerd', 'docker-registry', 'htpasswd', 'openssl', 'prometheus', 'runc', 'kubectl', 'curl', 'ss', 'setsid', 'docker']
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

// kill(pid, 0) also answers for a zombie: a stopped stand-in waits there until init reaps it.
const isRunningNotZombie = (pid: number): boolean => {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

describe('test/stack PID bookkeeping', () => {
  it('down.sh stops the processes up.sh recorded and nothing else', async () => {
    const bystander = spawn('sleep', ['300'], { stdio: 'ignore' })
    try {
      const { dir, code, stderr, stdout } = await withLib(
        'for c in kwok etcd responder traefik prometheus; do launch $c sleep 30$((n = ${n:-0} + 1)); done; cat "$RUN"/{kwok,etcd,responder,traefik,prometheus}.pid'
      )
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
      const [kwok, etcd, responder, traefik, prometheus] = stdout.trim().split('\n').map(Number)
      const down = await run('bash', [`${stackScripts}down.sh`, '--purge'], { env: { ...process.env, KUBE_SHIP_STATE: dir } })
      expect(down.code).toBe(0)
      // Newest first: Prometheus and Traefik before the responder they send to, the cluster last.
      expect(down.stderr.split('\n').filter((l) => l.startsWith('stack: stopped'))).toEqual([
        `stack: stopped prometheus (pid ${prometheus})`,
        `stack: stopped traefik (pid ${traefik})`,
        `stack: stopped responder (pid ${responder})`,
        `stack: stopped kwok (pid ${kwok})`,
        `stack: stopped etcd (pid ${etcd})`
      ])
      for (const pid of [kwok, etcd, responder, traefik, prometheus]) expect({ pid, running: isRunningNotZombie(pid) }).toEqual({ pid, running: false })
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

// up.sh sourced (it defines its functions without starting anything when sourced).
async function withUp(script: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'stack-up-'))
  const r = await run('bash', ['-c', `set -euo pipefail; . '${stackScripts}up.sh'; ${script}`], { env: { ...process.env, KUBE_SHIP_STATE: dir }, timeoutMs: 60_000 })
  return { dir, ...r }
}

describe('test/stack/up.sh and the data plane', () => {
  it('keeps Traefik while its spec is unchanged and restarts it on a change, with KUBECONFIG in its environment', async () => {
    // Traefik reads the cluster only through KUBECONFIG, which up.sh sets for the ensure call
    // (an `env` prefix would be argv, and alive() compares argv).
    const { dir, code, stdout, stderr } = await withUp(
      `for spec in a a b; do KUBECONFIG=$STATE/admin.kubeconfig ensure traefik $spec sleep 3071; cat "$RUN/traefik.pid"; done; tr '\\0' '\\n' </proc/$(cat "$RUN/traefik.pid")/environ | grep ^KUBECONFIG=`
    )
    try {
      expect(code).toBe(0)
      const [first, second, third, kubeconfig] = stdout.trim().split('\n')
      expect({ kept: second === first, restarted: third !== first }).toEqual({ kept: true, restarted: true })
      expect(isRunningNotZombie(Number(first))).toBe(false)
      expect(kubeconfig).toBe(`KUBECONFIG=${dir}/admin.kubeconfig`)
      expect(stderr.split('\n')).toEqual([
        'stack: starting traefik',
        'stack: traefik: configuration changed, restarting',
        `stack: stopped traefik (pid ${first})`,
        'stack: starting traefik',
        ''
      ])
    } finally {
      await run('bash', [`${stackScripts}down.sh`, '--purge'], { env: { ...process.env, KUBE_SHIP_STATE: dir } })
    }
  })

  it('on the shared stack: a second up.sh keeps the responder, Traefik and Prometheus, which listen on 127.0.0.0/8 only', async () => {
    const shared = stateDir()
    const pids = () => Object.fromEntries(['responder', 'traefik', 'prometheus'].map((c) => [c, Number(readFileSync(`${shared}/run/${c}.pid`, 'utf8').trim())]))
    const before = pids()
    for (const pid of Object.values(before)) expect(isRunning(pid)).toBe(true)
    const up = await run('bash', [`${stackScripts}up.sh`], { env: { ...process.env, KUBE_SHIP_STATE: shared }, timeoutMs: 300_000 })
    expect(up.code).toBe(0)
    expect(up.stderr.split('\n').filter((l) => /\b(responder|traefik|prometheus)\b/.test(l) && !l.startsWith('stack: ready'))).toEqual([])
    expect(pids()).toEqual(before)
    // Every listening socket of the three, TCP and UDP: a loopback address, never 0.0.0.0 or [::].
    const ss = await run('ss', ['-Hlntup'])
    expect(ss.code).toBe(0)
    for (const [component, pid] of Object.entries(before)) {
      const local = ss.stdout
        .split('\n')
        .filter((l) => l.includes(`pid=${pid},`))
        .map((l) => l.trim().split(/\s+/)[4])
      expect({ component, listening: local.length > 0 }).toEqual({ component, listening: true })
      expect({ component, elsewhere: local.filter((a) => !/^127\.\d+\.\d+\.\d+:\d+$/.test(a)) }).toEqual({ component, elsewhere: [] })
    }
  })
})

describe('test/stack/up.sh and the BuildKit builder', () => {
  it('starts buildkitd on a private state dir, registers it as a buildx builder, keeps it on a second run, and it pushes provenance', async () => {
    const shared = stateDir()
    const ctx = mkdtempSync(path.join(tmpdir(), 'stack-buildkit-ctx-'))
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n')
    writeFileSync(path.join(ctx, 'hello.txt'), `${Date.now()}-${Math.random()}\n`)
    const repo = `stack-scripts/buildkit-${process.pid}`
    // The shared stack's registries and dockerd (the docker CLI needs one); buildkitd is private.
    const { dir, code, stdout, stderr } = await withUp(
      `BUILDKITD_BIN=$('${stackScripts}build.sh' buildkit); DOCKER_SOCK='${shared}/docker/docker.sock'; ` +
        `start_buildkit; cat "$RUN/buildkitd.pid"; start_buildkit; cat "$RUN/buildkitd.pid"; ` +
        `BUILDX_CONFIG=$BUILDX_CONFIG_DIR DOCKER_HOST=unix://$DOCKER_SOCK docker buildx build --builder "$BUILDKIT_BUILDER" --attest type=provenance,mode=min ` +
        `--metadata-file "$STATE/m.json" -t 127.0.0.1:$REGISTRY_PORT/${repo}:t --push '${ctx}' >/dev/null 2>&1; ` +
        `BUILDX_CONFIG=$BUILDX_CONFIG_DIR DOCKER_HOST=unix://$DOCKER_SOCK docker buildx inspect; cat "$STATE/m.json"`
    )
    try {
      expect({ code, errors: errorLines(stderr) }).toEqual({ code: 0, errors: [] })
      const [first, second] = stdout.split('\n')
      expect(second).toBe(first)
      expect(stderr.split('\n').filter((l) => l.includes('buildkitd'))).toEqual(['stack: starting buildkitd'])
      // The default builder stays dockerd's (docker driver).
      expect(stdout).toMatch(/^Driver:\s+docker$/m)
      // Only its unix socket: buildkitd listens on no TCP or UDP port.
      const ss = await run('ss', ['-Hlntup'])
      expect(ss.stdout.split('\n').filter((l) => l.includes(`pid=${first},`))).toEqual([])
      const meta = JSON.parse(stdout.slice(stdout.indexOf('{'))) as Record<string, { mediaType?: string }>
      expect(meta['containerimage.descriptor'].mediaType).toBe('application/vnd.oci.image.index.v1+json')
      const index = (await (await fetch(`http://${stack().registry}/v2/${repo}/manifests/t`, { headers: { Accept: 'application/vnd.oci.image.index.v1+json' } })).json()) as {
        manifests: { annotations?: Record<string, string> }[]
      }
      expect(index.manifests.map((m) => m.annotations?.['vnd.docker.reference.type'] ?? 'image')).toEqual(['image', 'attestation-manifest'])
    } finally {
      await run('bash', [`${stackScripts}down.sh`, '--purge'], { env: { ...process.env, KUBE_SHIP_STATE: dir } })
      rmSync(ctx, { recursive: true, force: true })
    }
  })
})
