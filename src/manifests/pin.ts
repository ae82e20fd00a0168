// Pins the app's image by digest in plain manifests: every container or init container whose
// image names the same repository as `image-name` becomes repo@digest. Matching is on the
// normalised repository (registry with port, path), never on a prefix or the text before the
// first ':', so `my.repo.com:1234/app` does not also catch `my.repo.com:1234/sidecar`.
import { parseReference, repository, sameRepository } from '../image/reference.js'
import { containersOf, podSpecs } from './pods.js'
import { type Manifest, resourceName } from './types.js'

export interface PinChange {
  resource: string
  /** container name; init containers carry ' (init)' */
  container: string
  from: string
  to: string
}

export interface PinResult {
  documents: Manifest[]
  changes: PinChange[]
  /** containers that name the image, changed or already pinned to the digest */
  matched: number
  /** set when no container named the image: nothing was pinned */
  warning?: string
}

/**
 * Returns copies of the documents with matching images set to `to` (a repo@digest reference).
 * `names` are the image names to look for; `to`'s own repository always matches too, so an
 * image pinned by an earlier run is recognised.
 */
export function pinImages(documents: Manifest[], names: string[], to: string): PinResult {
  const target = parseReference(to)
  const changes: PinChange[] = []
  const seen = new Set<string>()
  let matched = 0
  const out = documents.map(doc => {
    const object = structuredClone(doc.object)
    for (const pod of podSpecs(object)) {
      for (const { container, init } of containersOf(pod)) {
        if (typeof container.image !== 'string') continue
        const image = container.image
        seen.add(image)
        if (!names.some(n => sameRepository(image, n)) && !sameRepository(image, to)) continue
        matched++
        if (isAlready(image, target.digest!, repository(target))) continue
        container.image = to
        changes.push({ resource: resourceName(object), container: `${container.name ?? '?'}${init ? ' (init)' : ''}`, from: image, to })
      }
    }
    return { object, origin: doc.origin }
  })
  const warning = matched
    ? undefined
    : `nothing pinned: no container image names ${names.map(n => `'${n}'`).join(' or ')}` +
      (seen.size ? ` (images found: ${[...seen].sort().join(', ')})` : ' (no containers found)') +
      '; set image-name to the name your manifests use'
  return { documents: out, changes, matched, warning }
}

function isAlready(image: string, digest: string, repo: string): boolean {
  try {
    const ref = parseReference(image)
    return ref.digest === digest && !ref.tag && repository(ref) === repo
  } catch {
    return false
  }
}
