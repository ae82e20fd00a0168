// Verify before apply: the digest about to be deployed must carry a Cosign signature by the
// given key and/or a Sigstore attestation (GitHub artifact attestation) whose certificate names
// the expected repository and workflow. Signatures are read from the registry in both layouts
// Cosign writes: the tag-based `sha256-<hex>.sig` manifest (simple-signing payload layers) and
// OCI 1.1 referrers carrying a Sigstore bundle (Cosign v3's default, and actions/attest's
// push-to-registry). The decisions (payload checks, identity match, messages) are pure; the
// registry reads and the Sigstore verifier calls are the thin part at the bottom.
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto'
import * as fs from 'node:fs'
import { bundleFromJSON, type Bundle } from '@sigstore/bundle'
import { X509Certificate } from '@sigstore/core'
import { TrustedRoot } from '@sigstore/protobuf-specs'
import { toSignedEntity, toTrustMaterial, Verifier, type TrustMaterial } from '@sigstore/verify'
import { DeployError } from '../errors.js'
import { type ImageRef, pinned } from './reference.js'
import { authorize, registryBase, type Credentials } from './registry.js'

export type VerifyMode = 'none' | 'signature' | 'attestation' | 'both'

export interface AttestationPolicy {
  /** owner/name the attestation's certificate must name as its source repository */
  repository: string
  /** workflow file (e.g. .github/workflows/release.yml) or a regular expression over the signer workflow URI */
  workflow?: string
  /** OIDC issuer in the certificate */
  issuer: string
  /** in-toto predicate type required, e.g. https://slsa.dev/provenance/v1 */
  predicateType: string
  /** Sigstore trusted_root.json: the Fulcio CA, Rekor and timestamp keys to trust */
  trustedRoot: string
}

export interface VerifySettings {
  mode: VerifyMode
  /** PEM public key text (already read from a path by the inputs module) */
  cosignKey?: string
  attestation?: AttestationPolicy
}

/** What was checked, for the report. */
export interface Verified {
  kind: 'signature' | 'attestation'
  /** tag (sha256-<hex>.sig) or referrer (Sigstore bundle) */
  layout: 'tag' | 'referrer'
  /** SHA256:<base64> of the key's DER, as `cosign public-key` users compare it */
  keyFingerprint?: string
  /** certificate SAN (the signing workflow) */
  identity?: string
  predicateType?: string
}

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com'
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1'
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1'
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json'
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature'
const BUNDLE_TYPE = /^application\/vnd\.dev\.sigstore\.bundle(\.v0\.3)?\+json/
const INTOTO_PAYLOAD = 'application/vnd.in-toto+json'

// Fulcio certificate extensions (docs: sigstore/fulcio docs/oid-info.md).
const OID = {
  issuerV2: '1.3.6.1.4.1.57264.1.8',
  issuerV1: '1.3.6.1.4.1.57264.1.1',
  sourceRepositoryUri: '1.3.6.1.4.1.57264.1.12',
  buildSignerUri: '1.3.6.1.4.1.57264.1.9',
  legacyRepository: '1.3.6.1.4.1.57264.1.5'
}

// ---- pure decisions -------------------------------------------------------------------------

export const needsSignature = (m: VerifyMode): boolean => m === 'signature' || m === 'both'
export const needsAttestation = (m: VerifyMode): boolean => m === 'attestation' || m === 'both'

