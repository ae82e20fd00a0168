import { describe, expect, it } from '@jest/globals'
import { pinImages } from '../../src/manifests/pin.js'
import { podSpecs } from '../../src/manifests/pods.js'
import type { KubeObject, Manifest } from '../../src/manifests/types.js'

const D = `sha256:${'c'.repeat(64)}`
const OLD = `sha256:${'d'.repeat(64)}`
const origin = { file: 'm.yaml', line: 1 }

const pod = (containers: object[], initContainers: object[] = []) => ({ containers, initContainers })
const doc = (kind: string, apiVersion: string, body: object, name = 'web'): Manifest => ({
  object: { apiVersion, kind, metadata: { name, namespace: 'prod' }, ...body } as KubeObject,
  origin
})
const workload = (kind: string, apiVersion: string, spec: object) => doc(kind, apiVersion, { spec: { template: { spec } } })

describe('pinImages', () => {
  it.each<[string, Manifest, string[]]>([
    ['Pod', doc('Pod', 'v1', { spec: pod([{ name: 'a', image: 'localhost:5000/app:v1' }]) }), ['Pod/prod/web a']],
    ['Deployment', workload('Deployment', 'apps/v1', pod([{ name: 'a', image: 'localhost:5000/app' }])), ['Deployment/prod/web a']],
    ['StatefulSet init container', workload('StatefulSet', 'apps/v1', pod([], [{ name: 'm', image: 'localhost:5000/app:v0' }])), ['StatefulSet/prod/web m (init)']],
    ['DaemonSet', workload('DaemonSet', 'apps/v1', pod([{ name: 'a', image: 'localhost:5000/app:v1' }])), ['DaemonSet/prod/web a']],
    ['ReplicaSet', workload('ReplicaSet', 'apps/v1', pod([{ name: 'a', image: 'localhost:5000/app:v1' }])), ['ReplicaSet/prod/web a']],
    ['Job', workload('Job', 'batch/v1', pod([{ name: 'a', image: 'localhost:5000/app:v1' }])), ['Job/prod/web a']],
    [
      'CronJob',
      doc('CronJob', 'batch/v1', { spec: { jobTemplate: { spec: { template: { spec: pod([{ name: 'a', image: 'localhost:5000/app:v1' }]) } } } } }),
      ['CronJob/prod/web a']
    ],
    [
      'custom resource with a pod template at its own path',
      doc('Rollout', 'argoproj.io/v1alpha1', { spec: { workload: { template: { spec: pod([{ name: 'a', image: `localhost:5000/app:v1@${OLD}` }]) } } } }),
      ['Rollout/prod/web a']
    ],
    [
      'only the app container, not a sidecar on the same registry:port',
      workload('Deployment', 'apps/v1', pod([{ name: 'a', image: 'localhost:5000/app:v1' }, { name: 's', image: 'localhost:5000/sidecar:v1' }])),
      ['Deployment/prod/web a']
    ],
    [
      'not a repository that merely starts with the name',
      workload('Deployment', 'apps/v1', pod([{ name: 'a', image: 'localhost:5000/app-worker:v1' }, { name: 'b', image: 'localhost:5000/app/sub:v1' }])),
      []
    ]
  ])('%s', (_, manifest, expected) => {
    const before = structuredClone(manifest)
    const result = pinImages([manifest], ['localhost:5000/app'], `localhost:5000/app@${D}`)
    expect(result.changes.map(c => `${c.resource} ${c.container}`)).toEqual(expected)
    for (const c of result.changes) expect(c.to).toBe(`localhost:5000/app@${D}`)
    expect(manifest).toEqual(before) // the input is not modified
    expect(JSON.stringify(result.documents[0].object).includes(`localhost:5000/app@${D}`)).toBe(expected.length > 0)
    expect(result.documents[0].origin).toBe(origin)
  })

  it('matches normalised names: nginx, docker.io/nginx and docker.io/library/nginx are one repository', () => {
    const m = workload('Deployment', 'apps/v1', pod([
      { name: 'a', image: 'nginx:1.25' },
      { name: 'b', image: 'docker.io/nginx' },
      { name: 'c', image: 'index.docker.io/library/nginx:latest' },
      { name: 'd', image: 'nginxinc/nginx-unprivileged:1' }
    ]))
    const result = pinImages([m], ['nginx'], `docker.io/library/nginx@${D}`)
    expect(result.changes.map(c => [c.container, c.from])).toEqual([
      ['a', 'nginx:1.25'],
      ['b', 'docker.io/nginx'],
      ['c', 'index.docker.io/library/nginx:latest']
    ])
  })

  it('image-name other than the pushed repository: manifests say app, the pin points at the registry', () => {
    const result = pinImages([workload('Deployment', 'apps/v1', pod([{ name: 'a', image: 'app:dev' }]))], ['app'], `localhost:5000/team/app@${D}`)
    expect(result.changes).toEqual([{ resource: 'Deployment/prod/web', container: 'a', from: 'app:dev', to: `localhost:5000/team/app@${D}` }])
  })

  it('an image already pinned to the digest is matched but not changed (the written form may differ)', () => {
    const result = pinImages([workload('Deployment', 'apps/v1', pod([{ name: 'a', image: `nginx@${D}` }]))], ['nginx'], `docker.io/library/nginx@${D}`)
    expect(result).toMatchObject({ changes: [], matched: 1, warning: undefined })
  })

  it('ephemeralContainers are left alone', () => {
    const m = doc('Pod', 'v1', { spec: { containers: [{ name: 'a', image: 'x:1' }], ephemeralContainers: [{ name: 'e', image: 'localhost:5000/app:v1' }] } })
    expect(pinImages([m], ['localhost:5000/app'], `localhost:5000/app@${D}`).matched).toBe(0)
  })

  it('nothing matched: a loud warning naming what was found', () => {
    const result = pinImages(
      [workload('Deployment', 'apps/v1', pod([{ name: 'a', image: 'docker.io/library/nginx:1' }, { name: 'b', image: 'ghcr.io/x/y' }]))],
      ['localhost:5000/app'],
      `localhost:5000/app@${D}`
    )
    expect(result.warning).toBe(
      "nothing pinned: no container image names 'localhost:5000/app' (images found: docker.io/library/nginx:1, ghcr.io/x/y); set image-name to the name your manifests use"
    )
    expect(pinImages([], ['app'], `localhost:5000/app@${D}`).warning).toMatch(/no containers found/)
  })

  it('CustomResourceDefinitions are never searched', () => {
    const crd = doc('CustomResourceDefinition', 'apiextensions.k8s.io/v1', { spec: { containers: [{ image: 'localhost:5000/app' }] } })
    expect(podSpecs(crd.object)).toEqual([])
  })
})
