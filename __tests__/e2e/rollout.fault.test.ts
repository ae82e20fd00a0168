// An API server restart in the middle of a rollout wait does not change the verdict: the watch
// re-lists and resumes. It stops the API server, so scripts/test runs it alone (*fault*).
import { describe, expect, it } from '@jest/globals'
import { adminKc, deploy, deployment } from './deliver-fixtures.js'
import { kubectlJson, startApiserver, stopApiserver, suiteNamespaces, waitFor } from './stack.js'

describe('rollout across an API server restart', () => {
  const kc = adminKc()
  const fresh = suiteNamespaces()

  it('an API server restart mid-wait still ends with the right verdict', async () => {
    const ns = await fresh('rollout-restart')
    // minReadySeconds keeps the rollout going long enough to take the API server away under it.
    const patient = deployment('patient', 'v1', { spec: { minReadySeconds: 20 } })
    const broken = deployment('broken', 'v1', { behavior: 'image-pull-backoff', replicas: 1 })
    const running = deploy(kc, ns, [patient, broken], { 'rollback-on-failure': 'false', timeout: '240s' })
    await waitFor('patient pods to be ready', async () => (await kubectlJson(['-n', ns, 'get', 'deployment', 'patient'])).status?.readyReplicas === 2)
    await stopApiserver()
    try {
      await new Promise(r => setTimeout(r, 3000))
    } finally {
      await startApiserver()
    }
    const run = await running
    const byName = Object.fromEntries(run.report.workloads.map(w => [w.name, w]))
    expect(byName.patient).toMatchObject({ ok: true, message: 'deployment "patient" successfully rolled out' })
    expect(byName.broken.ok).toBe(false)
    expect(byName.broken.message).toMatch(/ImagePullBackOff|ErrImagePull/)
    expect(run.report.status).toBe('failed')
  })

})
