// Image references by the distribution/reference grammar (github.com/distribution/reference):
//   reference := name [ ":" tag ] [ "@" digest ]      name := [domain "/"] path
// with Docker's normalisation (ParseNormalizedNamed): the first element is a domain only when it
// has a '.' or ':', is 'localhost' or has an uppercase letter; `index.docker.io` (the legacy name)
// becomes docker.io and single Docker Hub names get 'library/'. Nothing else is folded:
// `registry-1.docker.io/x` stays a repository of its own, as Docker keeps it. The 255-character
// limit counts the path only, as Parse does; a digest must be one go-digest can verify.

export interface ImageRef {
  /** registry host, with port when given; 'docker.io' when the name has none */
  registry: string
  /** repository path below the registry; Docker Hub single names get 'library/' */
  path: string
  tag?: string
  digest?: string
}

const COMPONENT = /^[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*$/
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const HOST = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`)
const TAG = /^[\w][\w.-]{0,127}$/
/** the grammar's digest; go-digest then requires a known algorithm and its exact length */
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/
const ALGORITHMS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 }
const SHA256 = /^sha256:[a-f0-9]{64}$/
const IDENTIFIER = /^[a-f0-9]{64}$/
/** distribution/reference RepositoryNameTotalLengthMax, compared with the path only */
const PATH_MAX = 255

export const DOCKER_HUB = 'docker.io'

export class ReferenceError extends Error {}

/** Parses a reference; throws ReferenceError with the reason when it is not one. */
export function parseReference(text: string): ImageRef {
  if (!text) throw new ReferenceError('image reference is empty')
  if (/\s/.test(text)) throw new ReferenceError(`'${text}' contains white space`)
  // Docker refuses a bare 64-hex name: it would read as an image ID.
  if (IDENTIFIER.test(text)) throw new ReferenceError(`'${text}' is 64 hex characters, which is an image ID, not a repository name`)

  let rest = text
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    checkDigest(digest)
  }

  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) throw new ReferenceError(`'${tag}' is not a valid tag`)
  }

  const { registry, path } = splitName(rest, text)
  if (path.length > PATH_MAX) throw new ReferenceError(`the repository path is ${path.length} characters; at most ${PATH_MAX} are allowed`)
  return { registry, path, tag, digest }
}

/** go-digest's rule: algorithm:hex, the algorithm one it knows and the hex of its length. */
function checkDigest(digest: string): void {
  const [algorithm, hex = ''] = digest.split(':')
  const length = ALGORITHMS[algorithm]
  if (length && (hex.length !== length || !/^[a-f0-9]+$/.test(hex)))
    throw new ReferenceError(`'${digest}' is not a ${algorithm} digest (${length} lowercase hex characters)`)
  if (!DIGEST.test(digest)) throw new ReferenceError(`'${digest}' is not a digest (algorithm:hex)`)
  if (!length) throw new ReferenceError(`'${algorithm}' is not a supported digest algorithm (sha256, sha384, sha512)`)
}

function splitName(name: string, whole: string): { registry: string; path: string } {
  if (!name) throw new ReferenceError(`'${whole}' has no repository name`)
  const slash = name.indexOf('/')
  const first = slash < 0 ? '' : name.slice(0, slash)
  const hasHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())
  let registry = hasHost ? first : DOCKER_HUB
  let path = hasHost ? name.slice(slash + 1) : name
  if (hasHost && !HOST.test(registry)) throw new ReferenceError(`'${registry}' is not a registry host`)
  if (registry === 'index.docker.io') registry = DOCKER_HUB
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
