// Supply-chain helpers for e2e tests: images pushed straight through the distribution API, the
// cosign CLI built from its module, and GitHub-style attestations made with the Sigstore
// project's own Fulcio/Rekor stand-ins (@sigstore/mock) served on a loopback port, signed by the
// real @sigstore/sign client and attached as a referrer by @sigstore/oci (what actions/attest
// does with push-to-registry). The trust root names those stand-ins; nothing leaves 127.0.0.1.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { bundleToJSON } from '@sigstore/bundle'
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog, rekorHandler } from '@sigstore/mock'
import { DSSEBundleBuilder, FulcioSigner, RekorWitness } from '@sigstore/sign'
import { run, stack, stackScripts } from './stack.js'

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

const basic = (auth?: { user: string; password: string }): Record<string, string> =>
  auth ? { Authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` } : {}

async function putBlob(registry: string, repo: string, body: Buffer, auth?: { user: string; password: string }): Promise<string> {
  const digest = sha256(body)
  const start = await fetch(`http://${registry}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: basic(auth) })
  if (start.status !== 202) throw new Error(`blob upload to ${registry}/${repo}: HTTP ${start.status}`)
  const location = new URL(start.headers.get('location') ?? '', `http://${registry}`)
  location.searchParams.set('digest', digest)
  const put = await fetch(location, { method: 'PUT', body, headers: { ...basic(auth), 'Content-Type': 'application/octet-stream' } })
  if (put.status !== 201) throw new Error(`blob PUT ${digest}: HTTP ${put.status}`)
  return digest
}

/** Pushes a one-layer OCI image whose content is unique; returns the manifest digest. */
export async function pushImage(registry: string, repo: string, tag: string, auth?: { user: string; password: string }): Promise<string> {
  const layer = Buffer.from(`layer ${randomBytes(16).toString('hex')}`)
  const layerDigest = await putBlob(registry, repo, layer, auth)
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDigest] }, config: {} }))
  const configDigest = await putBlob(registry, repo, config, auth)
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }]
    })
  )
  await putManifest(registry, repo, tag, manifest, 'application/vnd.oci.image.manifest.v1+json', auth)
  return sha256(manifest)
}

export async function putManifest(registry: string, repo: string, reference: string, body: Buffer, type: string, auth?: { user: string; password: string }): Promise<void> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body, headers: { ...basic(auth), 'Content-Type': type } })
  if (res.status !== 201) throw new Error(`manifest PUT ${repo}:${reference}: HTTP ${res.status} ${await res.text()}`)
}

