// A job cancelled mid-build, through dist/index.js as the runner does it (SIGINT, SIGTERM 7.5 s
// later, then SIGKILL): buildx itself stops, not only the action's wait for it. The build hangs
// on an ADD from a loopback HTTP server that never answers, so it is mid-build for certain when
// the SIGINT comes; the server then sees BuildKit drop that request.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { errorLines, runAction } from './action.js'
import { run, stack, waitFor } from './stack.js'

let server: http.Server
let port: number
/** requests the server holds open, by path, and whether their connection has closed */
const held = new Map<string, { closed: boolean }>()

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const entry = { closed: false }
    held.set(req.url ?? '', entry)
    res.on('close', () => (entry.closed = true))
    // never answers: the ADD waits until its build is cancelled
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise(resolve => server.close(resolve))
})

/** Processes whose command line contains text (the unique tag of one build). */
async function processesWith(text: string): Promise<string[]> {
  const r = await run('pgrep', ['-a', '-f', text])
  return r.stdout.split('\n').filter(l => l.trim() && !l.includes('pgrep'))
}

describe('cancelling a build', () => {
  it('SIGINT stops buildx: no build process is left, BuildKit drops the request it was making, and the run reports cancelled', async () => {
    const unique = `cancel-build-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-cancel-build-'))
    fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM scratch\nADD http://127.0.0.1:${port}/${unique} /slow\n`)
    const r = await runAction(
      { image: `${stack().registry}/e2e/${unique}`, context: '.', tags: unique, comment: 'never', 'github-deployment': 'false' },
      { env: { DOCKER_CONFIG: fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-docker-')) }, cwd: dir, cancel: { when: new RegExp(`#\\d+ http://127\\.0\\.0\\.1:${port}/${unique}`) } }
    )
    expect(r.log).toMatch(/SIGINT received/)
    expect(r.outputs.status).toBe('cancelled')
    expect(errorLines(r.log)).toEqual([expect.stringMatching(/the job was cancelled \(SIGINT\)/)])
    // The action ended by itself after stopping buildx, not by the runner's SIGKILL.
    expect(r.code).not.toBe(137)
    expect(r.code).not.toBe(0)
    expect(await processesWith(unique)).toEqual([])
    expect(held.has(`/${unique}`)).toBe(true)
    await waitFor('BuildKit to drop the ADD request of the cancelled build', async () => held.get(`/${unique}`)?.closed, 60_000)
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
