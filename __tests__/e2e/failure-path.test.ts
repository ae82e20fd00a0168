// The failure path of the bundled action (dist/index.js): a failed run prints one clear line and
// no stack trace; with step debug logging (RUNNER_DEBUG=1) the stack is there, mapped through
// the source maps to src/ files, also for code in a lazily loaded chunk (the manifests stage).
// Speed and memory of that path are measured in bench/cold-start.mjs, not here.
import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { errorLines, runAction } from './action.js'

const stackFrame = /(^|%0A)\s+at /m

async function failingRun(debug: boolean) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-failure-'))
  try {
    return await runAction({ manifests: 'missing.yaml', comment: 'never' }, { cwd, env: { RUNNER_DEBUG: debug ? '1' : '', GITHUB_REPOSITORY: '' } })
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true })
  }
}

describe('a failed run', () => {
  it('shows one line naming the input and no stack trace', async () => {
    const run = await failingRun(false)
    expect(run.code).toBe(1)
    expect(errorLines(run.log)).toEqual(["::error::input 'manifests': 'missing.yaml' does not exist"])
    expect(run.log).not.toMatch(stackFrame)
    expect(run.log).not.toContain('::debug::')
  })

  it('with step debug logging, debug-logs the stack mapped to the TypeScript sources', async () => {
    const run = await failingRun(true)
    expect(run.code).toBe(1)
    expect(errorLines(run.log)).toEqual(["::error::input 'manifests': 'missing.yaml' does not exist"])
    const stack = run.log.split('\n').find(l => l.startsWith('::debug::DeployError'))
    expect(stack).toMatch(stackFrame)
    expect(stack).toMatch(/src\/manifests\/load\.ts:\d+:\d+/)
    expect(stack).not.toContain('dist/')
  })
})
