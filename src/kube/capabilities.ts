// What a chart's .Capabilities should say about the cluster, read the way `helm upgrade
// --install` reads it: the server's gitVersion, and every group/version plus every
// group/version/Kind the discovery endpoints serve. Also whether a release's objects already
// exist, which is how a run without Helm's release Secret tells an upgrade from an install.
import type { KubeConfig } from '@kubernetes/client-node'
import type { Capabilities } from '../manifests/chart.js'
import type { Manifest } from '../manifests/types.js'
import { clientFor } from './client.js'
import { mapLimit } from './pool.js'

interface GroupList {
  groups?: { versions?: { groupVersion: string }[] }[]
}

/** Pure: Helm's version set from the discovery answers (group versions, then their kinds), sorted. */
export function versionSet(groupVersions: string[], kinds: Map<string, string[]>): string[] {
  const out = new Set<string>(groupVersions)
  for (const [gv, list] of kinds) for (const kind of list) out.add(`${gv}/${kind}`)
  return [...out].sort()
}

export async function clusterCapabilities(kc: KubeConfig, signal?: AbortSignal): Promise<Capabilities> {
  const api = clientFor(kc)
  const [version, core, apis] = await Promise.all([
    api.request<{ gitVersion?: string }>('GET', '/version', { signal }),
    api.request<{ versions?: string[] }>('GET', '/api', { signal }),
    api.request<GroupList>('GET', '/apis', { signal })
  ])
  const groupVersions = [...(core.versions ?? []), ...(apis.groups ?? []).flatMap(g => (g.versions ?? []).map(v => v.groupVersion))]
  const kinds = new Map<string, string[]>()
  await mapLimit(groupVersions, 8, async gv => {
    const path = gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`
    // An aggregated API that is down must not stop the render; Helm warns and goes on too.
    const list = await api.request<{ resources?: { name: string; kind: string }[] }>('GET', path, { signal }).catch(() => undefined)
    kinds.set(gv, [...new Set((list?.resources ?? []).filter(r => !r.name.includes('/')).map(r => r.kind))])
  })
  return { kubeVersion: version.gitVersion ?? 'v1.0.0', apiVersions: versionSet(groupVersions, kinds) }
}

/** Whether any of the documents already exists (then a chart renders and hooks as an upgrade). */
export async function anyExists(kc: KubeConfig, documents: Manifest[], namespace: string, signal?: AbortSignal): Promise<boolean> {
  const api = clientFor(kc)
  // CRDs are shared by every release that uses their kinds, and outlive them: they prove nothing.
  const own = documents.filter(d => d.object.kind !== 'CustomResourceDefinition')
  const found = await mapLimit(own, 8, async ({ object }) => {
    try {
      const r = await api.resource(object.apiVersion, object.kind)
      const ref = { apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name, namespace: r.namespaced ? object.metadata.namespace || namespace : undefined }
      return (await api.get(ref, signal)) !== undefined
    } catch {
      // a kind the cluster does not serve yet (its CRD comes with this chart) has no object
      return false
    }
  })
  return found.some(Boolean)
}
