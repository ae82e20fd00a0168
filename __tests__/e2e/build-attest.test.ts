// Provenance by default and signing after push, through dist/index.js on the local stack: builds
// on the stack's buildkitd (buildx remote driver, which can attach attestations) and on dockerd's
// docker driver (which cannot), pushes to the real registries, signs with the real cosign v3
// CLI, and deploys the resulting image index digest.
import { beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { errorLines, runAction, type ActionRun } from './action.js'
import { checkout as deployCheckout, cosignBin, cosignSign, dockerConfig, generateKeyPair, getManifest, type CosignKeys } from './sigstore.js'
import { kubectlJson, run, stack, suiteNamespaces } from './stack.js'

const namespaces = suiteNamespaces()
const unique = (name: string) => `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
const INDEX = 'application/vnd.oci.image.index.v1+json'
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

let keys: CosignKeys
/** A PATH with cosign on it, as a sigstore/cosign-installer step leaves one */
let cosignPathDir: string

beforeAll(async () => {
  keys = await generateKeyPair()
  cosignPathDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-cosign-bin-'))
  fs.symlinkSync(await cosignBin(), path.join(cosignPathDir, 'cosign'))
})

/** A checkout: the Deployment of the supply-chain tests and a FROM scratch context unique to this call. */
function checkout(image: string): string {
  const dir = deployCheckout(image)
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n')
  fs.writeFileSync(path.join(dir, 'hello.txt'), `hello ${Date.now()} ${Math.random()}\n`)
  return dir
}

/** The stack's BuildKit builder: its buildx config and name (up.sh writes both to env.json). */
function buildkit(): { env: Record<string, string>; inputs: Record<string, string> } {
  const b = stack().buildkit
  if (!b) throw new Error('env.json has no buildkit entry: run test/stack/up.sh')
  return { env: { BUILDX_CONFIG: b.buildxConfig }, inputs: { builder: b.builder } }
}

async function ship(image: string, inputs: Record<string, string>, env: Record<string, string> = {}): Promise<{ run: ActionRun; namespace: string; dir: string }> {
  const namespace = await namespaces('attest')
  const dir = checkout(image)
  const r = await runAction(
    { image, context: '.', tags: 'v1', manifests: 'deploy.yaml', namespace, timeout: '4m', comment: 'never', 'github-deployment': 'false', policy: 'off', ...inputs },
    { env: { KUBECONFIG: stack().kubeconfig, DOCKER_CONFIG: fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-docker-')), ...env }, cwd: dir }
  )
  return { run: r, namespace, dir }
}

const liveImage = async (ns: string): Promise<string> => (await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])).spec.template.spec.containers[0].image
const warnings = (log: string) => log.split('\n').filter(l => l.startsWith('::warning'))

interface Index {
  mediaType: string
  manifests: { mediaType: string; digest: string; annotations?: Record<string, string>; platform?: { os: string } }[]
}

/**
 * The index at digest and the SLSA provenance its attestation manifest holds: the predicate type,
 * the builder id, and whether it is mode=max (BuildKit then includes the build's sources).
 */
async function provenanceOf(registry: string, repo: string, digest: string): Promise<{ index: Index; predicateType: string; builderId?: string; max: boolean }> {
  const got = await getManifest(registry, repo, digest)
  expect(got.type).toBe(INDEX)
  const index = JSON.parse(got.body.toString()) as Index
  const att = index.manifests.find(m => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest')
  expect(att?.annotations?.['vnd.docker.reference.digest']).toBe(index.manifests.find(m => m.platform?.os === 'linux')?.digest)
  const manifest = JSON.parse((await getManifest(registry, repo, att!.digest)).body.toString()) as { layers: { digest: string }[] }
  const statement = (await (await fetch(`http://${registry}/v2/${repo}/blobs/${manifest.layers[0].digest}`)).json()) as {
    predicateType: string
    predicate: { runDetails?: { builder?: { id?: string }; metadata?: { buildkit_metadata?: { source?: unknown } } } }
  }
  const run = statement.predicate.runDetails
  return { index, predicateType: statement.predicateType, builderId: run?.builder?.id || undefined, max: run?.metadata?.buildkit_metadata?.source !== undefined }
}

