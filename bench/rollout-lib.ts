// What bench/rollout.mjs measures, bundled by esbuild so plain Node can load the TypeScript sources.
export { loadKubeConfig } from '../src/kube/client.js'
export { applyObjects } from '../src/kube/apply.js'
export { waitForWorkloads } from '../src/kube/status/watch.js'
import type { KubeConfig } from '@kubernetes/client-node'
import { checkConnection, clientFor } from '../src/kube/client.js'

/**
 * What a run has done before its apply: the connection check, and the core group's discovery
 * (the lock's namespace check reads a Namespace).
 */
export async function connect(kc: KubeConfig): Promise<void> {
  await checkConnection(kc)
  await clientFor(kc).resource('v1', 'Namespace')
}

/** Counts the API requests kube-ship sends through this KubeConfig; read() answers and resets the count. */
export function countRequests(kc: KubeConfig): { read(): number } {
  const k = clientFor(kc)
  const send = k.send.bind(k)
  let n = 0
  k.send = ((...args: Parameters<typeof send>) => {
    n++
    return send(...args)
  }) as typeof k.send
  return {
    read: () => {
      const v = n
      n = 0
      return v
    }
  }
}
