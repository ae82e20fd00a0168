// A TLS fault proxy in front of the stack's kube-apiserver, started by a test on 127.0.0.1. It
// forwards every request (watch streams included) with the kubeconfig's own credentials and
// answers a configurable share of them with a fault instead: 429 with Retry-After, 503, a closed
// connection before the request reaches the server, one after the server has acted on it (the answer
// is lost, the side effect is not), or, for watches, a stream cut after a moment. Faults are drawn
// from a seeded generator, so a failing run can be repeated.
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as https from 'node:https'
import * as os from 'node:os'
import * as path from 'node:path'
import type { AddressInfo } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'

export type FaultKind = '429' | '503' | 'reset-before' | 'reset-after' | 'watch-cut'

export interface FaultProxyOptions {
  /** the admin kubeconfig file of the real API server */
  kubeconfig: string
  /** share of requests that get a fault, 0..1 */
  share: number
  /** Retry-After seconds sent with 429 and 503 */
  retryAfterSeconds?: number
  seed?: number
}

export interface FaultProxy {
  url: string
  /** a kubeconfig file that points at the proxy (same user, the proxy's CA) */
  kubeconfig: string
  /** its text, for the `kubeconfig` input */
  kubeconfigText: string
  stats: { requests: number; watches: number; watchFaults: number; faults: Record<FaultKind, number> }
  setShare(share: number): void
  stop(): Promise<void>
}

/** mulberry32: small, seeded, good enough to spread faults. */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function selfSigned(dir: string): { cert: string; key: string } {
  const key = path.join(dir, 'proxy.key')
  const cert = path.join(dir, 'proxy.crt')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=kube-ship-fault-proxy', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  return { cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') }
}

function status(res: http.ServerResponse, code: number, reason: string, retryAfter: number): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message: `fault proxy: injected ${code}` })
  res.writeHead(code, { 'content-type': 'application/json', 'retry-after': String(retryAfter), 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const upstreamKc = new KubeConfig()
  upstreamKc.loadFromFile(opts.kubeconfig)
  const cluster = upstreamKc.getCurrentCluster()!
  const user = upstreamKc.getCurrentUser()!
  const upstream = new URL(cluster.server)
  const read = (data?: string, file?: string): Buffer | undefined => (data ? Buffer.from(data, 'base64') : file ? fs.readFileSync(file) : undefined)
  const agent = new https.Agent({
    keepAlive: true,
    ca: read(cluster.caData, cluster.caFile),
    cert: read(user.certData, user.certFile),
    key: read(user.keyData, user.keyFile)
  })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-fault-proxy-'))
  const tls = selfSigned(dir)
  const rng = seeded(opts.seed ?? 20261202)
  let share = opts.share
  const retryAfter = opts.retryAfterSeconds ?? 1
  const stats = { requests: 0, watches: 0, watchFaults: 0, faults: { '429': 0, '503': 0, 'reset-before': 0, 'reset-after': 0, 'watch-cut': 0 } as Record<FaultKind, number> }
  const sockets = new Set<{ destroy(): void }>()

  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    stats.requests++
    const watch = /[?&]watch=(true|1)/.test(req.url ?? '')
    let fault: FaultKind | undefined
    if (rng() < share) {
      const kinds: FaultKind[] = watch ? ['429', '503', 'reset-before', 'watch-cut'] : ['429', '503', 'reset-before', 'reset-after']
      fault = kinds[Math.floor(rng() * kinds.length)]
      stats.faults[fault]++
      if (watch) stats.watchFaults++
    }
    if (watch) stats.watches++
    if (fault === '429') return status(res, 429, 'TooManyRequests', retryAfter)
    if (fault === '503') return status(res, 503, 'ServiceUnavailable', retryAfter)
    if (fault === 'reset-before') return void req.socket.destroy()
    const headers = { ...req.headers, host: upstream.host }
    delete headers.authorization
    if (user.token) headers.authorization = `Bearer ${user.token}`
    const up = https.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent }, upRes => {
      if (fault === 'reset-after') {
        // The server has acted; the client never hears of it.
        upRes.resume()
        return void req.socket.destroy()
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.headers)
      upRes.pipe(res)
      if (fault === 'watch-cut') setTimeout(() => req.socket.destroy(), 200 + Math.floor(rng() * 1500)).unref()
    })
    up.on('error', () => req.socket.destroy())
    res.on('close', () => up.destroy())
    req.pipe(up)
  })
  server.on('connection', s => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`

  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'fault-proxy', server: url, caData: Buffer.from(tls.cert).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'admin', certData: user.certData ?? (user.certFile && fs.readFileSync(user.certFile).toString('base64')), keyData: user.keyData ?? (user.keyFile && fs.readFileSync(user.keyFile).toString('base64')), token: user.token }],
    contexts: [{ name: 'fault-proxy', cluster: 'fault-proxy', user: 'admin' }],
    currentContext: 'fault-proxy'
  })
  const kubeconfigText = kc.exportConfig()
  const kubeconfig = path.join(dir, 'kubeconfig')
  fs.writeFileSync(kubeconfig, kubeconfigText, { mode: 0o600 })

  return {
    url,
    kubeconfig,
    kubeconfigText,
    stats,
    setShare: s => (share = s),
    async stop() {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
      agent.destroy()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
