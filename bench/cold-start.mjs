// Bundle size and cold start of the action, run as the runner runs it (`node dist/index.js`), side
// by side with a bare `node -e 0`, alternating so both see the same machine load:
//   - time to the first external command (docker), and its ratio to the bare Node start;
//   - time to exit after that command failed (the failure path: error, summary, outputs);
//   - peak RSS of that run;
//   - the same run with step debug logging on (RUNNER_DEBUG=1: stack traces mapped to src/);
//   - the same run with the runner's GITHUB_* context set (no token, so no request leaves), which
//     loads the report's GitHub code as a job on a runner does;
//   - the post step with nothing saved (the main step released its lock and finished its
//     GitHub Deployment): time to exit and peak RSS.
// A `docker` on PATH that records the time and exits 1 stands in for the real CLI, so only the
// action's own work is measured. Medians over N runs of each. Linux: peak RSS from /usr/bin/time.
//   scripts/node24 bench/cold-start.mjs [runs=15] [dist=dist]
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const repo = path.resolve(import.meta.dirname, '..')
const runs = Number(process.argv[2] ?? 15)
const dist = path.resolve(repo, process.argv[3] ?? 'dist')
const timeBin = '/usr/bin/time'
if (!fs.existsSync(timeBin)) throw new Error(`${timeBin} is missing (apt-get install time): it measures the peak RSS`)

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-bench-'))
const stamp = path.join(dir, 'stamp')
fs.writeFileSync(path.join(dir, 'docker'), `#!/bin/sh\ndate +%s%N > ${stamp}\nexit 1\n`, { mode: 0o755 })
fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n')
fs.writeFileSync(path.join(dir, 'event.json'), '{}\n')
const runnerEnv = { GITHUB_REPOSITORY: 'acme/web', GITHUB_EVENT_NAME: 'push', GITHUB_EVENT_PATH: path.join(dir, 'event.json'), GITHUB_SHA: '0'.repeat(40), GITHUB_RUN_ID: '1', GITHUB_SERVER_URL: 'http://127.0.0.1:1' }
const files = { out: path.join(dir, 'out'), state: path.join(dir, 'state'), summary: path.join(dir, 'summary'), rss: path.join(dir, 'rss') }
const env = {
  PATH: `${dir}:${process.env.PATH}`,
  INPUT_IMAGE: '127.0.0.1:1/bench/app',
  INPUT_CONTEXT: dir,
  INPUT_TAGS: 'b',
  GITHUB_OUTPUT: files.out,
  GITHUB_STATE: files.state,
  GITHUB_STEP_SUMMARY: files.summary
}

/** One process under /usr/bin/time: ms to exit, ms to the stamp (if it ran docker), peak RSS in MiB. */
function measure(args, extraEnv = {}) {
  for (const f of Object.values(files)) fs.writeFileSync(f, '')
  fs.rmSync(stamp, { force: true })
  const start = process.hrtime.bigint()
  const wallStart = BigInt(Date.now()) * 1_000_000n
  spawnSync(timeBin, ['-f', '%M', '-o', files.rss, process.execPath, ...args], { env: { ...env, ...extraEnv }, stdio: 'ignore' })
  const exit = Number(process.hrtime.bigint() - start) / 1e6
  const first = fs.existsSync(stamp) ? Number(BigInt(fs.readFileSync(stamp, 'utf8').trim()) - wallStart) / 1e6 : undefined
  const rss = Number(fs.readFileSync(files.rss, 'utf8').trim().split('\n').at(-1)) / 1024
  return { exit, first, rss }
}

const bare = []
const action = []
const debug = []
const runner = []
const post = []
measure(['-e', '0']) // warm the page cache for both
measure([path.join(dist, 'index.js')])
for (let i = 0; i < runs; i++) {
  bare.push(measure(['-e', '0']))
  const run = measure([path.join(dist, 'index.js')])
  if (run.first === undefined) throw new Error('the action never ran docker')
  action.push(run)
  debug.push(measure([path.join(dist, 'index.js')], { RUNNER_DEBUG: '1' }))
  runner.push(measure([path.join(dist, 'index.js')], runnerEnv))
  post.push(measure([path.join(dist, 'index.js')], { ...runnerEnv, STATE_isPost: 'true' }))
}
fs.rmSync(dir, { recursive: true, force: true })

const median = values => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]
const m = (list, key) => median(list.map(r => r[key]))
const kib = f => fs.statSync(path.join(dist, f)).size / 1024
const sum = re => fs.readdirSync(dist, { recursive: true }).filter(f => re.test(f)).reduce((n, f) => n + kib(f), 0)
const bareMs = m(bare, 'exit')
const firstMs = m(action, 'first')

console.log(`bundle: dist/index.js ${kib('index.js').toFixed(0)} KiB; all JavaScript in dist/ ${sum(/\.[cm]?js$/).toFixed(0)} KiB, source maps ${sum(/\.map$/).toFixed(0)} KiB`)
console.log(`medians over ${runs} alternating runs, ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)}:`)
console.log(`  bare node -e 0:                 exit ${bareMs.toFixed(0)} ms, peak RSS ${m(bare, 'rss').toFixed(0)} MiB`)
console.log(`  action, first docker command:   ${firstMs.toFixed(0)} ms = ${(firstMs / bareMs).toFixed(1)}x bare node`)
console.log(`  action, exit after it failed:   ${m(action, 'exit').toFixed(0)} ms, peak RSS ${m(action, 'rss').toFixed(0)} MiB`)
console.log(`  same with RUNNER_DEBUG=1:       first docker ${m(debug, 'first').toFixed(0)} ms, exit ${m(debug, 'exit').toFixed(0)} ms, peak RSS ${m(debug, 'rss').toFixed(0)} MiB`)
console.log(`  same with GITHUB_* context set:   first docker ${m(runner, 'first').toFixed(0)} ms, exit ${m(runner, 'exit').toFixed(0)} ms, peak RSS ${m(runner, 'rss').toFixed(0)} MiB`)
console.log(`  post step, no saved state:      exit ${m(post, 'exit').toFixed(0)} ms = ${(m(post, 'exit') / bareMs).toFixed(1)}x bare node, peak RSS ${m(post, 'rss').toFixed(0)} MiB`)
