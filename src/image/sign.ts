// Signing the pushed digest with a Cosign key (sign-key), through the cosign CLI on PATH (as
// sigstore/cosign-installer provides). The key goes to cosign as a 0600 file in a private temp
// directory, its password through COSIGN_PASSWORD; neither is on a command line. Without
// sign-tlog-upload nothing leaves for the public transparency log: a key signature is checked
// by the key, which is what kube-ship's verify (and `cosign verify --insecure-ignore-tlog`) do.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { DeployError } from '../errors.js'
import { type ImageRef, pinned } from './reference.js'
import { registryBase } from './registry.js'
import { lastErrorLine } from './tool-output.js'
import { onPath, runProgram } from '../process.js'
import { keyFingerprint, parsePublicKey } from './verify.js'

export interface SignSettings {
  /** PEM text of the Cosign private key */
  key: string
  password: string
  /** upload the signature to the transparency log (Rekor) named by cosign's signing config */
  tlogUpload: boolean
}

/** The cosign argv for one signature (pure). */
export function signArgs(image: ImageRef, digest: string, keyFile: string, tlogUpload: boolean): string[] {
  const args = ['sign', '--key', keyFile, '--yes']
  // Offline: no Rekor upload, and no signing config fetched from Sigstore's TUF repository.
  if (!tlogUpload) args.push('--tlog-upload=false', '--use-signing-config=false')
  if (registryBase(image.registry).startsWith('http:')) args.push('--allow-http-registry')
  args.push(pinned(image, digest))
  return args
}

/** Fails before any work when signing is asked for and cosign is missing. */
export function cosignPath(): string {
  const found = onPath('cosign')
  if (!found) throw new DeployError('signing needs the cosign CLI on PATH (e.g. a sigstore/cosign-installer step before this one)', { input: 'sign-key' })
  return found
}

/** Signs repo@digest; returns the key's fingerprint for the report. */
export async function signImage(image: ImageRef, digest: string, s: SignSettings, signal?: AbortSignal): Promise<string> {
  const cosign = cosignPath()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-sign-'))
  try {
    const keyFile = path.join(dir, 'cosign.key')
    fs.writeFileSync(keyFile, s.key, { mode: 0o600 })
    // HOME and TUF_ROOT in the temp dir: cosign keeps no cache on the runner between jobs.
    const env = { ...process.env, COSIGN_PASSWORD: s.password, TUF_ROOT: path.join(dir, 'tuf') }
    const pub = await runProgram(cosign, ['public-key', '--key', keyFile], { env, signal })
    if (pub.code !== 0) throw new DeployError(`cosign cannot read the key: ${lastErrorLine(pub.stderr)}`, { input: 'sign-key' })
    const fingerprint = keyFingerprint(parsePublicKey(pub.stdout))
    const r = await runProgram(cosign, signArgs(image, digest, keyFile, s.tlogUpload), { env, signal, stream: true })
    if (r.code !== 0) throw new DeployError(`cosign sign failed: ${lastErrorLine(r.stderr)}`, { resource: pinned(image, digest) })
    return fingerprint
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
