// jest globalSetup for the e2e project: starts the local stack with test/stack/up.sh, or reuses
// the one already running (up.sh only restarts what is down or changed). The first run on a
// machine compiles Kubernetes, hence the long bound. Self-contained on purpose: jest loads this
// file outside its module mapper, so it cannot import ./stack.js.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export default function globalSetup(): void {
  const upSh = fileURLToPath(new URL('../../test/stack/up.sh', import.meta.url))
  const r = spawnSync('bash', [upSh], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 60 * 60_000 })
  if (r.error) throw new Error(`test/stack/up.sh could not run: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`test/stack/up.sh failed (exit ${r.status ?? r.signal}); its error is printed above`)
  const env = JSON.parse(readFileSync(`${process.env.KUBE_SHIP_STATE ?? '/tmp/kube-ship-stack'}/env.json`, 'utf8'))
  // Workers inherit this, so every docker/buildx call in a test reaches the stack's dockerd.
  process.env.DOCKER_HOST = env.dockerHost
}
