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

/** The parts of a workload's spec the strategies edit; everything else passes through as is. */
export interface WorkloadSpec {
  replicas?: number
  selector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] }
  template?: { metadata?: { labels?: Record<string, string>; [key: string]: unknown }; spec?: Record<string, unknown> }
  [key: string]: unknown
}

export interface Origin {
  file: string
  /** 1-based line of the document's first line */
  line: number
  /**
   * 1-based line of nodes inside the document, keyed by dotted path ('spec.template.spec.containers.0');
   * absent for kustomize output, which carries no per-file positions.
   */
  lines?: Record<string, number>
  /** set when the document came out of `kustomize build`: file is then the overlay's kustomization file */
  rendered?: boolean
}

export interface Manifest {
  object: KubeObject
  origin: Origin
}

/** kind/namespace/name, the way resources are named in logs, errors and the report. */
export function resourceName(o: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return [o.kind, o.metadata.namespace, o.metadata.name].filter(Boolean).join('/')
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

/**
 * Pure: an object as a run keeps it once it is written, without what weighs most and no later
 * stage reads: managedFields and kubectl's last-applied copy (the wait's rules, the hooks'
 * diagnosis and the report read spec, status and the rest of metadata). Shallow: the rest is
 * shared with the object given. The wait keeps its objects so too (kube/status/observe.ts).
 */
export function keptCopy(o: KubeObject): KubeObject {
  const { managedFields, ...metadata } = o.metadata as KubeObject['metadata'] & { managedFields?: unknown }
  const annotations = metadata.annotations
  if (managedFields === undefined && annotations?.[LAST_APPLIED] === undefined) return o
  if (annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _l, ...rest } = annotations
    metadata.annotations = rest
  }
  return { ...o, metadata }
}
