// The image stage through the bundled action against the real Docker engine, buildx and the two
// local registries (open and htpasswd).
import { beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { errorLines, runAction } from './action.js'
import { stack, type StackEnv } from './stack.js'

let env: StackEnv
let dockerEnv: Record<string, string>

beforeAll(() => {
  env = stack()
  // A docker config of its own per run: a login must not leak into other tests or the machine.
  dockerEnv = { DOCKER_HOST: env.dockerHost, DOCKER_CONFIG: fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-docker-')) }
})

/** A FROM scratch build context whose content (and so digest) is unique to this call. */
function fixture(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-app-'))
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n')
  fs.writeFileSync(path.join(dir, 'hello.txt'), `hello ${Date.now()} ${Math.random()}\n`)
  return dir
}

const unique = (name: string) => `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`

/** What the registry itself says the tag points at. */
async function registryDigest(registry: string, repo: string, tag: string, auth?: string): Promise<string | null> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
    headers: {
      Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json',
      ...(auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {})
    }
  })
  expect(res.status).toBe(200)
  return res.headers.get('docker-content-digest')
}

describe('image stage', () => {
  it('builds, pushes and outputs the digest the registry serves', async () => {
    const repo = unique('e2e/app')
    const run = await runAction({ image: `${env.registry}/${repo}`, context: fixture(), tags: 'v1,extra' }, { env: { ...dockerEnv, GITHUB_SHA: 'f'.repeat(40) } })
    expect(errorLines(run.log)).toEqual([])
    expect(run.code).toBe(0)
    const served = await registryDigest(env.registry, repo, 'v1')
    expect(run.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(run.outputs.digest).toBe(served)
    expect(await registryDigest(env.registry, repo, 'extra')).toBe(served)
    expect(run.outputs['image-ref']).toBe(`${env.registry}/${repo}@${served}`)
    expect(run.outputs.tags).toBe('v1,extra')
  })

  it('tags with the short commit SHA by default', async () => {
    const repo = unique('e2e/sha')
    const run = await runAction({ image: `${env.registry}/${repo}`, context: fixture() }, { env: { ...dockerEnv, GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567' } })
    expect(run.code).toBe(0)
    expect(run.outputs.tags).toBe('0123456')
    expect(await registryDigest(env.registry, repo, '0123456')).toBe(run.outputs.digest)
  })

  it('fails on the auth registry without credentials, with one clear line', async () => {
    const run = await runAction({ image: `${env.authRegistry}/${unique('e2e/private')}`, context: fixture(), tags: 'v1' }, { env: dockerEnv })
    expect(run.code).not.toBe(0)
    const errors = errorLines(run.log)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/docker buildx build failed: .*(unauthorized|authentication required|no basic auth credentials)/i)
    expect(run.log).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/) // no stack trace
    expect(run.outputs.digest).toBeUndefined()
  })

  it('logs in with masked credentials, pushes, and never prints the password', async () => {
    const repo = unique('e2e/private')
    const run = await runAction(
      { image: `${env.authRegistry}/${repo}`, context: fixture(), tags: 'v1', 'registry-username': env.authUser, 'registry-password': env.authPassword },
      { env: dockerEnv }
    )
    expect(errorLines(run.log)).toEqual([])
    expect(run.code).toBe(0)
    expect(run.outputs.digest).toBe(await registryDigest(env.authRegistry, repo, 'v1', `${env.authUser}:${env.authPassword}`))
    expect(run.log).toContain(`::add-mask::${env.authPassword}`)
    const withoutMaskCommand = run.log.replaceAll(`::add-mask::${env.authPassword}`, '')
    expect(withoutMaskCommand).not.toContain(env.authPassword)
    expect(run.postLog).not.toContain(env.authPassword)
    expect(run.summary).not.toContain(env.authPassword)
  })

  it('rejects wrong credentials clearly', async () => {
    const run = await runAction(
      { image: `${env.authRegistry}/${unique('e2e/private')}`, context: fixture(), 'registry-username': env.authUser, 'registry-password': 'wrong-password', tags: 'v1' },
      { env: dockerEnv }
    )
    expect(run.code).not.toBe(0)
    expect(errorLines(run.log)).toEqual([expect.stringMatching(/^::error::input 'registry-username': docker login to 127\.0\.0\.1:\d+ failed: .*unauthorized/i)])
    expect(run.log.replaceAll('::add-mask::wrong-password', '')).not.toContain('wrong-password')
  })

  it('uses a given digest after checking the registry has it', async () => {
    const repo = unique('e2e/given')
    const built = await runAction({ image: `${env.registry}/${repo}`, context: fixture(), tags: 'v1' }, { env: dockerEnv })
    expect(built.code).toBe(0)
    const run = await runAction({ image: `${env.registry}/${repo}`, digest: built.outputs.digest }, { env: dockerEnv })
    expect(errorLines(run.log)).toEqual([])
    expect(run.outputs.digest).toBe(built.outputs.digest)
    expect(run.outputs['image-ref']).toBe(`${env.registry}/${repo}@${built.outputs.digest}`)

    const missing = 'sha256:' + '0'.repeat(64)
    const bad = await runAction({ image: `${env.registry}/${repo}`, digest: missing }, { env: dockerEnv })
    expect(bad.code).not.toBe(0)
    expect(errorLines(bad.log)).toEqual([`::error::input 'digest': the registry has no manifest for ${env.registry}/${repo}@${missing} (was it pushed to this repository?)`])
  })

  it.each([
    [{ context: '/nonexistent/dir' }, "::error::input 'context': build context '/nonexistent/dir' is not a directory"],
    [{ file: 'Dockerfile.missing' }, "::error::input 'file': Dockerfile 'Dockerfile.missing' does not exist"],
    [{ image: 'Bad Name' }, "::error::input 'image': 'Bad Name' is not an image reference"]
  ])('bad input %j ends in one line', async (inputs, prefix) => {
    const run = await runAction({ image: `${env.registry}/e2e/bad`, context: fixture(), tags: 'v1', ...inputs }, { env: dockerEnv })
    expect(run.code).not.toBe(0)
    const errors = errorLines(run.log)
    expect(errors).toHaveLength(1)
    expect(errors[0].startsWith(prefix)).toBe(true)
  })

  it('says the registry is unreachable', async () => {
    const port = await closedPort()
    const run = await runAction({ image: `127.0.0.1:${port}/e2e/app`, digest: 'sha256:' + '1'.repeat(64) }, { env: dockerEnv })
    expect(run.code).not.toBe(0)
    expect(errorLines(run.log)).toEqual([`::error::127.0.0.1:${port}/e2e/app@sha256:${'1'.repeat(64)}: registry 127.0.0.1:${port} is unreachable: Error: connect ECONNREFUSED 127.0.0.1:${port}`])
  })
})

/** A loopback port nothing listens on: bound by us, then released. */
function closedPort(): Promise<number> {
  return new Promise(resolve => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}