describe('provenance by default', () => {
  it('on a builder that can attest: the digest is an image index with a provenance attestation, deployed pinned and reported', async () => {
    const repo = unique('e2e/prov')
    const image = `${stack().registry}/${repo}`
    const bk = buildkit()
    const r = await ship(image, bk.inputs, bk.env)
    expect(errorLines(r.run.log)).toEqual([])
    expect(warnings(r.run.log)).toEqual([])
    expect(r.run.code).toBe(0)
    const digest = r.run.outputs.digest
    // What the registry serves for the tag is the index, and the output names it.
    const tag = await fetch(`http://${stack().registry}/v2/${repo}/manifests/v1`, { method: 'HEAD', headers: { Accept: `${INDEX}, ${MANIFEST}` } })
    expect(tag.headers.get('content-type')).toBe(INDEX)
    expect(digest).toBe(tag.headers.get('docker-content-digest'))
    const prov = await provenanceOf(stack().registry, repo, digest)
    expect(prov).toMatchObject({ predicateType: 'https://slsa.dev/provenance/v1', max: true })
    expect(r.run.outputs['image-ref']).toBe(`${image}@${digest}`)
    expect(await liveImage(r.namespace)).toBe(`${image}@${digest}`)
    expect(r.run.outputs.status).toBe('succeeded')
    expect(r.run.summary).toMatch(/Attestations \| provenance \(mode=max\) \(the digest is an image index\)/)
  })

  it('in a private repository: mode=min, and the builder id is the workflow run', async () => {
    const repo = unique('e2e/provmin')
    const bk = buildkit()
    const event = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-event-')), 'event.json')
    fs.writeFileSync(event, JSON.stringify({ repository: { full_name: 'acme/web', private: true } }))
    // No github-token: nothing is sent to GitHub; the event payload says the repository is private.
    const github = { GITHUB_REPOSITORY: 'acme/web', GITHUB_EVENT_NAME: 'push', GITHUB_EVENT_PATH: event, GITHUB_SHA: 'a'.repeat(40), GITHUB_RUN_ID: '4711', GITHUB_SERVER_URL: 'https://github.com' }
    const r = await ship(`${stack().registry}/${repo}`, bk.inputs, { ...bk.env, ...github })
    expect(errorLines(r.run.log)).toEqual([])
    expect(r.run.code).toBe(0)
    const prov = await provenanceOf(stack().registry, repo, r.run.outputs.digest)
    expect(prov).toMatchObject({ max: false, builderId: 'https://github.com/acme/web/actions/runs/4711' })
    expect(r.run.summary).toMatch(/Attestations \| provenance \(mode=min\)/)
  })

  it('the docker driver cannot attest: no provenance by default, and an explicit provenance or sbom is ignored with one warning naming the input', async () => {
    const repo = unique('e2e/noprov')
    const image = `${stack().registry}/${repo}`
    const r = await ship(image, { provenance: 'mode=max', sbom: 'true' })
    expect(errorLines(r.run.log)).toEqual([])
    expect(warnings(r.run.log)).toEqual([
      expect.stringMatching(/^::warning::input 'provenance' is ignored: builder '[^']+' uses the docker driver without the containerd image store/),
      expect.stringMatching(/^::warning::input 'sbom' is ignored: builder '[^']+' uses the docker driver/)
    ])
    expect(r.run.code).toBe(0)
    // dockerd 20.10 pushes a Docker v2 manifest: one image, no index.
    expect((await getManifest(stack().registry, repo, r.run.outputs.digest)).type).toBe('application/vnd.docker.distribution.manifest.v2+json')
    expect(await liveImage(r.namespace)).toBe(`${image}@${r.run.outputs.digest}`)
    expect(r.run.summary).not.toMatch(/Attestations/)

    const quiet = await ship(`${stack().registry}/${unique('e2e/noprov')}`, {})
    expect(warnings(quiet.run.log)).toEqual([])
    expect(quiet.run.log).toMatch(/no provenance attestation: builder '[^']+' uses the docker driver/)
  })

  it('provenance: false on a builder that can attest keeps one manifest', async () => {
    const repo = unique('e2e/provoff')
    const bk = buildkit()
    const r = await ship(`${stack().registry}/${repo}`, { ...bk.inputs, provenance: 'false' }, bk.env)
    expect(r.run.code).toBe(0)
    expect((await getManifest(stack().registry, repo, r.run.outputs.digest)).type).toBe(MANIFEST)
  })

  it('an index digest given in `digest`: the registry check finds it, cosign and kube-ship verify it, the deploy pins it', async () => {
    const repo = unique('e2e/provdigest')
    const image = `${stack().registry}/${repo}`
    const bk = buildkit()
    const built = await runAction({ image, context: '.', tags: 'v1', ...bk.inputs }, { env: { ...bk.env, DOCKER_CONFIG: fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-docker-')) }, cwd: checkout(image) })
    expect(built.code).toBe(0)
    const digest = built.outputs.digest
    await provenanceOf(stack().registry, repo, digest)
    await cosignSign(keys, `${image}@${digest}`, 'bundle')
    // The real cosign CLI accepts the signature on the index digest.
    const verified = await run(await cosignBin(), ['verify', '--key', keys.pub, '--insecure-ignore-tlog', '--allow-http-registry', `${image}@${digest}`], {
      env: { ...process.env, DOCKER_CONFIG: dockerConfig(), HOME: keys.dir, TUF_ROOT: path.join(keys.dir, 'tuf') },
      timeoutMs: 60_000
    })
    expect({ code: verified.code, stderr: verified.code ? verified.stderr : '' }).toEqual({ code: 0, stderr: '' })
    const r = await ship(image, { digest, verify: 'signature', 'cosign-key': keys.pub })
    expect(errorLines(r.run.log)).toEqual([])
    expect(r.run.code).toBe(0)
    expect(r.run.log).toMatch(new RegExp(`Using ${image.replace(/[.]/g, '\\.')}@${digest} \\(found in the registry\\)`))
    expect(await liveImage(r.namespace)).toBe(`${image}@${digest}`)
    expect(r.run.summary).toMatch(/Cosign signature by key SHA256:/)
  })
})

describe('sign after push', () => {
  it('builds with provenance, signs, verifies and deploys in one run; cosign verify accepts what it signed', async () => {
    const repo = unique('e2e/signed-build')
    const image = `${stack().registry}/${repo}`
    const bk = buildkit()
    const r = await ship(
      image,
      { ...bk.inputs, 'sign-key': keys.key, 'sign-key-password': keys.password, verify: 'signature', 'cosign-key': keys.pub },
      { ...bk.env, PATH: `${cosignPathDir}${path.delimiter}${process.env.PATH}`, HOME: keys.dir }
    )
    expect(errorLines(r.run.log)).toEqual([])
    expect(r.run.code).toBe(0)
    const digest = r.run.outputs.digest
    await provenanceOf(stack().registry, repo, digest)
    expect(await liveImage(r.namespace)).toBe(`${image}@${digest}`)
    expect(r.run.summary).toMatch(/Signed \| Cosign key <code>SHA256:[A-Za-z0-9+/]{43}<\/code>/)
    expect(r.run.summary).toMatch(/Verified \| Cosign signature by key SHA256:/)
    // Nothing secret in the log: the password is masked wherever it would appear.
    expect(r.run.log.split('\n').filter(l => !l.startsWith('::add-mask::')).join('\n')).not.toContain(keys.password)
    const verified = await run(await cosignBin(), ['verify', '--key', keys.pub, '--insecure-ignore-tlog', '--allow-http-registry', `${image}@${digest}`], {
      env: { ...process.env, DOCKER_CONFIG: dockerConfig(), HOME: keys.dir, TUF_ROOT: path.join(keys.dir, 'tuf') },
      timeoutMs: 60_000
    })
    expect(verified.code).toBe(0)
  })

  it('without cosign on PATH: one line naming sign-key, before anything is built', async () => {
    const repo = unique('e2e/nocosign')
    const r = await ship(`${stack().registry}/${repo}`, { 'sign-key': keys.key, 'sign-key-password': keys.password }, { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' })
    expect(errorLines(r.run.log)).toEqual([expect.stringMatching(/^::error::input 'sign-key': signing needs the cosign CLI on PATH/)])
    expect(r.run.log).not.toMatch(/buildx build/)
  })

  it('a wrong key password: one line, nothing deployed', async () => {
    const repo = unique('e2e/badpass')
    const r = await ship(`${stack().registry}/${repo}`, { 'sign-key': keys.key, 'sign-key-password': 'not-the-password' }, { PATH: `${cosignPathDir}${path.delimiter}${process.env.PATH}`, HOME: keys.dir })
    const errors = errorLines(r.run.log)
    expect(errors).toEqual([expect.stringMatching(/^::error::input 'sign-key': cosign cannot read the key/)])
    expect((await run('kubectl', ['--kubeconfig', stack().kubeconfig, '-n', r.namespace, 'get', 'deployment', 'web'])).code).not.toBe(0)
  })
})
