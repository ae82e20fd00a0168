// Bundle size and cold start of the action: from spawning `node dist/index.js` to its first
// external command (docker). A `docker` on PATH that records the time and exits stands in for
// the real CLI so only the action's own start-up is measured. Median of N runs.
//   scripts/node24 bench/cold-start.mjs [runs=9]
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const repo = path.resolve(import.meta.dirname, '..')
const runs = Number(process.argv[2] ?? 9)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-bench-'))
const stamp = path.join(dir, 'stamp')
fs.writeFileSync(path.join(dir, 'docker'), `#!/bin/sh\ndate +%s%N > ${stamp}\nexit 1\n`, { mode: 0o755 })
fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n')
for (const f of ['out', 'state']) fs.writeFileSync(path.join(dir, f), '')

const size = f => fs.statSync(path.join(repo, 'dist', f)).size
const samples = []
for (let i = 0; i < runs; i++) {
  fs.rmSync(stamp, { force: true })
  const wallStart = BigInt(Date.now()) * 1_000_000n
  spawnSync(process.execPath, [path.join(repo, 'dist/index.js')], {
    env: { PATH: `${dir}:${process.env.PATH}`, INPUT_IMAGE: '127.0.0.1:1/bench/app', INPUT_CONTEXT: dir, INPUT_TAGS: 'b', GITHUB_OUTPUT: path.join(dir, 'out'), GITHUB_STATE: path.join(dir, 'state') },
    stdio: 'ignore'
  })
  if (!fs.existsSync(stamp)) throw new Error('the action never ran docker')
  samples.push(Number(BigInt(fs.readFileSync(stamp, 'utf8').trim()) - wallStart) / 1e6)
}
samples.sort((a, b) => a - b)
const median = samples[Math.floor(samples.length / 2)]
console.log(`bundle: dist/index.js ${(size('index.js') / 1024).toFixed(0)} KiB (source map ${(size('index.js.map') / 1024).toFixed(0)} KiB)`)
console.log(`cold start to first docker command: median ${median.toFixed(0)} ms over ${runs} runs (min ${samples[0].toFixed(0)}, max ${samples.at(-1).toFixed(0)})`)
fs.rmSync(dir, { recursive: true, force: true })
