import { describe, expect, it } from '@jest/globals'
import { imageChanges, planEdit, resourcesOutput } from '../../src/manifests/index.js'
import { parseReference } from '../../src/image/reference.js'
import type { ImageEntry } from '../../src/manifests/kustomize.js'
import type { Manifest } from '../../src/manifests/types.js'

const D = `sha256:${'f'.repeat(64)}`

describe('planEdit: which images: entry to set', () => {
  it.each<[string, string | undefined, string, ImageEntry[], string[], object]>([
    ['image-name wins', 'web', 'localhost:5000/web', [], ['localhost:5000/web:v1'], { name: 'web', newName: 'localhost:5000/web' }],
    ['image-name equal to the repository: no newName', 'localhost:5000/web', 'localhost:5000/web', [], [], { name: 'localhost:5000/web' }],
    ['an entry mapping a short name to the registry keeps its newName', undefined, 'localhost:5000/web', [{ name: 'web', newName: 'localhost:5000/web', newTag: 'v1' }], [], { name: 'web' }],
    ['an entry whose name is the repository', undefined, 'localhost:5000/web', [{ name: 'localhost:5000/web', newTag: 'v1' }], [], { name: 'localhost:5000/web' }],
    ['an entry pointing elsewhere gets our newName', undefined, 'localhost:5000/web', [{ name: 'localhost:5000/web', newName: 'ghcr.io/x/web' }], [], { name: 'localhost:5000/web', newName: 'localhost:5000/web' }],
    ['the name as the overlay’s containers write it (Docker Hub short form)', undefined, 'docker.io/library/nginx', [], ['nginx:1.25', 'redis:7'], { name: 'nginx' }],
    ['a registry with a port is not a tag', undefined, 'localhost:5000/web', [], ['localhost:5000/web-proxy:v1', 'localhost:5000/web:v1'], { name: 'localhost:5000/web' }],
    ['nothing known: Docker’s familiar name', undefined, 'docker.io/team/web', [], [], { name: 'team/web' }]
  ])('%s', (_, imageName, ref, entries, images, expected) => {
    expect(planEdit(imageName, parseReference(ref), D, entries, images)).toEqual({ ...expected, digest: D })
  })
})

describe('imageChanges and resourcesOutput', () => {
  const deploy = (image: string, ns?: string): Manifest => ({
    object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', ...(ns ? { namespace: ns } : {}) }, spec: { template: { spec: { containers: [{ name: 'c', image }, { name: 's', image: 'side:1' }] } } } },
    origin: { file: 'k.yaml', line: 1 }
  })

  it('reports the containers whose image differs between two renderings', () => {
    expect(imageChanges([deploy('web:v1')], [deploy(`web@${D}`)])).toEqual([{ resource: 'Deployment/web', container: 'c', from: 'web:v1', to: `web@${D}` }])
    expect(imageChanges([deploy('web:v1')], [deploy('web:v1')])).toEqual([])
  })

  it('lists kind, namespace (when set) and name in order', () => {
    expect(JSON.parse(resourcesOutput([deploy('a', 'prod'), deploy('b')]))).toEqual([
      { kind: 'Deployment', namespace: 'prod', name: 'web' },
      { kind: 'Deployment', name: 'web' }
    ])
  })
})
