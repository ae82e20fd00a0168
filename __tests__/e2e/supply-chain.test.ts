// Verify before apply, through dist/index.js on the local stack: images in the stack's real
// registries (open and htpasswd), signed by the real cosign v3 CLI with a generated key pair in
// both layouts, and GitHub-style attestations made through the Sigstore project's Fulcio/Rekor
// stand-ins. Every refusal is checked to leave the cluster as it was: no Deployment appears.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { errorLines, runAction, type ActionRun } from './action.js'
import { attach, attest, checkout, cosignSign, generateKeyPair, getManifest, mockSigstore, pushImage, putManifest, type CosignKeys, type MockSigstore } from './sigstore.js'
import { kubectlResult, stack, suiteNamespaces } from './stack.js'

const namespaces = suiteNamespaces()
const unique = (name: string) => `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
const REPO = 'acme/web'
const WORKFLOW = '.github/workflows/release.yml'

let keys: CosignKeys
let otherKeys: CosignKeys
let sigstore: MockSigstore
let expiredSigstore: MockSigstore
let strangerSigstore: MockSigstore

beforeAll(async () => {
  keys = await generateKeyPair()
  otherKeys = await generateKeyPair()
  sigstore = await mockSigstore()
  // A CA whose clock is an hour behind: its 10-minute certificates have expired when Rekor logs the signature.
  expiredSigstore = await mockSigstore({ caClock: new Date(Date.now() - 3600_000) })
  strangerSigstore = await mockSigstore()
})
afterAll(async () => {
  await sigstore?.close()
  await expiredSigstore?.close()
  await strangerSigstore?.close()
})

async function deploy(registry: string, repo: string, digest: string, extra: Record<string, string>): Promise<{ run: ActionRun; namespace: string }> {
  const namespace = await namespaces('supply')
  const image = `${registry}/${repo}`
  const run = await runAction(
    { image, digest, manifests: 'deploy.yaml', namespace, timeout: '4m', comment: 'never', 'github-deployment': 'false', policy: 'off', ...extra },
    { env: { KUBECONFIG: stack().kubeconfig, DOCKER_CONFIG: fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-docker-')) }, cwd: checkout(image) }
  )
  return { run, namespace }
}

const deploymentExists = async (namespace: string): Promise<boolean> => (await kubectlResult(['-n', namespace, 'get', 'deployment', 'web'])).code === 0

/** A refusal: one ::error:: line matching `pattern`, no stack trace, nothing in the namespace. */
async function expectRefused(r: { run: ActionRun; namespace: string }, pattern: RegExp): Promise<void> {
  const errors = errorLines(r.run.log)
  expect(errors).toHaveLength(1)
  expect(errors[0]).toMatch(pattern)
  expect(r.run.code).not.toBe(0)
  expect(r.run.log).not.toMatch(/\n\s+at .*:\d+:\d+\)?\n/)
  expect(await deploymentExists(r.namespace)).toBe(false)
}

const signature = (k: CosignKeys) => ({ verify: 'signature', 'cosign-key': k.pub })
const attestation = (extra: Record<string, string> = {}) => ({ verify: 'attestation', 'attestation-repository': REPO, 'attestation-workflow': WORKFLOW, 'trusted-root': sigstore.trustedRoot, ...extra })

describe('Cosign signature by key', () => {
  it.each(['tag', 'bundle'] as const)('deploys a digest signed in the %s layout and reports the key', async layout => {
    const repo = unique(`e2e/signed-${layout}`)
    const digest = await pushImage(stack().registry, repo, 'v1')
    await cosignSign(keys, `${stack().registry}/${repo}@${digest}`, layout)
    const r = await deploy(stack().registry, repo, digest, signature(keys))
    expect(errorLines(r.run.log)).toEqual([])
    expect(r.run.code).toBe(0)
    expect(await deploymentExists(r.namespace)).toBe(true)
    expect(r.run.summary).toMatch(new RegExp(`Cosign signature by key SHA256:[A-Za-z0-9+/]{43} \\(${layout === 'tag' ? 'tag layout' : 'Sigstore bundle referrer'}\\)`))
  })

  it('refuses an unsigned digest', async () => {
    const repo = unique('e2e/unsigned')
    const digest = await pushImage(stack().registry, repo, 'v1')
    await expectRefused(await deploy(stack().registry, repo, digest, signature(keys)), /input 'verify': refusing .*@sha256:[a-f0-9]{64}: has no Cosign signature/)
  })

  it.each(['tag', 'bundle'] as const)('refuses a digest signed by another key (%s layout)', async layout => {
    const repo = unique('e2e/wrongkey')
    const digest = await pushImage(stack().registry, repo, 'v1')
    await cosignSign(otherKeys, `${stack().registry}/${repo}@${digest}`, layout)
    await expectRefused(await deploy(stack().registry, repo, digest, signature(keys)), /has no valid Cosign signature: .*does not verify with cosign-key SHA256:/)
  })

  it('refuses a signature copied from another digest (tag layout)', async () => {
    const repo = unique('e2e/otherdigest')
    const signed = await pushImage(stack().registry, repo, 'v1')
    const target = await pushImage(stack().registry, repo, 'v2')
    await cosignSign(keys, `${stack().registry}/${repo}@${signed}`, 'tag')
    // The attacker re-tags the valid signature manifest (same blobs) under the other digest.
    const sig = await getManifest(stack().registry, repo, `${signed.replace(':', '-')}.sig`)
    await putManifest(stack().registry, repo, `${target.replace(':', '-')}.sig`, sig.body, sig.type)
    await expectRefused(await deploy(stack().registry, repo, target, signature(keys)), new RegExp(`is by the key but it signs ${signed}, not ${target}`))
  })

  it('refuses a Sigstore bundle signature of another digest attached to this one', async () => {
    const repo = unique('e2e/otherbundle')
    const signed = await pushImage(stack().registry, repo, 'v1')
    const target = await pushImage(stack().registry, repo, 'v2')
    const bundleFile = path.join(keys.dir, `${unique('b')}.json`)
    await cosignSign(keys, `${stack().registry}/${repo}@${signed}`, 'bundle')
    // Take the bundle cosign attached to `signed` and attach it to `target` as well.
    const index = JSON.parse((await getManifest(stack().registry, repo, signed.replace(':', '-'))).body.toString()) as { manifests: { digest: string }[] }
    const m = JSON.parse((await getManifest(stack().registry, repo, index.manifests[0].digest)).body.toString()) as { layers: { digest: string }[] }
    const blob = Buffer.from(await (await fetch(`http://${stack().registry}/v2/${repo}/blobs/${m.layers[0].digest}`)).arrayBuffer())
    fs.writeFileSync(bundleFile, blob)
    await attach(stack().registry, repo, target, blob)
    await expectRefused(await deploy(stack().registry, repo, target, signature(keys)), new RegExp(`is signed by the key but it is about ${signed}, not ${target}`))
  })

  it('reads signatures from the auth registry with the image stage credentials', async () => {
    const env = stack()
    const auth = { user: env.authUser, password: env.authPassword }
    const repo = unique('e2e/private-signed')
    const digest = await pushImage(env.authRegistry, repo, 'v1', auth)
    await cosignSign(keys, `${env.authRegistry}/${repo}@${digest}`, 'bundle')
    const creds = { 'registry-username': env.authUser, 'registry-password': env.authPassword }
    const ok = await deploy(env.authRegistry, repo, digest, { ...signature(keys), ...creds })
    expect(errorLines(ok.run.log)).toEqual([])
    expect(await deploymentExists(ok.namespace)).toBe(true)
    expect(ok.run.log.split('\n').filter(l => !l.startsWith('::add-mask::')).join('\n')).not.toContain(env.authPassword)
    // The same digest without credentials: the registry refuses, and so does the action.
    const denied = await deploy(env.authRegistry, repo, digest, signature(keys))
    await expectRefused(denied, /registry-username/)
  })
})

