// The shapes passed between stages: a Kubernetes object as plain JSON, and where it came from.

export interface ObjectMeta {
  name: string
  namespace?: string
  generateName?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  [key: string]: unknown
}

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: ObjectMeta
  [key: string]: unknown
}

export interface Origin {
  file: string
  /** 1-based line of the document's first line */
  line: number
}

export interface Manifest {
  object: KubeObject
  origin: Origin
}

/** kind/namespace/name, the way resources are named in logs, errors and the report. */
export function resourceName(o: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return [o.kind, o.metadata.namespace, o.metadata.name].filter(Boolean).join('/')
}