/** The tag Cosign's legacy layout stores a digest's signatures under. */
export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`
}

/** The OCI 1.1 referrers tag schema, for registries without the referrers API. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-')
}

/** SHA256:<base64 of DER SPKI>: names a key without printing it. */
export function keyFingerprint(key: KeyObject): string {
  return `SHA256:${createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('base64').replace(/=+$/, '')}`
}

/** Parses a PEM public key; the error names the input. */
export function parsePublicKey(pem: string): KeyObject {
  try {
    return createPublicKey(pem)
  } catch (err) {
    throw new DeployError(`not a PEM public key (${(err as Error).message}); give the cosign.pub text or its path`, { input: 'cosign-key' })
  }
}

/**
 * A simple-signing payload names the digest it signs; the reason it does not match, else
 * undefined.
 */
export function simpleSigningMismatch(payload: string, digest: string): string | undefined {
  let doc: { critical?: { type?: string; image?: { 'docker-manifest-digest'?: string } } }
  try {
    doc = JSON.parse(payload)
  } catch {
    return 'its payload is not JSON'
  }
  const signed = doc.critical?.image?.['docker-manifest-digest']
  if (doc.critical?.type !== 'cosign container image signature') return 'its payload is not a cosign container image signature'
  if (signed !== digest) return `it signs ${signed ?? 'no digest'}, not ${digest}`
  return undefined
}

interface Statement {
  _type?: string
  subject?: { digest?: Record<string, string> }[]
  predicateType?: string
}

/** An in-toto statement must name the digest among its subjects and carry the predicate type. */
export function statementMismatch(payload: string, digest: string, predicateType: string): string | undefined {
  let st: Statement
  try {
    st = JSON.parse(payload)
  } catch {
    return 'its in-toto statement is not JSON'
  }
  const [algo, hex] = digest.split(':')
  const subjects = (st.subject ?? []).map(s => s.digest?.[algo]).filter(Boolean)
  if (!subjects.includes(hex)) return `it is about ${subjects.length ? subjects.map(h => `${algo}:${h}`).join(', ') : 'no digest'}, not ${digest}`
  if (st.predicateType !== predicateType) return `its predicate is ${st.predicateType ?? 'missing'}, not ${predicateType}`
  return undefined
}

/** Extension value as text: v2 Fulcio extensions are DER UTF8Strings, v1 ones raw bytes. */
export function extensionText(value: Buffer): string {
  if (value[0] === 0x0c && value.length > 1) {
    let len = value[1]
    let start = 2
    if (len & 0x80) {
      const n = len & 0x7f
      len = value.subarray(2, 2 + n).reduce((acc, b) => acc * 256 + b, 0)
      start = 2 + n
    }
    if (start + len === value.length) return value.subarray(start).toString('utf8')
  }
  return value.toString('utf8')
}

export interface CertIdentity {
  san?: string
  issuer?: string
  /** https://github.com/owner/name */
  sourceRepository?: string
}

/** What `gh attestation verify --repo R --signer-workflow W` checks, as a reason or undefined. */
export function identityMismatch(id: CertIdentity, want: AttestationPolicy): string | undefined {
  if (id.issuer !== want.issuer) return `its certificate was issued for ${id.issuer ?? 'no issuer'}, not ${want.issuer}`
  const repoUri = `https://github.com/${want.repository}`
  if (id.sourceRepository?.toLowerCase() !== repoUri.toLowerCase())
    return `it was made in ${id.sourceRepository?.replace('https://github.com/', '') ?? 'an unknown repository'}, not ${want.repository}`
  if (want.workflow && !workflowPattern(want).test(id.san ?? ''))
    return `it was signed by workflow ${id.san ?? '(none)'}, which does not match ${want.workflow}`
  return undefined
}