describe('GitHub artifact attestation (Sigstore bundle, keyless)', () => {
  async function attested(identity: { repository: string; workflow: string }, via: MockSigstore = sigstore, predicate?: string): Promise<{ repo: string; digest: string }> {
    const repo = unique('e2e/attested')
    const digest = await pushImage(stack().registry, repo, 'v1')
    const bundle = await attest(via, { name: `${stack().registry}/${repo}`, digest }, identity, predicate)
    await attach(stack().registry, repo, digest, bundle)
    return { repo, digest }
  }

  it('deploys a digest attested by the expected repository and workflow, and reports the identity', async () => {
    const { repo, digest } = await attested({ repository: REPO, workflow: WORKFLOW })
    const r = await deploy(stack().registry, repo, digest, attestation())
    expect(errorLines(r.run.log)).toEqual([])
    expect(await deploymentExists(r.namespace)).toBe(true)
    expect(r.run.summary).toContain(`https://slsa.dev/provenance/v1 attestation by https://github.com/${REPO}/${WORKFLOW}@refs/heads/main`)
  })

  it('refuses an attestation made in another repository', async () => {
    const { repo, digest } = await attested({ repository: 'evil/web', workflow: WORKFLOW })
    await expectRefused(await deploy(stack().registry, repo, digest, attestation()), /has no valid https:\/\/slsa\.dev\/provenance\/v1 attestation: it was made in evil\/web, not acme\/web/)
  })

  it('refuses an attestation from another workflow of the repository', async () => {
    const { repo, digest } = await attested({ repository: REPO, workflow: '.github/workflows/pr.yml' })
    await expectRefused(await deploy(stack().registry, repo, digest, attestation()), /signed by workflow https:\/\/github\.com\/acme\/web\/\.github\/workflows\/pr\.yml@refs\/heads\/main, which does not match/)
  })

  it('refuses an attestation whose certificate had expired when it was logged', async () => {
    const { repo, digest } = await attested({ repository: REPO, workflow: WORKFLOW }, expiredSigstore)
    const trust = { 'trusted-root': expiredSigstore.trustedRoot }
    await expectRefused(await deploy(stack().registry, repo, digest, attestation(trust)), /its certificate had expired \(valid until .*\) when the signature was logged at /)
  })

  it('refuses an attestation signed by a CA the trusted root does not name', async () => {
    const { repo, digest } = await attested({ repository: REPO, workflow: WORKFLOW }, strangerSigstore)
    await expectRefused(await deploy(stack().registry, repo, digest, attestation()), /its Sigstore verification failed/)
  })

  it('refuses a digest with no attestation, and one whose attestation is about another digest', async () => {
    const { repo, digest } = await attested({ repository: REPO, workflow: WORKFLOW })
    const other = await pushImage(stack().registry, repo, 'v2')
    await expectRefused(await deploy(stack().registry, repo, other, attestation()), /has no https:\/\/slsa\.dev\/provenance\/v1 attestation/)
    const bundle = await attest(sigstore, { name: repo, digest }, { repository: REPO, workflow: WORKFLOW })
    await attach(stack().registry, repo, other, bundle)
    await expectRefused(await deploy(stack().registry, repo, other, attestation()), new RegExp(`it is about ${digest}, not ${other}`))
  })

  it('needs both when verify is both', async () => {
    const { repo, digest } = await attested({ repository: REPO, workflow: WORKFLOW })
    await expectRefused(await deploy(stack().registry, repo, digest, { ...attestation(), verify: 'both', 'cosign-key': keys.pub }), /has no Cosign signature/)
    await cosignSign(keys, `${stack().registry}/${repo}@${digest}`, 'bundle')
    const r = await deploy(stack().registry, repo, digest, { ...attestation(), verify: 'both', 'cosign-key': keys.pub })
    expect(errorLines(r.run.log)).toEqual([])
    expect(r.run.summary).toContain('Cosign signature by key')
    expect(r.run.summary).toContain('attestation by')
  })
})

describe('policy enforce with verify', () => {
  it('refuses a tag-only image reference beside the verified digest, before anything is applied', async () => {
    const repo = unique('e2e/enforce')
    const digest = await pushImage(stack().registry, repo, 'v1')
    await cosignSign(keys, `${stack().registry}/${repo}@${digest}`, 'tag')
    const namespace = await namespaces('supply')
    const image = `${stack().registry}/${repo}`
    const dir = checkout(image)
    fs.appendFileSync(path.join(dir, 'deploy.yaml'), '        - name: sidecar\n          image: registry.example/tools/proxy:1.2\n')
    const run = await runAction(
      { image, digest, manifests: 'deploy.yaml', namespace, timeout: '2m', comment: 'never', 'github-deployment': 'false', policy: 'enforce', ...signature(keys) },
      { env: { KUBECONFIG: stack().kubeconfig }, cwd: dir }
    )
    expect(run.code).not.toBe(0)
    expect(run.log).toMatch(/registry\.example\/tools\/proxy:1\.2' is not pinned by digest/)
    expect(await deploymentExists(namespace)).toBe(false)
  })
})
