// Shows a canary's traffic moving while scripts/demo --canary runs: whenever the stack's Traefik
// starts routing a new canary weight for the demo's Ingress, 500 requests go through it and the
// measured split is printed ("step 20 %: 19.4 % of 500 requests served by sha256:…"), over
// the answers given while that weight was still routed.
// Bounded: at most 10 minutes, 500 requests per step, stops on SIGTERM.
//   scripts/node24 scripts/demo-traffic.mjs <namespace> <host>
import * as fs from 'node:fs'
import * as http from 'node:http'

const [namespace = 'demo', host = 'web.example.test'] = process.argv.slice(2)
const state = process.env.KUBE_SHIP_STATE ?? '/tmp/kube-ship-stack'
const env = JSON.parse(fs.readFileSync(`${state}/env.json`, 'utf8'))
const deadline = Date.now() + 10 * 60_000
let stopped = false
process.on('SIGTERM', () => (stopped = true))

const agent = new http.Agent({ keepAlive: false })
const get = headers =>
  new Promise(resolve => {
    const req = http.get(`${env.router.nginx}/`, { agent, headers: { host, ...headers }, timeout: 5000 }, res => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, digest: res.headers['x-image-digest'] }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve({ status: 0 }))
  })

/** The canary weight Traefik routes by now for the namespace's Ingress, undefined without a canary. */
async function weightNow() {
  const raw = await (await fetch(`${env.router.api}/rawdata`)).json().catch(() => ({}))
  for (const [name, s] of Object.entries(raw.services ?? {})) {
    const children = s.weighted?.services ?? []
    const canary = children.find(c => c.name.includes('canary'))
    if (name.startsWith(`${namespace}-`) && canary && children.length > 1) return canary.weight ?? 1
  }
  return undefined
}

/** The canary's digest, asked with the header that always routes to it; a few tries, since one request can fail under load. */
async function canaryDigest() {
  for (let i = 0; i < 10 && !stopped; i++) {
    const a = await get({ 'X-Canary': 'always' })
    if (a.status === 200 && a.digest) return a.digest
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  return undefined
}

let last
while (!stopped && Date.now() < deadline) {
  const w = await weightNow().catch(() => undefined)
  if (w !== undefined && w !== last && w > 0) {
    last = w
    const canary = await canaryDigest()
    if (!canary) {
      console.log(`step ${w} %: the canary did not answer`)
      continue
    }
    // Only answers given while the router still routed this weight count: the plan may move to
    // its next step while a slow machine is still sampling this one.
    let now = w
    let polling = false
    const poll = setInterval(async () => {
      if (polling) return
      polling = true
      now = await weightNow().catch(() => now)
      polling = false
    }, 100)
    const answers = []
    // 4 workers of at most 125 requests each: at most 500, however their requests interleave
    const worker = async () => {
      for (let i = 0; i < 125 && !stopped && now === w; i++) {
        const a = await get({})
        if (now === w) answers.push(a)
      }
    }
    await Promise.all([worker(), worker(), worker(), worker()])
    clearInterval(poll)
    const hits = answers.filter(a => a.digest === canary).length
    const failed = answers.filter(a => a.status !== 200).length
    console.log(`step ${w} %: ${((100 * hits) / Math.max(1, answers.length)).toFixed(1)} % of ${answers.length} requests served by ${canary}${failed ? ` (${failed} failed)` : ''}`)
  }
  await new Promise(resolve => setTimeout(resolve, 200))
}
