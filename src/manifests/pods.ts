// Finds the pod specs inside any object, the way kustomize's image transformer does: every
// mapping holding a `containers` or `initContainers` list, wherever it sits (Pod spec,
// spec.template.spec, spec.jobTemplate.spec.template.spec, or a custom resource's own path).
// `ephemeralContainers` are left out on purpose: they cannot be set by create or apply (only
// through the pods/ephemeralcontainers subresource), and kustomize does not touch them either.
import { sameRepository } from '../image/reference.js'
import type { KubeObject } from './types.js'

export interface Container {
  name?: string
  image?: unknown
  [key: string]: unknown
}

export interface PodSpecAt {
  /** dotted path of the pod spec inside the object ('' when the object's root holds the lists) */
  path: string
  spec: Record<string, unknown>
}

export interface ContainerAt {
  /** dotted path of the container ('spec.template.spec.initContainers.0') */
  path: string
  container: Container
  init: boolean
}

/** Every pod spec in the object; none for CustomResourceDefinitions, whose schemas name such fields. */
export function podSpecs(object: KubeObject): PodSpecAt[] {
  if (object.kind === 'CustomResourceDefinition') return []
  const out: PodSpecAt[] = []
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, join(at, String(i))))
      return
    }
    if (!node || typeof node !== 'object') return
    const map = node as Record<string, unknown>
    if (Array.isArray(map.containers) || Array.isArray(map.initContainers)) out.push({ path: at, spec: map })
    for (const [key, value] of Object.entries(map)) if (key !== 'containers' && key !== 'initContainers') walk(value, join(at, key))
  }
  walk(object, '')
  return out
}

/** The containers and init containers of one pod spec, with their paths. */
export function containersOf(pod: PodSpecAt): ContainerAt[] {
  const out: ContainerAt[] = []
  for (const key of ['initContainers', 'containers'] as const) {
    const list = pod.spec[key]
    if (!Array.isArray(list)) continue
    list.forEach((c, i) => {
      if (c && typeof c === 'object') out.push({ path: join(pod.path, `${key}.${i}`), container: c as Container, init: key === 'initContainers' })
    })
  }
  return out
}

/** The images of an object's containers (init containers after), in order, empty ones left out. */
export function imagesOf(object: KubeObject): string[] {
  const all = podSpecs(object).flatMap(containersOf)
  return [...all.filter(c => !c.init), ...all.filter(c => c.init)].map(c => c.container.image).filter((i): i is string => typeof i === 'string' && i !== '')
}

/** What "the app's image" means among images: the one of `repository` when given, else the first. */
export function appImage(images: string[], repository?: string): string | undefined {
  return (repository ? images.find(i => sameRepository(i, repository)) : undefined) ?? images[0]
}

function join(at: string, key: string): string {
  return at ? `${at}.${key}` : key
}

/** Pure: the pod's Ready condition is True (it passes its readiness probe and takes traffic). */
export function isPodReady(pod: object): boolean {
  const conditions = ((pod as { status?: unknown }).status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []
  return conditions.some(c => c.type === 'Ready' && c.status === 'True')
}
