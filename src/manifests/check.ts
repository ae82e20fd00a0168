// The checks every document passes, wherever it came from (a file, an overlay, a chart, a
// strategy's own objects), with one message each: an object server-side apply can take
// (apiVersion, kind, metadata.name; no generateName), and no object twice. load.ts runs them as
// it reads, manifests/index.ts over the whole release, kube/apply.ts before every apply.
import { DeployError } from '../errors.js'
import { type KubeObject, type Manifest, resourceName } from './types.js'

/** Pure: the value as a KubeObject, or one DeployError at the place naming what is missing. */
export function checkObject(value: unknown, place: { file: string; line: number }): KubeObject {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new DeployError('list item is not a mapping (a Kubernetes object)', place)
  const object = value as Record<string, unknown>
  const missing: string[] = []
  if (typeof object.apiVersion !== 'string' || !object.apiVersion) missing.push('apiVersion')
  if (typeof object.kind !== 'string' || !object.kind) missing.push('kind')
  const meta = object.metadata as Record<string, unknown> | undefined
  if (!meta || typeof meta.name !== 'string' || !meta.name) missing.push('metadata.name')
  if (String(object.apiVersion ?? '').startsWith('kustomize.config.k8s.io/') || (object.kind === 'Kustomization' && !meta?.name))
    throw new DeployError('is a kustomization, not a Kubernetes object', { ...place, hint: "list its directory under 'kustomize' instead of 'manifests'" })
  if (missing.length) {
    const generated = meta && typeof meta.generateName === 'string'
    throw new DeployError(`object has no ${missing.join(', ')}`, {
      ...place,
      hint: generated ? 'server-side apply needs metadata.name; generateName is not supported' : undefined
    })
  }
  return object as unknown as KubeObject
}

/** apiVersion group + kind + namespace + name: two documents with the same key fight over one object. */
export function objectKey(object: KubeObject): string {
  const slash = object.apiVersion.indexOf('/')
  const group = slash < 0 ? '' : object.apiVersion.slice(0, slash)
  return [group, object.kind, object.metadata.namespace ?? '', object.metadata.name].join('|')
}

/** Throws at the second occurrence, naming both places. */
export function assertNoDuplicates(manifests: Manifest[]): void {
  const first = new Map<string, Manifest>()
  for (const m of manifests) {
    const key = objectKey(m.object)
    const earlier = first.get(key)
    if (earlier) {
      throw new DeployError(`${resourceName(m.object)} is defined twice; first at ${earlier.origin.file}:${earlier.origin.line}`, {
        file: m.origin.file,
        line: m.origin.line
      })
    }
    first.set(key, m)
  }
}
