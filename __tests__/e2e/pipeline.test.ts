// The whole action through dist/index.js, as a workflow runs it, on the local stack: build and
// push the example app, pin the overlay, apply, wait; a re-run changes nothing; a broken image
// is rolled back to what ran before.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { errorLines, runAction, type ActionRun } from './action.js'
import { deleteNamespace, freshNamespace, kubectlJson, SIM_LABEL, stack } from './stack.js'

const repo = path.resolve(import.meta.dirname, '../..')
let namespace: string
let checkout: string
let first: ActionRun

function inputs(extra: Record<string, string> = {}): Record<string, string> {
  return {
    image: `${stack().registry}/e2e/pipeline-${namespace}`,
    context: '.',
    kustomize: 'k8s/overlays/production',
    'image-name': 'registry.example/demo/web',
    namespace,
    timeout: '3m',
    comment: 'never',
    ...extra
  }
}

const env = () => ({ DOCKER_HOST: stack().dockerHost, KUBECONFIG: stack().kubeconfig, GITHUB_SHA: 'a'.repeat(40) })
const liveImage = async () => (await kubectlJson(['-n', namespace, 'get', 'deployment', 'web'])).spec.template.spec.containers[0].image

beforeAll(async () => {
  namespace = await freshNamespace('pipeline')
  // A checkout of its own: the action edits the overlay in place.
  checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-ship-checkout-'))
  fs.cpSync(path.join(repo, 'examples/app'), checkout, { recursive: true })
  first = await runAction(inputs(), { env: env(), cwd: checkout })
})

afterAll(async () => {
  await deleteNamespace(namespace)
  fs.rmSync(checkout, { recursive: true, force: true })
})

describe('the action, end to end', () => {
  it('builds, pins the overlay, applies and waits', async () => {
    expect(errorLines(first.log)).toEqual([])
    expect(first.code).toBe(0)
    expect(first.outputs.status).toBe('succeeded')
    expect(first.outputs['image-ref']).toBe(`${inputs().image}@${first.outputs.digest}`)
    expect(await liveImage()).toBe(first.outputs['image-ref'])
    const deployment = await kubectlJson(['-n', namespace, 'get', 'deployment', 'web'])
    expect(deployment.status.availableReplicas).toBe(3)
    expect(JSON.parse(first.outputs.resources)).toEqual([
      { kind: 'Service', namespace, name: 'web', change: 'created' },
      { kind: 'Deployment', namespace, name: 'web', change: 'created' },
      { kind: 'Ingress', namespace, name: 'web', change: 'created' }
    ])
    expect(first.summary).toContain('Deployed to production')
    expect(first.summary).toContain(first.outputs.digest)
  })

  it('changes only the images: lines of the overlay', async () => {
    const before = fs.readFileSync(path.join(repo, 'examples/app/k8s/overlays/production/kustomization.yaml'), 'utf8').split('\n')
    const after = fs.readFileSync(path.join(checkout, 'k8s/overlays/production/kustomization.yaml'), 'utf8').split('\n')
    const changed = after.filter((line, i) => line !== before[i])
    expect(after.slice(0, before.indexOf('images:') + 2)).toEqual(before.slice(0, before.indexOf('images:') + 2))
    expect(changed.join('\n')).toMatch(/newName: 127\.0\.0\.1:\d+\/e2e\/pipeline-[a-z0-9-]+\n\s+digest: sha256:[a-f0-9]{64}/)
  })

  it('a re-run of the same commit applies nothing new', async () => {
    const again = await runAction(inputs({ digest: first.outputs.digest }), { env: env(), cwd: checkout })
    expect(errorLines(again.log)).toEqual([])
    expect(again.outputs.status).toBe('succeeded')
    expect(JSON.parse(again.outputs.resources).map((r: { change: string }) => r.change)).toEqual(['unchanged', 'unchanged', 'unchanged'])
  })

  it('rolls a failing image back to the one that ran before', async () => {
    const manifests = path.join(checkout, 'broken.yaml')
    const deployment = (await kubectlJson(['-n', namespace, 'get', 'deployment', 'web'])) as { spec: { template: { metadata: { labels: Record<string, string> } } } }
    // The same Deployment whose new pods cannot pull their image (kwok simulates the kubelet).
    const template = { ...deployment.spec.template, metadata: { labels: { ...deployment.spec.template.metadata.labels, [SIM_LABEL]: 'image-pull-backoff' } } }
    fs.writeFileSync(
      manifests,
      JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template } })
    )
    const bad = await runAction(inputs({ kustomize: '', manifests: 'broken.yaml', 'image-name': inputs().image }), { env: env(), cwd: checkout })
    expect(bad.code).not.toBe(0)
    expect(bad.outputs.status).toBe('rolled-back')
    expect(bad.outputs['rolled-back']).toBe('true')
    expect(bad.outputs['previous-image']).toBe(first.outputs['image-ref'])
    const errors = errorLines(bad.log)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/Deployment\/.*web.*(ImagePullBackOff|ErrImagePull)/)
    expect(await liveImage()).toBe(first.outputs['image-ref'])
    const live = await kubectlJson(['-n', namespace, 'get', 'deployment', 'web'])
    expect(live.spec.template.metadata.labels[SIM_LABEL]).toBeUndefined()
    expect(bad.summary).toMatch(/rolled back/i)
  })
})
