// Registry access: `docker login` for the build's push, and a manifest HEAD through the
// distribution API to prove a given digest exists before anything is deployed with it.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { DeployError } from '../errors.js'
import { runProgram } from '../process.js'
import { type ImageRef, DOCKER_HUB, repository } from './reference.js'
import { lastErrorLine } from './tool-output.js'

export interface Credentials {
  username: string
  password: string
}

/** Logs the docker CLI in; the password goes through stdin and was masked when read. */
export async function login(registry: string, creds: Credentials): Promise<void> {
  const server = registry === DOCKER_HUB ? [] : [registry]
  const r = await runProgram('docker', ['login', ...server, '--username', creds.username, '--password-stdin'], { input: creds.password })
  if (r.code !== 0) throw new DeployError(`docker login to ${registry} failed: ${lastErrorLine(r.stderr)}`, { input: 'registry-username' })
}

export async function logout(registry: string): Promise<void> {
  await runProgram('docker', ['logout', ...(registry === DOCKER_HUB ? [] : [registry])])
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json'
].join(', ')

/** Loopback registries speak plain HTTP, as dockerd and BuildKit assume; the rest HTTPS. */
export function registryBase(registry: string): string {
  const host = registry.replace(/:\d+$/, '')
  const plain = host === 'localhost' || /^127\./.test(host) || host === '[::1]'
  return `${plain ? 'http' : 'https'}://${registry === DOCKER_HUB ? 'registry-1.docker.io' : registry}`
}

/** Credentials from the docker CLI config (what a docker/login-action step leaves behind). */
export function dockerConfigCredentials(registry: string, configDir = process.env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker')): Credentials | undefined {
  try {
    const config = JSON.parse(fs.readFileSync(path.join(configDir, 'config.json'), 'utf8')) as { auths?: Record<string, { auth?: string }> }
    const keys = registry === DOCKER_HUB ? ['https://index.docker.io/v1/', DOCKER_HUB] : [registry, `https://${registry}`, `http://${registry}`]
    for (const key of keys) {
      const auth = config.auths?.[key]?.auth
      if (!auth) continue
      const text = Buffer.from(auth, 'base64').toString()
      const colon = text.indexOf(':')
      return { username: text.slice(0, colon), password: text.slice(colon + 1) }
    }
  } catch {
    // no config or unreadable: anonymous access is tried
  }
  return undefined
}

/**
 * HEAD the manifest for ref's digest; returns the Docker-Content-Digest the registry serves.
 * Handles the Basic and Bearer challenges of the distribution token flow.
 */
export async function headManifest(ref: ImageRef, reference: string, creds?: Credentials, signal?: AbortSignal): Promise<string> {
  const url = `${registryBase(ref.registry)}/v2/${ref.path}/manifests/${reference}`
  const name = `${repository(ref)}@${reference}`
  const request = (authorization?: string): Promise<Response> =>
    fetch(url, { method: 'HEAD', signal, headers: { Accept: MANIFEST_TYPES, ...(authorization ? { Authorization: authorization } : {}) } })
  let res: Response
  try {
    res = await request()
    if (res.status === 401) res = await request(await authorize(res.headers.get('www-authenticate') ?? '', ref, creds, signal))
  } catch (err) {
    if (err instanceof DeployError) throw err
    throw new DeployError(`registry ${ref.registry} is unreachable: ${(err as Error).cause ?? (err as Error).message}`, { resource: name })
  }
  if (res.status === 404) throw new DeployError(`the registry has no manifest for ${name}`, { input: 'digest', hint: 'was it pushed to this repository?' })
  if (res.status === 401 || res.status === 403)
    throw new DeployError(`the registry refused access to ${name} (HTTP ${res.status})`, { input: 'registry-username', hint: 'check the credentials' })
  if (!res.ok) throw new DeployError(`the registry answered HTTP ${res.status} for ${name}`)
  return res.headers.get('docker-content-digest') ?? reference
}

/** The Authorization header for a 401 challenge (Basic, or a Bearer token for pull scope). */
export async function authorize(challenge: string, ref: ImageRef, creds: Credentials | undefined, signal?: AbortSignal): Promise<string> {
  const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined
  if (/^basic/i.test(challenge)) {
    if (!basic) throw new DeployError(`registry ${ref.registry} needs credentials`, { input: 'registry-username' })
    return basic
  }
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map(m => [m[1], m[2]]))
  if (!/^bearer/i.test(challenge) || !params.realm) throw new DeployError(`registry ${ref.registry} asked for an unsupported authentication: ${challenge.split(' ')[0]}`)
  const token = new URL(params.realm)
  if (params.service) token.searchParams.set('service', params.service)
  token.searchParams.set('scope', params.scope ?? `repository:${ref.path}:pull`)
  const res = await fetch(token, { signal, headers: basic ? { Authorization: basic } : {} })
  if (!res.ok) throw new DeployError(`registry ${ref.registry} token service refused access (HTTP ${res.status})`, { input: 'registry-username' })
  const body = (await res.json()) as { token?: string; access_token?: string }
  return `Bearer ${body.token ?? body.access_token}`
}
