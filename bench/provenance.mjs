// What provenance costs a build: the action's image stage (build, push, digest) run as the runner
// runs it (`node dist/index.js`, no manifests) on the local stack's buildkitd builder, with
// `provenance: false` and with the default (mode=max), alternating so both see the same machine
// load; each run builds a new FROM scratch context (a unique file), so nothing comes from cache
// but the base. Medians over N runs of each, and the digest's media type as a check.
//   scripts/node24 bench/provenance.mjs [runs=7] [dist=dist]
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const repo = path.resolve(import.meta.dirname, '..')
const runs = Number(process.argv[2] ?? 7)
const dist = path.resolve(repo, process.argv[3] ?? 'dist')
const state = process.env.KUBE_SHIP_STATE ?? '/tmp/kube-ship-stack'
const stack = JSON.parse(fs.readFileSync(path.join(state, 'env.json'), 'utf8'))
if (!stack.buildkit) throw new Error('env.json has no buildkit entry: run test/stack/up.sh')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-bench-prov-'))
fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n')

function once(provenance) {
  fs.writeFileSync(path.join(dir, 'hello.txt'), `${Date.now()} ${Math.random()}\n`)
  const out = path.join(dir, 'out')
  for (const f of ['out', 'state', 'summary']) fs.writeFileSync(path.join(dir, f), '')
  const env = {
    ...process.env,
    DOCKER_HOST: stack.dockerHost,
    DOCKER_CONFIG: fs.mkdtempSync(path.join(dir, 'docker-')),
    BUILDX_CONFIG: stack.buildkit.buildxConfig,
    GITHUB_OUTPUT: out,
    GITHUB_STATE: path.join(dir, 'state'),
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary'),
    INPUT_IMAGE: `${stack.registry}/bench/provenance`,
    INPUT_TAGS: 'bench',
    INPUT_BUILDER: stack.buildkit.builder,
    INPUT_PROVENANCE: provenance,
    INPUT_CONTEXT: dir,
    'INPUT_GITHUB-DEPLOYMENT': 'false'
  }
  const t0 = process.hrtime.bigint()
  const r = spawnSync(path.join(repo, 'scripts/node24'), [path.join(dist, 'index.js')], { env, encoding: 'utf8', timeout: 300_000 })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0) throw new Error(`run failed (provenance '${provenance}'): ${r.stdout.split('\n').filter(l => l.startsWith('::error')).join(' ')}`)
  const index = /an image index with/.test(r.stdout)
  return { ms, index }
}

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = { off: [], max: [] }
const kinds = { off: new Set(), max: new Set() }
for (let i = 0; i < runs; i++) {
  for (const [name, value] of [['off', 'false'], ['max', '']]) {
    const r = once(value)
    results[name].push(r.ms)
    kinds[name].add(r.index ? 'index' : 'manifest')
  }
}
for (const name of ['off', 'max'])
  console.log(`provenance ${name === 'off' ? 'false' : 'default (mode=max)'}: median ${(median(results[name]) / 1000).toFixed(2)} s over ${runs} runs (min ${(Math.min(...results[name]) / 1000).toFixed(2)}, max ${(Math.max(...results[name]) / 1000).toFixed(2)}), pushed ${[...kinds[name]].join('/')}`)
fs.rmSync(dir, { recursive: true, force: true })
