// The pure decisions of verify-before-apply: payload and statement checks, the identity match
// `gh attestation verify` makes, key fingerprints, tags, and the verify inputs.
import { describe, expect, it } from '@jest/globals'
import { generateKeyPairSync } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {
  COSIGN_SIGN_PREDICATE,
  GITHUB_ISSUER,
  SLSA_PROVENANCE_V1,
  describeVerified,
  extensionText,
  identityMismatch,
  keyFingerprint,
  referrersTag,
  signatureTag,
  simpleSigningMismatch,
  statementMismatch,
  validityMismatch,
  workflowPattern,
  type AttestationPolicy
} from '../../src/image/verify.js'
import { readSettings } from '../../src/inputs.js'
import { errorLine } from './error-line.js'

const D = `sha256:${'a'.repeat(64)}`
const OTHER = `sha256:${'b'.repeat(64)}`

describe('layout tags', () => {
  it('names the .sig tag and the referrers fallback tag', () => {
    expect(signatureTag(D)).toBe(`sha256-${'a'.repeat(64)}.sig`)
    expect(referrersTag(D)).toBe(`sha256-${'a'.repeat(64)}`)
  })
})

describe('simpleSigningMismatch', () => {
  const payload = (digest: string, type = 'cosign container image signature') => JSON.stringify({ critical: { identity: { 'docker-reference': 'r/a' }, image: { 'docker-manifest-digest': digest }, type }, optional: null })
  it.each([
    ['the digest it names', payload(D), undefined],
    ['another digest', payload(OTHER), `it signs ${OTHER}, not ${D}`],
    ['another payload type', payload(D, 'x'), 'its payload is not a cosign container image signature'],
    ['not JSON', '{', 'its payload is not JSON'],
    ['no digest', JSON.stringify({ critical: { type: 'cosign container image signature' } }), `it signs no digest, not ${D}`]
  ])('%s', (_name, text, want) => expect(simpleSigningMismatch(text, D)).toBe(want))
})

describe('statementMismatch', () => {
  const st = (hexes: string[], predicateType = SLSA_PROVENANCE_V1) =>
    JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: hexes.map(h => ({ name: 'x', digest: { sha256: h } })), predicateType, predicate: {} })
  it.each([
    ['subject among several', st(['b'.repeat(64), 'a'.repeat(64)]), SLSA_PROVENANCE_V1, undefined],
    ['another subject', st(['b'.repeat(64)]), SLSA_PROVENANCE_V1, `it is about ${OTHER}, not ${D}`],
    ['no subject', st([]), SLSA_PROVENANCE_V1, `it is about no digest, not ${D}`],
    ['other predicate', st(['a'.repeat(64)], COSIGN_SIGN_PREDICATE), SLSA_PROVENANCE_V1, `its predicate is ${COSIGN_SIGN_PREDICATE}, not ${SLSA_PROVENANCE_V1}`],
    ['not JSON', 'nope', SLSA_PROVENANCE_V1, 'its in-toto statement is not JSON']
  ])('%s', (_name, text, type, want) => expect(statementMismatch(text, D, type)).toBe(want))
})

describe('identityMismatch (what gh attestation verify --repo --signer-workflow checks)', () => {
  const want: AttestationPolicy = { repository: 'acme/web', workflow: '.github/workflows/release.yml', issuer: GITHUB_ISSUER, predicateType: SLSA_PROVENANCE_V1, trustedRoot: '' }
  const good = { issuer: GITHUB_ISSUER, sourceRepository: 'https://github.com/acme/web', san: 'https://github.com/acme/web/.github/workflows/release.yml@refs/heads/main' }
  it.each([
    ['the expected workflow', good, want, undefined],
    ['repository case differs', { ...good, sourceRepository: 'https://github.com/Acme/Web' }, want, undefined],
    ['another repository', { ...good, sourceRepository: 'https://github.com/evil/web' }, want, 'it was made in evil/web, not acme/web'],
    ['another workflow', { ...good, san: 'https://github.com/acme/web/.github/workflows/pr.yml@refs/pull/1/merge' }, want, /does not match \.github\/workflows\/release\.yml$/],
    ['a workflow whose name only starts the same', { ...good, san: 'https://github.com/acme/web/.github/workflows/release.yml.evil@refs/heads/main' }, want, /does not match/],
    ['the workflow of another repository', { ...good, san: 'https://github.com/evil/web/.github/workflows/release.yml@refs/heads/main' }, want, /does not match/],
    ['another issuer', { ...good, issuer: 'https://accounts.google.com' }, want, `its certificate was issued for https://accounts.google.com, not ${GITHUB_ISSUER}`],
    ['no workflow asked', { ...good, san: 'https://github.com/acme/web/.github/workflows/any.yml@x' }, { ...want, workflow: undefined }, undefined],
    ['a regex workflow', { ...good, san: 'https://github.com/acme/web/.github/workflows/deploy.yml@refs/tags/v1' }, { ...want, workflow: '@refs/tags/v' }, undefined]
  ])('%s', (_name, id, policy, expected) => {
    const got = identityMismatch(id, policy)
    if (expected instanceof RegExp) expect(got).toMatch(expected)
    else expect(got).toBe(expected)
  })
  it('anchors a workflow path at the repository', () => {
    expect(workflowPattern(want).source).toBe('^https:\\/\\/github\\.com\\/acme\\/web\\/\\.github\\/workflows\\/release\\.yml@')
  })
})

