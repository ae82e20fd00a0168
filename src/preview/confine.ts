// A preview stays inside its namespace: before anything is applied, every document's kind is
// looked up (the discovery apply needs anyway, cached for the run) and a cluster-scoped one is
// refused with its file:line. Cleanup deletes only the preview namespace, so a ClusterRole or a
// Namespace of a preview would stay forever.
import type { KubeConfig } from '@kubernetes/client-node'
import { DeployError } from '../errors.js'
import { clientFor } from '../kube/client.js'
import { failure } from '../kube/errors.js'
import type { Manifest } from '../manifests/types.js'
import type { Preview } from './index.js'

/** Throws one DeployError naming file:line for the first document that would leave the preview namespace. */
export async function confinePreview(kc: KubeConfig, documents: Manifest[], preview: Pick<Preview, 'namespace'>): Promise<void> {
  const api = clientFor(kc)
  for (const m of documents) {
    const object = m.object
    if (object.apiVersion === 'v1' && object.kind === 'Namespace' && object.metadata.name === preview.namespace) continue
    const place = { file: m.origin.file, line: m.origin.line }
    const r = await api.resource(object.apiVersion, object.kind).catch(err => {
      throw failure(err, { verb: 'apply', resource: `${object.kind}/${object.metadata.name}`, origin: m.origin })
    })
    if (!r.namespaced)
      throw new DeployError(`${object.kind}/${object.metadata.name} is cluster-scoped; a preview deploys only into namespace ${preview.namespace}`, {
        ...place,
        hint: 'cluster-scoped objects belong to the environment the previews run in, not to one PR'
      })
    if (object.metadata.namespace && object.metadata.namespace !== preview.namespace)
      throw new DeployError(`${object.kind}/${object.metadata.name} names namespace ${object.metadata.namespace}; a preview deploys only into ${preview.namespace}`, place)
  }
}