export async function getManifest(registry: string, repo: string, reference: string, auth?: { user: string; password: string }): Promise<{ body: Buffer; type: string }> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${reference}`, {
    headers: { ...basic(auth), Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' }
  })
  if (res.status !== 200) throw new Error(`manifest GET ${repo}:${reference}: HTTP ${res.status}`)
  return { body: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') ?? '' }
}

let cosignPath: string | undefined

/** The cosign binary: env.json's, or build.sh's cached one for an env.json written before it. */
export async function cosignBin(): Promise<string> {
  if (cosignPath) return cosignPath
  const fromEnv = stack().cosign
  if (fromEnv && fs.existsSync(fromEnv)) return (cosignPath = fromEnv)
  const r = await run('bash', [`${stackScripts}build.sh`, 'cosign'], { timeoutMs: 3_600_000 })
  if (r.code !== 0) throw new Error(`test/stack/build.sh cosign failed: ${r.stderr.trim()}`)
  return (cosignPath = r.stdout.trim().split('\n').pop() as string)
}

export interface CosignKeys {
  dir: string
  key: string
  pub: string
  password: string
}

/** cosign generate-key-pair in a directory of its own, password from COSIGN_PASSWORD. */
export async function generateKeyPair(): Promise<CosignKeys> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-cosign-'))
  const password = randomBytes(12).toString('hex')
  const r = await run(await cosignBin(), ['generate-key-pair', '--output-key-prefix', path.join(dir, 'cosign')], { env: { ...process.env, COSIGN_PASSWORD: password, HOME: dir }, timeoutMs: 60_000 })
  if (r.code !== 0 || !fs.existsSync(path.join(dir, 'cosign.pub'))) throw new Error(`cosign generate-key-pair failed: ${r.stderr.trim()}`)
  return { dir, key: path.join(dir, 'cosign.key'), pub: path.join(dir, 'cosign.pub'), password }
}

/** A docker config holding the auth registry's credentials, as `docker login` leaves one. */
export function dockerConfig(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-dockercfg-'))
  const env = stack()
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ auths: { [env.authRegistry]: { auth: Buffer.from(`${env.authUser}:${env.authPassword}`).toString('base64') } } }))
  return dir
}

/**
 * cosign sign by key, offline (no transparency log, no signing config from TUF): `tag` writes
 * the legacy sha256-<hex>.sig manifest, `bundle` the v3 default (Sigstore bundle referrer).
 */
export async function cosignSign(keys: CosignKeys, ref: string, layout: 'tag' | 'bundle'): Promise<void> {
  const args = ['sign', '--key', keys.key, '--tlog-upload=false', '--use-signing-config=false', '--allow-http-registry', '--yes', `--new-bundle-format=${layout === 'bundle'}`, ref]
  const r = await run(await cosignBin(), args, {
    env: { ...process.env, COSIGN_PASSWORD: keys.password, DOCKER_CONFIG: dockerConfig(), HOME: keys.dir, TUF_ROOT: path.join(keys.dir, 'tuf') },
    timeoutMs: 120_000
  })
  if (r.code !== 0) throw new Error(`cosign sign (${layout}) failed: ${r.stderr.trim()}`)
}

/** A checkout with one Deployment (deploy.yaml) that uses the image by repository name. */
export function checkout(image: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-supply-'))
  fs.writeFileSync(
    path.join(dir, 'deploy.yaml'),
    `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: ${image}:latest
