// The Manifests stage against the real kustomize (`kubectl kustomize`): overlays from
// __tests__/fixtures/manifests are copied to a temp workspace, patched and rendered; plain
// manifests are loaded from disk. No cluster is needed.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { diffLines } from 'diff'
import { parse as parseYaml } from 'yaml'
import { renderManifests, resourcesOutput, type ManifestSettings } from '../../src/manifests/index.js'
import { loadManifests } from '../../src/manifests/load.js'
import { kustomizeMessage, renderOverlay } from '../../src/manifests/render.js'
import { parseReference } from '../../src/image/reference.js'
import { describeError } from '../../src/errors.js'
import type { AnnotationSink } from '../../src/manifests/policy.js'

const FIXTURES = join(process.cwd(), '__tests__/fixtures/manifests')
const D = `sha256:${'1'.repeat(64)}`
const WEB = 'localhost:5000/kube-ship/web'

let ws: string
let notes: { level: string; message: string; props: object }[]
const sink: AnnotationSink = {
  warning: (message, props) => notes.push({ level: 'warning', message, props }),
  error: (message, props) => notes.push({ level: 'error', message, props })
}

beforeEach(() => {
  ws = mkdtempSync(join(tmpdir(), 'kube-ship-manifests-'))
  cpSync(FIXTURES, ws, { recursive: true })
  notes = []
})
afterEach(() => rmSync(ws, { recursive: true, force: true }))

const settings = (s: Partial<ManifestSettings>): ManifestSettings => ({ kustomize: [], manifests: [], policy: 'off', ...s })
const image = (ref: string, digest = D) => ({ ref: parseReference(ref), digest })
/** container name → image, from kubectl kustomize's own output (not ours). */
function kubectlImages(overlay: string): Record<string, string> {
  const out: Record<string, string> = {}
  const text = execFileSync('kubectl', ['kustomize', join(ws, overlay)], { encoding: 'utf8' })
  for (const doc of text.split(/^---$/m)) {
    const o = parseYaml(doc)
    const walk = (n: unknown): void => {
      if (Array.isArray(n)) return n.forEach(walk)
      if (!n || typeof n !== 'object') return
      for (const [k, v] of Object.entries(n)) {
        if ((k === 'containers' || k === 'initContainers') && Array.isArray(v)) for (const c of v) out[`${o.kind}/${c.name}`] = c.image
        else walk(v)
      }
    }
    walk(o)
  }
  return out
}
function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const r = { removed: [] as string[], added: [] as string[] }
  for (const p of diffLines(before, after)) {
    const lines = p.value.replace(/\n$/, '').split('\n')
    if (p.removed) r.removed.push(...lines)
    if (p.added) r.added.push(...lines)
  }
  return r
}
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return describeError(err)
  }
  throw new Error('expected a failure')
}

