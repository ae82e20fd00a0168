// The apiserver fault helpers: a stopped apiserver refuses connections, a restarted one serves
// the same data (etcd kept running). Briefly disturbs other suites sharing the stack, so it is
// one short test.
import { describe, expect, it } from '@jest/globals'
import { deleteNamespace, freshNamespace, kubectl, kubectlResult, startApiserver, stopApiserver } from './stack.js'

describe('apiserver fault helpers', () => {
  it('stops and restarts kube-apiserver without losing state', async () => {
    const ns = await freshNamespace('stack-fault')
    await kubectl(['-n', ns, 'create', 'configmap', 'kept', '--from-literal=k=v'])
    try {
      await stopApiserver()
      const down = await kubectlResult(['-n', ns, 'get', 'configmap', 'kept', '--request-timeout=5s'], { waitOutFaults: false })
      expect(down.code).not.toBe(0)
      expect(down.stderr).toMatch(/refused/)
    } finally {
      await startApiserver()
    }
    expect(await kubectl(['-n', ns, 'get', 'configmap', 'kept', '-o', 'jsonpath={.data.k}'])).toBe('v')
    await deleteNamespace(ns)
  })
})