`
  )
  return dir
}

// ---- Sigstore stand-ins -----------------------------------------------------------------------

export interface MockSigstore {
  fulcioURL: string
  rekorURL: string
  /** trusted_root.json naming the stand-ins' CA, CT log and Rekor keys */
  trustedRoot: string
  close(): Promise<void>
}

/** Starts the mock Fulcio and Rekor on a loopback port; `caClock` backdates issued certificates. */
export async function mockSigstore(opts: { caClock?: Date } = {}): Promise<MockSigstore> {
  const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ctlog = await initializeCTLog(ec(), opts.caClock)
  const ca = await initializeCA(ec(), ctlog, opts.caClock)
  const server = http.createServer()
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const tlog = await initializeTLog(base, ec())
  const handlers = [fulcioHandler(ca), rekorHandler(tlog)]
  server.on('request', (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', async () => {
      const h = handlers.find(x => x.path === req.url)
      if (!h || req.method !== 'POST') return res.writeHead(404).end()
      const out = await h.fn(Buffer.concat(chunks).toString('utf8'))
      res.writeHead(out.statusCode, { 'Content-Type': out.contentType ?? 'text/plain' }).end(out.response)
    })
  })
  const start = new Date(Date.now() - 24 * 3600_000).toISOString()
  const pubKey = (der: Buffer) => ({ rawBytes: der.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } })
  const root = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{ baseUrl: base, hashAlgorithm: 'SHA2_256', publicKey: pubKey(tlog.publicKey), logId: { keyId: createHash('sha256').update(tlog.publicKey).digest('base64') } }],
    certificateAuthorities: [
      { subject: { organization: 'sigstore.mock', commonName: 'sigstore' }, uri: base, certChain: { certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer).toString('base64') }] }, validFor: { start } }
    ],
    ctlogs: [{ baseUrl: base, hashAlgorithm: 'SHA2_256', publicKey: pubKey(ctlog.publicKey), logId: { keyId: Buffer.from(ctlog.logID.buffer).toString('base64') } }],
    timestampAuthorities: []
  }
  const trustedRoot = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-trust-')), 'trusted_root.json')
  fs.writeFileSync(trustedRoot, JSON.stringify(root))
  return { fulcioURL: base, rekorURL: base, trustedRoot, close: () => new Promise(r => server.close(() => r())) }
}

/** An unsigned JWT with GitHub Actions' claims (the mock Fulcio decodes, it does not verify). */
function githubToken(repository: string, workflow: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const ref = 'refs/heads/main'
  const claims = {
    iss: 'https://token.actions.githubusercontent.com',
    sub: `https://github.com/${repository}/${workflow}@${ref}`,
    aud: 'sigstore',
    repository,
    repository_owner: repository.split('/')[0],
    ref,
    sha: 'a'.repeat(40),
    workflow_ref: `${repository}/${workflow}@${ref}`,
    job_workflow_ref: `${repository}/${workflow}@${ref}`,
    event_name: 'push',
    runner_environment: 'github-hosted',
    exp: Math.floor(Date.now() / 1000) + 600
  }
  return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}.${Buffer.from('sig').toString('base64url')}`
}

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json'

/**
 * Makes a SLSA provenance attestation about `digest`, as actions/attest-build-provenance does,
 * signed through the stand-ins; returns the bundle JSON.
 */
export async function attest(sig: MockSigstore, subject: { name: string; digest: string }, identity: { repository: string; workflow: string }, predicateType = 'https://slsa.dev/provenance/v1'): Promise<Buffer> {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: subject.name, digest: { sha256: subject.digest.replace('sha256:', '') } }],
    predicateType,
    predicate: { buildDefinition: { buildType: 'https://actions.github.io/buildtypes/workflow/v1' }, runDetails: { builder: { id: 'https://github.com/actions/runner' } } }
  }
  const builder = new DSSEBundleBuilder({
    signer: new FulcioSigner({ fulcioBaseURL: sig.fulcioURL, identityProvider: { getToken: async () => githubToken(identity.repository, identity.workflow) } }),
    witnesses: [new RekorWitness({ rekorBaseURL: sig.rekorURL, entryType: 'intoto' })]
  })
  const bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: 'application/vnd.in-toto+json' })
  return Buffer.from(JSON.stringify(bundleToJSON(bundle)))
}

/**
 * Attaches a bundle to the image digest as an OCI 1.1 referrer, as actions/attest does with
 * push-to-registry: an artifact manifest whose subject is the image, listed in the referrers
 * tag index (sha256-<hex>) because the stack's registry 2.8 has no referrers API.
 */
export async function attach(registry: string, repo: string, digest: string, bundle: Buffer, auth?: { user: string; password: string }): Promise<void> {
  const subject = await getManifest(registry, repo, digest, auth)
  const empty = Buffer.from('{}')
  const emptyDigest = await putBlob(registry, repo, empty, auth)
  const bundleDigest = await putBlob(registry, repo, bundle, auth)
  const annotations = { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': 'https://slsa.dev/provenance/v1' }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: BUNDLE_MEDIA_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: empty.length },
      layers: [{ mediaType: BUNDLE_MEDIA_TYPE, digest: bundleDigest, size: bundle.length }],
      subject: { mediaType: subject.type.split(';')[0], digest, size: subject.body.length },
      annotations
    })
  )
  const manifestDigest = sha256(manifest)
  await putManifest(registry, repo, manifestDigest, manifest, 'application/vnd.oci.image.manifest.v1+json', auth)
  const tag = digest.replace(':', '-')
  let index: { schemaVersion: number; mediaType: string; manifests: object[] } = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }
  try {
    index = JSON.parse((await getManifest(registry, repo, tag, auth)).body.toString())
  } catch {
    // no referrers yet
  }
  index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, artifactType: BUNDLE_MEDIA_TYPE, annotations })
  await putManifest(registry, repo, tag, Buffer.from(JSON.stringify(index)), 'application/vnd.oci.image.index.v1+json', auth)
}