describe('overlays patched and rendered by the real kustomize', () => {
  it('prod: entry added for the app image; containers, init containers and the CronJob render repo@digest, only new lines in the diff', async () => {
    const file = join(ws, 'overlays/prod/kustomization.yaml')
    const before = readFileSync(file, 'utf8')
    const result = await renderManifests(settings({ kustomize: ['overlays/prod'] }), image(WEB), { cwd: ws, sink })

    expect(kubectlImages('overlays/prod')).toEqual({
      'Deployment/migrate': `${WEB}@${D}`,
      'Deployment/web': `${WEB}@${D}`,
      'Deployment/proxy': 'localhost:5000/kube-ship/web-proxy:1.10',
      'CronJob/report': `${WEB}@${D}`
    })
    const after = readFileSync(file, 'utf8')
    expect(changedLines(before, after)).toEqual({ removed: [], added: [`  - name: ${WEB}`, `    digest: ${D}`] })
    expect(result.overlays).toEqual([{ file: 'overlays/prod/kustomization.yaml', before, after, edit: { name: WEB, digest: D } }])
    expect(result.pinned.map(p => `${p.resource} ${p.container} ${p.from} → ${p.to}`).sort()).toEqual([
      `CronJob/prod/report report ${WEB}:v1 → ${WEB}@${D}`,
      `Deployment/prod/web migrate (init) ${WEB}:v1 → ${WEB}@${D}`,
      `Deployment/prod/web web ${WEB}:v1 → ${WEB}@${D}`
    ])
    expect(result.documents.every(d => d.origin.file === 'overlays/prod/kustomization.yaml' && d.origin.rendered)).toBe(true)
    expect(JSON.parse(resourcesOutput(result.documents))).toEqual([
      { kind: 'Deployment', namespace: 'prod', name: 'web' },
      { kind: 'CronJob', namespace: 'prod', name: 'report' }
    ])
    expect(result.warnings).toEqual([])

    // A second run with the same digest is a no-op: file untouched, nothing reported as rewritten.
    const again = await renderManifests(settings({ kustomize: ['overlays/prod'] }), image(WEB), { cwd: ws, sink })
    expect(again.overlays).toEqual([])
    expect(readFileSync(file, 'utf8')).toBe(after)
  })

  it('staging: the existing entry’s tag becomes the digest on the same line, its comment kept', async () => {
    const file = join(ws, 'overlays/staging/kustomization.yaml')
    const before = readFileSync(file, 'utf8')
    await renderManifests(settings({ kustomize: ['overlays/staging'] }), image(WEB), { cwd: ws, sink })
    expect(changedLines(before, readFileSync(file, 'utf8'))).toEqual({ removed: ['  newTag: v2'], added: [`  digest: ${D}`] })
    expect(kubectlImages('overlays/staging')).toMatchObject({ 'Deployment/web': `${WEB}@${D}`, 'Deployment/proxy': 'localhost:5000/kube-ship/web-proxy:v1' })
  })

  it('image-name other than the registry repository: newName written, rendered at the registry', async () => {
    writeFileSync(join(ws, 'hub-base/pod.yaml'), readFileSync(join(ws, 'hub-base/pod.yaml'), 'utf8').replace('nginx:1.25', 'web:dev'))
    const result = await renderManifests(settings({ kustomize: ['overlays/hub'], imageName: 'web' }), image(WEB), { cwd: ws, sink })
    expect(kubectlImages('overlays/hub')).toEqual({ 'Pod/nginx': `${WEB}@${D}` })
    expect(result.overlays[0].edit).toEqual({ name: 'web', newName: WEB, digest: D })
  })

  it('Docker Hub: the entry uses the name exactly as the base writes it (nginx), so kustomize matches', async () => {
    const result = await renderManifests(settings({ kustomize: ['overlays/hub'] }), image('docker.io/library/nginx'), { cwd: ws, sink })
    expect(kubectlImages('overlays/hub')).toEqual({ 'Pod/nginx': `nginx@${D}` })
    expect(result.warnings).toEqual([])
  })

  it('a name kustomize cannot match: loud warning, and the rendered objects pinned in memory', async () => {
    const result = await renderManifests(settings({ kustomize: ['overlays/hub'], imageName: 'docker.io/library/nginx' }), image('nginx'), { cwd: ws, sink })
    expect(kubectlImages('overlays/hub')).toEqual({ 'Pod/nginx': 'nginx:1.25' }) // kustomize itself did not match
    expect(result.warnings).toEqual([
      "overlays/hub/kustomization.yaml: images entry 'docker.io/library/nginx' did not match Pod/edge nginx (nginx:1.25); kustomize matches the name exactly as written in the base, so they were pinned in memory only — set image-name to that name"
    ])
    expect(notes).toEqual([{ level: 'warning', message: result.warnings[0], props: { file: 'overlays/hub/kustomization.yaml', startLine: 1 } }])
    expect((result.documents[0].object.spec as { containers: { image: string }[] }).containers[0].image).toBe(`docker.io/library/nginx@${D}`)
  })

  it('an image no container uses: loud warning naming the images that are there', async () => {
    const result = await renderManifests(settings({ kustomize: ['overlays/hub'] }), image('localhost:5000/other'), { cwd: ws, sink })
    expect(result.warnings).toEqual([
      "overlays/hub/kustomization.yaml: images entry 'localhost:5000/other' matches no container image of overlay 'overlays/hub' (images there: nginx:1.25)",
      "nothing pinned: no container image in the manifests or overlays names 'localhost:5000/other'; set image-name to the name your manifests use"
    ])
  })

  it('without an image the overlay is rendered untouched', async () => {
    const before = readFileSync(join(ws, 'overlays/prod/kustomization.yaml'), 'utf8')
    const result = await renderManifests(settings({ kustomize: ['overlays/prod'] }), undefined, { cwd: ws, sink })
    expect(result.documents).toHaveLength(2)
    expect(result.pinned).toEqual([])
    expect(readFileSync(join(ws, 'overlays/prod/kustomization.yaml'), 'utf8')).toBe(before)
  })

  it.each([
    ['a missing overlay directory', 'overlays/nope', /^input 'kustomize': overlay directory 'overlays\/nope' does not exist$/],
    ['a directory without a kustomization', 'plain', /^input 'kustomize': overlay 'plain' has no kustomization.yaml, kustomization.yml, Kustomization$/],
    [
      'a kustomize error',
      'overlays/broken',
      // kustomize's chain of "accumulating resources" wrappers folded to the resource and the cause
      /^input 'kustomize': kustomize failed to render overlay 'overlays\/broken': resource '..\/..\/does-not-exist': .*no such file or directory$/
    ]
  ])('%s is one line', async (_, dir, expected) => {
    const line = await failure(renderManifests(settings({ kustomize: [dir] }), image(WEB), { cwd: ws, sink }))
    expect(line).toMatch(expected)
    expect(line).not.toMatch(/\n|^\s+at /)
    expect(line).not.toContain(ws) // no absolute runner paths
  })

  it('several kustomization files in one overlay are refused', async () => {
    writeFileSync(join(ws, 'overlays/prod/Kustomization'), 'resources: []\n')
    expect(await failure(renderOverlay('overlays/prod', ws))).toBe(
      "input 'kustomize': overlay 'overlays/prod' has several kustomization files (kustomization.yaml, Kustomization); keep one"
    )
  })

  it('kustomize build is preferred; when it is not on PATH kubectl kustomize renders', async () => {
    const docs = await renderOverlay('overlays/prod', ws, [
      { file: 'kube-ship-no-such-kustomize', args: ['build'] },
      { file: 'kubectl', args: ['kustomize'] }
    ])
    expect(docs.map(d => d.object.kind)).toEqual(['Deployment', 'CronJob'])
    expect(await failure(renderOverlay('overlays/prod', ws, [{ file: 'kube-ship-no-such-kustomize', args: ['build'] }]))).toBe(
      "input 'kustomize': cannot render overlay 'overlays/prod': neither kustomize nor kubectl is on PATH (last tried kube-ship-no-such-kustomize)"
    )
  })

  it('kustomize’s message is taken from either renderer’s stderr', () => {
    expect(kustomizeMessage('Error: accumulating resources: x\n')).toBe('accumulating resources: x')
    expect(kustomizeMessage('E1125 22:39:50.704932 381 run.go:72] "command failed" err="a \\"quoted\\" thing"\n')).toBe('a "quoted" thing')
  })
})

