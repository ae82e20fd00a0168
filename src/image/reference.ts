// Image references with the distribution/reference grammar:
//   [host[:port]/]path[/path...][:tag][@algo:hex]
// The first path element is a host only when it has a '.' or ':' or is 'localhost' (Docker's
// rule), so `my.repo.com:1234/team/app:sha-1` is host+port, not a tag.

export interface ImageRef {
  /** registry host, with port when given; 'docker.io' when the name has none */
  registry: string
  /** repository path below the registry; Docker Hub single names get 'library/' */
  path: string
  tag?: string
  digest?: string
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/
const TAG = /^[\w][\w.-]{0,127}$/
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/
const SHA256 = /^sha256:[a-f0-9]{64}$/

export const DOCKER_HUB = 'docker.io'

export class ReferenceError extends Error {}

/** Parses a reference; throws ReferenceError with the reason when it is not one. */
export function parseReference(input: string): ImageRef {
  const text = input.trim()
  if (!text) throw new ReferenceError('image reference is empty')
  if (text.length > 512) throw new ReferenceError('image reference is longer than 512 characters')

  let rest = text
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (digest.startsWith('sha256:') && !SHA256.test(digest))
      throw new ReferenceError(`'${digest}' is not a sha256 digest (64 lowercase hex characters)`)
    if (!DIGEST.test(digest)) throw new ReferenceError(`'${digest}' is not a digest (algorithm:hex)`)
  }

  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) throw new ReferenceError(`'${tag}' is not a valid tag`)
  }

  const { registry, path } = splitName(rest, text)
  if (`${registry}/${path}`.length > 255) throw new ReferenceError('repository name is longer than 255 characters')
  return { registry, path, tag, digest }
}

function splitName(name: string, whole: string): { registry: string; path: string } {
  if (!name) throw new ReferenceError(`'${whole}' has no repository name`)
  const slash = name.indexOf('/')
  const first = slash < 0 ? '' : name.slice(0, slash)
  const hasHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())
  let registry = hasHost ? first : DOCKER_HUB
  let path = hasHost ? name.slice(slash + 1) : name
  if (hasHost && !HOST.test(registry)) throw new ReferenceError(`'${registry}' is not a registry host`)
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB
  for (const part of path.split('/')) {
    if (!COMPONENT.test(part))
      throw new ReferenceError(
        part === '' ? `'${whole}' has an empty path component` : `'${part}' in '${whole}' is not a valid repository name component (lowercase letters, digits, separators)`
      )
  }
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`
  return { registry, path }
}

/** registry/path: the normalised repository, the key two references are matched on. */
export function repository(ref: ImageRef): string {
  return `${ref.registry}/${ref.path}`
}

/** Full form: repository, then :tag, then @digest when present. */
export function formatReference(ref: ImageRef): string {
  return repository(ref) + (ref.tag ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '')
}

/** repo@digest: what is deployed, so a moved tag cannot change what runs. */
export function pinned(ref: ImageRef, digest: string): string {
  return `${repository(ref)}@${digest}`
}

/** Docker's short form: docker.io/library/ and docker.io/ dropped, as people write them. */
export function familiarName(ref: ImageRef): string {
  if (ref.registry !== DOCKER_HUB) return repository(ref)
  return ref.path.startsWith('library/') ? ref.path.slice('library/'.length) : ref.path
}

/** True when both name the same repository after normalisation (tags and digests ignored). */
export function sameRepository(a: string, b: string): boolean {
  try {
    return repository(parseReference(a)) === repository(parseReference(b))
  } catch {
    return false
  }
}

export function isDigest(text: string): boolean {
  return SHA256.test(text)
}