/** A workflow path becomes an anchored match on the signer URI; anything else is a regex. */
export function workflowPattern(want: AttestationPolicy): RegExp {
  const w = want.workflow ?? ''
  if (/^\.github\/workflows\/[\w.-]+\.ya?ml$/.test(w)) {
    const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
    return new RegExp(`^${esc(`https://github.com/${want.repository}/${w}`)}@`, 'i')
  }
  return new RegExp(w)
}

/**
 * Fulcio certificates live minutes; a signature counts only when a logged or stamped time falls
 * inside the certificate's validity. The reason it does not, else undefined.
 */
export function validityMismatch(notBefore: Date, notAfter: Date, times: Date[]): string | undefined {
  const outside = times.find(t => t < notBefore || t > notAfter)
  if (!outside) return undefined
  return outside > notAfter
    ? `its certificate had expired (valid until ${notAfter.toISOString()}) when the signature was logged at ${outside.toISOString()}`
    : `its certificate was not yet valid (from ${notBefore.toISOString()}) when the signature was logged at ${outside.toISOString()}`
}

/** One line for a refusal; `what` says which evidence was wanted. */
export function refusal(image: string, what: string, why: string): DeployError {
  return new DeployError(`refusing ${image}: ${what} ${why}`, { input: 'verify' })
}

// ---- I/O: the registry ----------------------------------------------------------------------

interface Descriptor {
  mediaType?: string
  digest: string
  artifactType?: string
  annotations?: Record<string, string>
}
interface Manifest {
  mediaType?: string
  artifactType?: string
  config?: Descriptor
  layers?: Descriptor[]
  manifests?: Descriptor[]
}

/** Reads manifests and blobs of one repository; one token per run, as the pull scope allows. */
class RepoReader {
  private auth?: string
  constructor(
    private ref: ImageRef,
    private creds?: Credentials,
    private signal?: AbortSignal
  ) {}

  private async get(path: string, accept: string): Promise<Response> {
    const url = `${registryBase(this.ref.registry)}/v2/${this.ref.path}/${path}`
    const send = (): Promise<Response> => fetch(url, { signal: this.signal, headers: { Accept: accept, ...(this.auth ? { Authorization: this.auth } : {}) } })
    let res: Response
    try {
      res = await send()
      if (res.status === 401) {
        this.auth = await authorize(res.headers.get('www-authenticate') ?? '', this.ref, this.creds, this.signal)
        res = await send()
      }
    } catch (err) {
      if (err instanceof DeployError) throw err
      throw new DeployError(`registry ${this.ref.registry} is unreachable: ${(err as Error).cause ?? (err as Error).message}`, { input: 'verify' })
    }
    if (res.status === 401 || res.status === 403)
      throw new DeployError(`the registry refused to show signatures of ${this.ref.path} (HTTP ${res.status})`, { input: 'registry-username' })
    return res
  }

  /** A manifest by tag or digest, or undefined when there is none. */
  async manifest(reference: string): Promise<Manifest | undefined> {
    const res = await this.get(`manifests/${reference}`, 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json')
    if (res.status === 404) return undefined
    if (!res.ok) throw new DeployError(`the registry answered HTTP ${res.status} for ${this.ref.path}:${reference}`, { input: 'verify' })
    const body = Buffer.from(await res.arrayBuffer())
    if (reference.startsWith('sha256:') && sha256(body) !== reference) throw new DeployError(`the registry served ${this.ref.path}@${reference} with other content`, { input: 'verify' })
    return JSON.parse(body.toString('utf8')) as Manifest
  }

  /** A blob, checked against its digest: a registry cannot swap a payload under a signature. */
  async blob(digest: string): Promise<Buffer> {
    const res = await this.get(`blobs/${digest}`, '*/*')
    if (!res.ok) throw new DeployError(`the registry answered HTTP ${res.status} for blob ${digest} of ${this.ref.path}`, { input: 'verify' })
    const body = Buffer.from(await res.arrayBuffer())
    if (sha256(body) !== digest) throw new DeployError(`blob ${digest} of ${this.ref.path} does not match its digest`, { input: 'verify' })
    return body
  }

  /** Referrers of a digest: the OCI 1.1 API, else the referrers tag schema. */
  async referrers(digest: string): Promise<Descriptor[]> {
    const res = await this.get(`referrers/${digest}`, 'application/vnd.oci.image.index.v1+json')
    if (res.ok && (res.headers.get('content-type') ?? '').includes('application/vnd.oci.image.index.v1+json')) {
      const index = (await res.json()) as Manifest
      return index.manifests ?? []
    }
    const index = await this.manifest(referrersTag(digest))
    return index?.manifests ?? []
  }
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** Every Sigstore bundle attached to the digest as a referrer. */
async function referrerBundles(repo: RepoReader, digest: string): Promise<{ bundle: Bundle; json: unknown }[]> {
  const out: { bundle: Bundle; json: unknown }[] = []
  for (const d of await repo.referrers(digest)) {
    if (!BUNDLE_TYPE.test(d.artifactType ?? '')) continue
    const m = await repo.manifest(d.digest)
    const layer = m?.layers?.find(l => BUNDLE_TYPE.test(l.mediaType ?? ''))
    if (!layer) continue
    const json = JSON.parse((await repo.blob(layer.digest)).toString('utf8')) as unknown
    try {
      out.push({ bundle: bundleFromJSON(json), json })
    } catch {
      // not a bundle this library reads: skipped, and the absence is reported if nothing else verifies
    }
  }
  return out
}

/** The DSSE payload of a bundle and its type, when it has one. */
function dssePayload(bundle: Bundle): { type: string; text: string } | undefined {
  if (bundle.content.$case !== 'dsseEnvelope') return undefined
  const env = bundle.content.dsseEnvelope
  return { type: env.payloadType, text: Buffer.from(env.payload).toString('utf8') }
}

/** Trust material that knows only the one key: no CA, log or timestamp is trusted or needed. */
function keyTrust(key: KeyObject): TrustMaterial {
  return { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: () => ({ publicKey: key, validFor: () => true }) }
}

/**
 * Cosign signature by the key: tag layout first, then bundle referrers. Offline on purpose:
 * the transparency log is not consulted (as `cosign verify --insecure-ignore-tlog`); the key
 * is the trust.
 */
async function verifySignature(repo: RepoReader, digest: string, key: KeyObject, image: string): Promise<Verified> {
  const fingerprint = keyFingerprint(key)
  const reasons: string[] = []
  const sig = await repo.manifest(signatureTag(digest))
  for (const layer of sig?.layers ?? []) {
    if (layer.mediaType !== SIMPLE_SIGNING) continue
    const signature = layer.annotations?.[SIGNATURE_ANNOTATION]
    if (!signature) continue
    const payload = await repo.blob(layer.digest)
    if (!verify('sha256', payload, key, Buffer.from(signature, 'base64'))) {
      reasons.push(`the signature in ${signatureTag(digest)} does not verify with cosign-key ${fingerprint}`)
      continue
    }
    const mismatch = simpleSigningMismatch(payload.toString('utf8'), digest)
    if (mismatch) {
      reasons.push(`the signature in ${signatureTag(digest)} is by the key but ${mismatch}`)
      continue
    }
    return { kind: 'signature', layout: 'tag', keyFingerprint: fingerprint }
  }
  for (const { bundle } of await referrerBundles(repo, digest)) {
    const payload = dssePayload(bundle)
    if (!payload || payload.type !== INTOTO_PAYLOAD) continue
    const mismatch0 = statementMismatch(payload.text, digest, COSIGN_SIGN_PREDICATE)
    if (mismatch0?.startsWith('its predicate')) continue // another kind of attestation
    if (bundle.verificationMaterial.content.$case !== 'publicKey') continue // keyless: not the key's
    try {
      const entity = { ...toSignedEntity(bundle), timestamps: [], tlogEntries: [] }
      new Verifier(keyTrust(key), { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity)
    } catch {
      reasons.push(`the Sigstore bundle signature does not verify with cosign-key ${fingerprint}`)
      continue
    }
    if (mismatch0) {
      reasons.push(`the Sigstore bundle is signed by the key but ${mismatch0}`)
      continue
    }
    return { kind: 'signature', layout: 'referrer', keyFingerprint: fingerprint }
  }
  if (!reasons.length) throw refusal(image, 'has no Cosign signature', `(looked for tag ${signatureTag(digest)} and Sigstore bundle referrers)`)
  throw refusal(image, 'has no valid Cosign signature:', reasons[0])
}

function leafCertificate(bundle: Bundle): X509Certificate | undefined {
  const vm = bundle.verificationMaterial.content
  const raw = vm.$case === 'certificate' ? vm.certificate.rawBytes : vm.$case === 'x509CertificateChain' ? vm.x509CertificateChain.certificates[0]?.rawBytes : undefined
  return raw ? X509Certificate.parse(Buffer.from(raw)) : undefined
}

function certIdentity(cert: X509Certificate): CertIdentity {
  const ext = (oid: string): string | undefined => {
    const e = cert.extension(oid)
    return e ? extensionText(e.value) : undefined
  }
  const legacyRepo = ext(OID.legacyRepository)
  return {
    san: cert.subjectAltName,
    issuer: ext(OID.issuerV2) ?? ext(OID.issuerV1),
    sourceRepository: ext(OID.sourceRepositoryUri) ?? (legacyRepo ? `https://github.com/${legacyRepo}` : undefined)
  }
}

let trustCache: { file: string; trust: TrustMaterial } | undefined

/**
 * A trusted_root.json, or the JSON lines `gh attestation trusted-root` prints (public-good and
 * GitHub's instance): their authorities are merged.
 */
function loadTrust(file: string): TrustMaterial {
  if (trustCache?.file === file) return trustCache.trust
  let roots: TrustedRoot[]
  try {
    const text = fs.readFileSync(file, 'utf8').trim()
    let docs: unknown[]
    try {
      docs = [JSON.parse(text)]
    } catch {
      docs = text.split('\n').filter(l => l.trim()).map(l => JSON.parse(l) as unknown)
    }
    roots = docs.map(d => TrustedRoot.fromJSON(d))
  } catch (err) {
    throw new DeployError(`cannot read the Sigstore trusted root ${file}: ${(err as Error).message}`, { input: 'trusted-root' })
  }
  const parts = roots.map(r => toTrustMaterial(r))
  const trust: TrustMaterial = {
    certificateAuthorities: parts.flatMap(p => p.certificateAuthorities),
    timestampAuthorities: parts.flatMap(p => p.timestampAuthorities),
    tlogs: parts.flatMap(p => p.tlogs),
    ctlogs: parts.flatMap(p => p.ctlogs),
    publicKey: parts[0].publicKey
  }
  trustCache = { file, trust }
  return trust
}

/**
 * A Sigstore attestation bundle (referrer) about the digest, verified against the trusted root
 * (certificate chain, the SCTs and log entries it carries, a trusted time inside the
 * certificate's validity) and whose certificate names the expected repository/workflow.
 */
async function verifyAttestation(repo: RepoReader, digest: string, want: AttestationPolicy, image: string): Promise<Verified> {
  // Every log entry, SCT and timestamp present is verified; at least one trusted time is
  // required. Not more: GitHub's own instance (private repositories) logs nothing and embeds no
  // SCT, it countersigns with its timestamp authority instead.
  const verifier = new Verifier(loadTrust(want.trustedRoot), { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 1 })
  const reasons: string[] = []
  let seen = 0
  for (const { bundle } of await referrerBundles(repo, digest)) {
    const payload = dssePayload(bundle)
    if (!payload || payload.type !== INTOTO_PAYLOAD) continue
    const cert = leafCertificate(bundle)
    if (!cert) continue // key-signed: a Cosign signature, not an attestation
    const id = certIdentity(cert)
    const mismatch = statementMismatch(payload.text, digest, want.predicateType)
    if (mismatch?.startsWith('its predicate')) continue
    seen++
    if (mismatch) {
      reasons.push(mismatch)
      continue
    }
    const logged = bundle.verificationMaterial.tlogEntries.map(e => new Date(Number(e.integratedTime) * 1000))
    const expired = validityMismatch(cert.notBefore, cert.notAfter, logged)
    if (expired) {
      reasons.push(expired)
      continue
    }
    try {
      verifier.verify(toSignedEntity(bundle))
    } catch (err) {
      reasons.push(`its Sigstore verification failed: ${(err as Error).message}`)
      continue
    }
    const who = identityMismatch(id, want)
    if (who) {
      reasons.push(who)
      continue
    }
    return { kind: 'attestation', layout: 'referrer', identity: id.san, predicateType: want.predicateType }
  }
  if (!seen) throw refusal(image, `has no ${want.predicateType} attestation`, '(looked for Sigstore bundle referrers in the registry)')
  throw refusal(image, `has no valid ${want.predicateType} attestation:`, reasons[0])
}

/** Runs the checks the mode asks for; refuses with one line, or returns what was verified. */
export async function verifyImage(ref: ImageRef, digest: string, v: VerifySettings, creds?: Credentials, signal?: AbortSignal): Promise<Verified[]> {
  if (v.mode === 'none') return []
  const repo = new RepoReader(ref, creds, signal)
  const image = pinned(ref, digest)
  const out: Verified[] = []
  if (needsSignature(v.mode)) {
    if (!v.cosignKey) throw new DeployError(`verify ${v.mode} needs the public key in cosign-key`, { input: 'cosign-key' })
    out.push(await verifySignature(repo, digest, parsePublicKey(v.cosignKey), image))
  }
  if (needsAttestation(v.mode)) {
    if (!v.attestation) throw new DeployError(`verify ${v.mode} needs attestation-repository and trusted-root`, { input: 'attestation-repository' })
    out.push(await verifyAttestation(repo, digest, v.attestation, image))
  }
  return out
}

/** The report line's text for one check. */
export function describeVerified(v: Verified): string {
  const where = v.layout === 'tag' ? 'tag layout' : 'Sigstore bundle referrer'
  return v.kind === 'signature' ? `Cosign signature by key ${v.keyFingerprint} (${where})` : `${v.predicateType} attestation by ${v.identity} (${where})`
}