describe('plain manifests from files, directories and globs', () => {
  it('loads a file, a directory and a glob; pins only the app containers; keeps file:line origins', async () => {
    const result = await renderManifests(settings({ manifests: ['plain/app.yaml', 'plain/more', 'plain/**/list.y*ml'] }), image(WEB), { cwd: ws, sink })
    expect(result.documents.map(d => `${d.object.kind}/${d.object.metadata.name} ${d.origin.file}:${d.origin.line}`)).toEqual([
      'Deployment/web plain/app.yaml:3',
      'Service/web plain/app.yaml:21',
      'ConfigMap/web-config plain/more/list.yaml:4',
      'Job/migrate plain/more/list.yaml:8'
    ])
    expect(result.pinned.map(p => `${p.resource} ${p.container}`)).toEqual(['Deployment/plain/web web', 'Job/plain/migrate migrate'])
    const web = result.documents[0].object.spec as { template: { spec: { containers: { image: string }[] } } }
    expect(web.template.spec.containers.map(c => c.image)).toEqual([`${WEB}@${D}`, 'localhost:5000/kube-ship/web-sidecar:v1'])
    // the file on disk is not rewritten for plain manifests
    expect(readFileSync(join(ws, 'plain/app.yaml'), 'utf8')).toContain(`${WEB}:v1`)
  })

  it('policy warn: annotations at the container lines of the file', async () => {
    const result = await renderManifests(settings({ manifests: ['plain/app.yaml'], policy: 'warn' }), image(WEB), { cwd: ws, sink })
    const web = notes.filter(n => n.message.startsWith("Deployment/plain/web container 'web'"))
    expect(web.every(n => (n.props as { startLine: number }).startLine === 16 && (n.props as { file: string }).file === 'plain/app.yaml')).toBe(true)
    expect(web.map(n => (n.props as { title: string }).title)).toEqual([
      'policy: readiness-probe',
      'policy: liveness-probe',
      'policy: resources',
      'policy: run-as-non-root',
      'policy: privilege-escalation',
      'policy: read-only-root'
    ])
    expect(result.warnings.length).toBe(notes.length)
  })

  it('policy enforce fails the stage with the first finding', async () => {
    const line = await failure(renderManifests(settings({ manifests: ['plain/app.yaml'], policy: 'enforce' }), image(WEB), { cwd: ws, sink }))
    expect(line).toMatch(/^plain\/app.yaml:16: policy enforce: \d+ findings, first: Deployment\/plain\/web container 'web': no readinessProbe/)
    expect(notes.every(n => n.level === 'error')).toBe(true)
  })

  it.each([
    ['a duplicate across files', ['plain/app.yaml', 'dup.yaml'], 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: plain}\n', 'dup.yaml:1: Service/plain/web is defined twice; first at plain/app.yaml:21'],
    ['invalid YAML', ['bad.yaml'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: 1\n', /^bad.yaml:5:\d+: invalid YAML: /],
    ['no kind', ['nokind.yaml'], '---\napiVersion: v1\nmetadata: {name: x}\n', 'nokind.yaml:2: object has no kind'],
    ['a missing file', ['missing.yaml'], undefined, "input 'manifests': 'missing.yaml' does not exist"],
    ['a glob matching nothing', ['nothing/**/*.yaml'], undefined, "input 'manifests': 'nothing/**/*.yaml' matches no .yaml or .yml file"],
    ['a directory without YAML', ['empty'], undefined, "input 'manifests': directory 'empty' has no .yaml or .yml files"]
  ])('%s is one clear line', async (_, entries, content, expected) => {
    if (content !== undefined) writeFileSync(join(ws, entries[entries.length - 1]), content)
    if (entries[0] === 'empty') mkdirSync(join(ws, 'empty'))
    const line = await failure(loadManifests(entries, ws))
    if (typeof expected === 'string') expect(line).toBe(expected)
    else expect(line).toMatch(expected)
  })

  it('an overlay and a plain manifest defining the same object are duplicates', async () => {
    writeFileSync(join(ws, 'dup.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\n')
    expect(await failure(renderManifests(settings({ manifests: ['dup.yaml'], kustomize: ['overlays/prod'] }), image(WEB), { cwd: ws, sink }))).toBe(
      'overlays/prod/kustomization.yaml:1: Deployment/prod/web is defined twice; first at dup.yaml:1'
    )
  })
})
