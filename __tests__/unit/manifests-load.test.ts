import { describe, expect, it } from '@jest/globals'
import { assertNoDuplicates, objectKey } from '../../src/manifests/check.js'
import { parseManifests } from '../../src/manifests/load.js'
import type { Manifest } from '../../src/manifests/types.js'

import { errorLine as lineOf } from './error-line.js'

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: app:v1
`

describe('parseManifests', () => {
  it('keeps file and 1-based first line of each document, and node lines', () => {
    const text = `# leading comment\n---\n${deployment}---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: prod}\n`
    const docs = parseManifests(text, 'k8s/app.yaml')
    expect(docs.map(d => [d.object.kind, d.origin.file, d.origin.line])).toEqual([
      ['Deployment', 'k8s/app.yaml', 3],
      ['Service', 'k8s/app.yaml', 14]
    ])
    expect(docs[0].origin.lines?.['spec.template.spec.containers.0']).toBe(11)
    expect(docs[0].origin.lines?.['spec.template.spec.containers.0.image']).toBe(12)
  })

  it.each([
    ['empty text', ''],
    ['comments only', '# nothing\n'],
    ['only separators', '---\n---\n'],
    ['null documents', '---\n~\n---\n']
  ])('%s gives no documents', (_, text) => {
    expect(parseManifests(text, 'a.yaml')).toEqual([])
  })

  it('tolerates a trailing --- and empty documents between objects', () => {
    const docs = parseManifests(`---\n${deployment}---\n\n---\n# just a comment\n---\n`, 'a.yaml')
    expect(docs).toHaveLength(1)
    expect(docs[0].origin.line).toBe(2)
  })

  it('expands kind: List, each item with its own line and node lines', () => {
    const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: b
  spec:
    template:
      spec:
        containers:
        - name: b
          image: app
`
    const docs = parseManifests(text, 'list.yaml')
    expect(docs.map(d => [d.object.kind, d.object.metadata.name, d.origin.line])).toEqual([
      ['ConfigMap', 'a', 4],
      ['Deployment', 'b', 7]
    ])
    expect(docs[1].origin.lines?.['spec.template.spec.containers.0']).toBe(15)
  })

  it('resolves anchors and aliases', () => {
    const docs = parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: a}\ndata: {copy: x}\n', 'a.yaml')
    expect(docs[0].object.metadata).toEqual({ name: 'a' })
  })

  it.each([
    ['invalid YAML with line and column', `${deployment}---\napiVersion: v1\nkind: [\n`, /^bad.yaml:14:\d+: invalid YAML: /],
    ['bad indentation', 'apiVersion: v1\nkind: ConfigMap\n metadata: x\n', /^bad.yaml:\d+:\d+: invalid YAML/],
    ['duplicate key', 'apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n', /^bad.yaml:3:1: invalid YAML: Map keys must be unique/],
    ['a document without kind', 'apiVersion: v1\nmetadata: {name: a}\n', /^bad.yaml:1: object has no kind$/],
    ['a document without apiVersion and name', `# c\n---\nkind: ConfigMap\nmetadata: {}\n`, /^bad.yaml:3: object has no apiVersion, metadata.name$/],
    ['generateName', 'apiVersion: v1\nkind: Pod\nmetadata: {generateName: a-}\n', /metadata.name \(server-side apply needs metadata.name; generateName is not supported\)$/],
    ['a kustomization given as a manifest', 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n', /^bad.yaml:1: is a kustomization, not a Kubernetes object \(list its directory under 'kustomize' instead of 'manifests'\)$/],
    ['a scalar document', 'just text\n', /^bad.yaml:1: document is not a mapping/],
    ['a list item that is not a mapping', 'apiVersion: v1\nkind: List\nitems:\n- 3\n', /^bad.yaml:4: list item is not a mapping/]
  ])('%s → one line with the place', (_, text, expected) => {
    const line = lineOf(() => parseManifests(text, 'bad.yaml'))
    expect(line).toMatch(expected)
    expect(line).not.toContain('\n')
  })
})

describe('duplicates', () => {
  const m = (apiVersion: string, kind: string, name: string, namespace: string | undefined, file: string, line: number): Manifest => ({
    object: { apiVersion, kind, metadata: { name, namespace } },
    origin: { file, line }
  })

  it.each([
    ['same group, other version', m('apps/v1', 'Deployment', 'web', 'a', 'x.yaml', 1), m('apps/v1beta2', 'Deployment', 'web', 'a', 'y.yaml', 5), true],
    ['other namespace', m('apps/v1', 'Deployment', 'web', 'a', 'x.yaml', 1), m('apps/v1', 'Deployment', 'web', 'b', 'y.yaml', 5), false],
    ['other kind', m('v1', 'Service', 'web', 'a', 'x.yaml', 1), m('apps/v1', 'Deployment', 'web', 'a', 'y.yaml', 5), false],
    ['other group', m('networking.k8s.io/v1', 'Ingress', 'web', undefined, 'x.yaml', 1), m('extensions/v1beta1', 'Ingress', 'web', undefined, 'y.yaml', 5), false],
    ['core, no namespace', m('v1', 'ConfigMap', 'c', undefined, 'x.yaml', 1), m('v1', 'ConfigMap', 'c', undefined, 'x.yaml', 9), true]
  ])('%s → duplicate: %s', (_, a, b, dup) => {
    if (dup) {
      expect(lineOf(() => assertNoDuplicates([a, b]))).toBe(
        `${b.origin.file}:${b.origin.line}: ${[a.object.kind, a.object.metadata.namespace, a.object.metadata.name].filter(Boolean).join('/')} is defined twice; first at ${a.origin.file}:${a.origin.line}`
      )
    } else {
      expect(() => assertNoDuplicates([a, b])).not.toThrow()
      expect(objectKey(a.object)).not.toBe(objectKey(b.object))
    }
  })
})