describe('validityMismatch', () => {
  const from = new Date('2026-01-01T00:00:00Z')
  const until = new Date('2026-01-01T00:10:00Z')
  it.each([
    ['inside', [new Date('2026-01-01T00:05:00Z')], undefined],
    ['no times (the verifier then asks for one)', [], undefined],
    ['after expiry', [new Date('2026-01-01T01:00:00Z')], 'its certificate had expired (valid until 2026-01-01T00:10:00.000Z) when the signature was logged at 2026-01-01T01:00:00.000Z'],
    ['before issue', [new Date('2025-12-31T23:00:00Z')], /not yet valid/]
  ])('%s', (_n, times, want) => {
    const got = validityMismatch(from, until, times)
    if (want instanceof RegExp) expect(got).toMatch(want)
    else expect(got).toBe(want)
  })
})

describe('extensionText', () => {
  it.each([
    ['a DER UTF8String (v2 extension)', Buffer.concat([Buffer.from([0x0c, 5]), Buffer.from('hello')]), 'hello'],
    ['raw bytes (v1 extension)', Buffer.from('https://token.actions.githubusercontent.com'), 'https://token.actions.githubusercontent.com'],
    ['a long UTF8String', Buffer.concat([Buffer.from([0x0c, 0x81, 200]), Buffer.alloc(200, 'x')]), 'x'.repeat(200)]
  ])('%s', (_name, buf, want) => expect(extensionText(buf)).toBe(want))
})

describe('keyFingerprint', () => {
  it('is stable for a key and differs between keys', () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
    expect(keyFingerprint(a)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
    expect(keyFingerprint(a)).toBe(keyFingerprint(a))
    expect(keyFingerprint(a)).not.toBe(keyFingerprint(b))
  })
  it('describes what was verified in one line', () => {
    expect(describeVerified({ kind: 'signature', layout: 'tag', keyFingerprint: 'SHA256:x' })).toBe('Cosign signature by key SHA256:x (tag layout)')
    expect(describeVerified({ kind: 'attestation', layout: 'referrer', identity: 'https://github.com/a/b/.github/workflows/r.yml@refs/heads/main', predicateType: SLSA_PROVENANCE_V1 })).toBe(
      `${SLSA_PROVENANCE_V1} attestation by https://github.com/a/b/.github/workflows/r.yml@refs/heads/main (Sigstore bundle referrer)`
    )
  })
})

describe('verify inputs', () => {
  const reader = (values: Record<string, string>) => (name: string) => values[name] ?? ''
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-verify-'))
  const keyFile = path.join(dir, 'cosign.pub')
  fs.writeFileSync(keyFile, pem)
  const root = path.join(dir, 'trusted_root.json')
  fs.writeFileSync(root, '{}')

  it('is off by default', () => expect(readSettings(reader({})).verify).toEqual({ mode: 'none' }))
  it('reads the key as PEM text or from a path', () => {
    expect(readSettings(reader({ image: 'r.io/a', verify: 'signature', 'cosign-key': pem })).verify.cosignKey).toBe(pem.trim())
    expect(readSettings(reader({ image: 'r.io/a', verify: 'signature', 'cosign-key': keyFile })).verify.cosignKey).toBe(pem)
  })
  it('fills the attestation policy', () => {
    const v = readSettings(reader({ image: 'r.io/a', verify: 'attestation', 'attestation-repository': 'acme/web', 'trusted-root': root })).verify
    expect(v.attestation).toEqual({ repository: 'acme/web', workflow: undefined, issuer: GITHUB_ISSUER, predicateType: SLSA_PROVENANCE_V1, trustedRoot: root })
  })
  it.each([
    [{ verify: 'yes' }, "input 'verify': 'yes' is not one of none, signature, attestation, both"],
    [{ verify: 'signature' }, "input 'verify': verify signature checks the image's digest and needs 'image'"],
    [{ image: 'r.io/a', verify: 'signature' }, "input 'cosign-key': verify signature needs the Cosign public key"],
    [{ image: 'r.io/a', verify: 'both', 'cosign-key': '/nope/cosign.pub' }, "input 'cosign-key': '/nope/cosign.pub' is neither PEM text nor a readable file"],
    [{ image: 'r.io/a', verify: 'signature', 'cosign-key': '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }, "input 'cosign-key': not a PEM public key"],
    [{ image: 'r.io/a', verify: 'attestation', 'attestation-repository': 'acme' }, "input 'attestation-repository': 'acme' is not owner/name"],
    [{ image: 'r.io/a', verify: 'attestation', 'attestation-repository': 'acme/web' }, "input 'trusted-root': verify attestation needs a Sigstore trusted root file"],
    [{ image: 'r.io/a', verify: 'attestation', 'attestation-repository': 'acme/web', 'trusted-root': root, 'attestation-workflow': '(' }, "input 'attestation-workflow': '(' is neither"]
  ])('%j fails with one line', (values, prefix) => {
    const line = errorLine(() => readSettings(reader(values)))
    expect(line.startsWith(prefix)).toBe(true)
    expect(line).not.toContain('\n')
  })
})
