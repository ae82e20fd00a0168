// Our in-place `images:` edit against the real `kustomize edit set image` (kustomize 5.5 built by
// the stack): both overlays rendered with kubectl kustomize must give the same objects.
// Deliberately not compared: entries that chain (one renames an image into another's name);
// kustomize re-sorts the list, which changes such a result, and we keep the user's order.
import { describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImage, type SetImage } from '../../src/manifests/kustomize.js'
import { stack } from './stack.js'

const D = `sha256:${'1'.repeat(64)}`
const OLD = `sha256:${'2'.repeat(64)}`
const base = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers: [{name: i, image: "app:v0"}]
      containers:
      - {name: a, image: "app:v1"}
      - {name: b, image: "reg.example.com:5000/team/app:v1@${OLD}"}
      - {name: c, image: "nginx:1.25"}
`
const overlay = (images: string) => `resources:\n- ../base\n${images}`

const cases: [string, string, SetImage, string][] = [
  ['a new entry', overlay(''), { name: 'app', digest: D }, `app=*@${D}`],
  ['a tag entry', overlay('images:\n- name: app\n  newTag: v9\n'), { name: 'app', digest: D }, `app=*@${D}`],
  ['newName kept', overlay('images:\n- name: app\n  newName: reg.example.com:5000/team/app\n  newTag: v9\n'), { name: 'app', digest: D }, `app=*@${D}`],
  ['newName set', overlay('images:\n- name: app\n  newTag: v9\n'), { name: 'app', newName: 'localhost:5000/app', digest: D }, `app=localhost:5000/app@${D}`],
  ['tag and digest', overlay('images:\n- name: app\n  newTag: v9\n'), { name: 'app', digest: D, tag: '1.10' }, `app=*:1.10@${D}`],
  ['tagSuffix dropped', overlay('images:\n- name: app\n  tagSuffix: -alpine\n'), { name: 'app', digest: D }, `app=*@${D}`],
  ['a name with a registry port', overlay('images:\n- name: reg.example.com:5000/team/app\n  newTag: v9\n'), { name: 'reg.example.com:5000/team/app', digest: D }, `reg.example.com:5000/team/app=*@${D}`],
  ['flow style', overlay('images: [{name: app, newTag: v9}, {name: nginx, newTag: "1.27"}]\n'), { name: 'app', digest: D }, `app=*@${D}`],
  ['an empty images key', overlay('images:\n'), { name: 'nginx', digest: D }, `nginx=*@${D}`]
]

describe('setImage renders as kustomize edit set image', () => {
  it.each(cases)('%s', (_, kustomization, want, arg) => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-ship-parity-'))
    try {
      for (const side of ['base', 'ours', 'theirs']) mkdirSync(join(dir, side))
      writeFileSync(join(dir, 'base/kustomization.yaml'), 'resources:\n- d.yaml\n')
      writeFileSync(join(dir, 'base/d.yaml'), base)
      writeFileSync(join(dir, 'ours/kustomization.yaml'), setImage(kustomization, want).text)
      writeFileSync(join(dir, 'theirs/kustomization.yaml'), kustomization)
      execFileSync(stack().kustomize, ['edit', 'set', 'image', arg], { cwd: join(dir, 'theirs') })
      const render = (side: string) => execFileSync('kubectl', ['kustomize', join(dir, side)], { encoding: 'utf8' })
      const ours = render('ours')
      expect(ours).toContain(`@${D}`)
      expect(ours).toBe(render('theirs'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
