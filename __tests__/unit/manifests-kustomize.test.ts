import { describe, expect, it } from '@jest/globals'
import { diffLines } from 'diff'
import {
  kustomizeMatches,
  nameRegexWarning,
  readImages,
  setImage,
  splitKustomizeImage,
  transformImage,
  type SetImage
} from '../../src/manifests/kustomize.js'
import { DeployError } from '../../src/errors.js'

const D = `sha256:${'a'.repeat(64)}`
const OLD = `sha256:${'b'.repeat(64)}`

/** The lines only in `before` and the lines only in `after`. */
function changed(before: string, after: string): { removed: string[]; added: string[] } {
  const removed: string[] = []
  const added: string[] = []
  for (const part of diffLines(before, after)) {
    const lines = part.value.replace(/\n$/, '').split('\n')
    if (part.removed) removed.push(...lines)
    if (part.added) added.push(...lines)
  }
  return { removed, added }
}

describe('setImage edits only the lines that change', () => {
  it.each<[string, string, SetImage, string[], string[]]>([
    [
      'no images: appended in kustomize style (dash at column 0)',
      '# overlay for prod\nresources:\n- ../../base\n',
      { name: 'app', digest: D },
      [],
      ['images:', '- name: app', `  digest: ${D}`]
    ],
    [
      'no images: appended in the file’s own indented sequence style',
      'resources:\n  - ../../base\nnamespace: prod # keep\n',
      { name: 'app', digest: D },
      [],
      ['images:', '  - name: app', `    digest: ${D}`]
    ],
    [
      'tag replaced by digest on the same line, comments and quoting elsewhere kept',
      '# head\nimages:\n  - name: app # ours\n    newTag: "1.2"\n  - name: other\n    newTag: v9 # theirs\n',
      { name: 'app', digest: D },
      ['    newTag: "1.2"'],
      [`    digest: ${D}`]
    ],
    [
      'existing digest replaced in place, quote style kept',
      "images:\n- name: app\n  digest: 'sha256:old'\n",
      { name: 'app', digest: D },
      ["  digest: 'sha256:old'"],
      [`  digest: '${D}'`]
    ],
    [
      'newName kept (name=*@digest) and tag dropped',
      `images:\n- name: app\n  newName: reg.example.com:5000/team/app\n  newTag: v1\n  digest: ${OLD}\n`,
      { name: 'app', digest: D },
      ['  newTag: v1', `  digest: ${OLD}`],
      [`  digest: ${D}`]
    ],
    [
      'newName replaced when asked',
      'images:\n- name: app\n  newName: old.example.com/app\n',
      { name: 'app', newName: 'localhost:5000/app', digest: D },
      ['  newName: old.example.com/app'],
      ['  newName: localhost:5000/app', `  digest: ${D}`]
    ],
    [
      'tag kept next to the digest when given, quoted when YAML 1.1 would read a number',
      'images:\n- name: app\n  newTag: v1\n',
      { name: 'app', digest: D, tag: '1.10' },
      ['  newTag: v1'],
      ['  newTag: "1.10"', `  digest: ${D}`]
    ],
    [
      'tagSuffix removed: a digest makes it dead',
      'images:\n- name: app\n  tagSuffix: -alpine\n  newName: x.io/app\n',
      { name: 'app', digest: D },
      ['  tagSuffix: -alpine'],
      [`  digest: ${D}`]
    ],
    [
      'entry appended after the last entry, before trailing comments',
      'images:\n- name: x\n  newTag: v1 # c\n\n# trailing\n',
      { name: 'app', digest: D },
      [],
      ['- name: app', `  digest: ${D}`]
    ],
    [
      'empty images: key gets the entry, its comment stays',
      'images: # pinned by CI\nresources: []\n',
      { name: 'app', digest: D },
      [],
      ['- name: app', `  digest: ${D}`]
    ],
    [
      'flow sequence rewritten on its own line',
      'images: [{name: app, newTag: v1}]\nresources: []\n',
      { name: 'app', digest: D },
      ['images: [{name: app, newTag: v1}]'],
      [`images: [ { name: app, digest: ${D} } ]`]
    ],
    [
      'flow entry inside a block list rewritten alone',
      'images:\n- {name: app, newTag: v1}\n- name: b\n',
      { name: 'app', digest: D },
      ['- {name: app, newTag: v1}'],
      [`- { name: app, digest: ${D} }`]
    ],
    [
      'every entry with the name is set (a later duplicate would re-tag the image)',
      'images:\n- name: app\n  newTag: v1\n- name: app\n  newTag: v2\n',
      { name: 'app', digest: D },
      ['  newTag: v1', '  newTag: v2'],
      [`  digest: ${D}`, `  digest: ${D}`]
    ],
    [
      'no final newline',
      'images:\n- name: x\n  newTag: v1',
      { name: 'app', digest: D },
      ['  newTag: v1'],
      ['  newTag: v1', '- name: app', `  digest: ${D}`]
    ],
    [
      'header comments, a leading --- and blank lines survive',
      '# header\n\n---\n# about resources\nresources:\n- a\n\nimages:\n\n- name: app\n  newTag: v1\n\n# tail\n',
      { name: 'app', digest: D },
      ['  newTag: v1'],
      [`  digest: ${D}`]
    ],
    [
      'a document end marker stays last',
      '---\nresources:\n- a\n...\n',
      { name: 'app', digest: D },
      [],
      ['images:', '- name: app', `  digest: ${D}`]
    ],
    [
      'tags YAML 1.1 reads as bool or number are quoted',
      'images:\n- name: app\n  newTag: v1\n',
      { name: 'app', digest: D, tag: 'y' },
      ['  newTag: v1'],
      ['  newTag: "y"', `  digest: ${D}`]
    ],
    [
      'a dropped key on the dash line: the next key moves up',
      `images:\n- newTag: v1\n  tagSuffix: -x\n  name: app\n  digest: ${OLD}\n`,
      { name: 'app', digest: D },
      ['- newTag: v1', '  tagSuffix: -x', '  name: app', `  digest: ${OLD}`],
      ['- name: app', `  digest: ${D}`]
    ],
    [
      'registry with a port in name is matched as a whole string',
      'images:\n- name: reg:5000/app\n  newTag: v1\n- name: reg\n  newTag: "5000"\n',
      { name: 'reg:5000/app', digest: D },
      ['  newTag: v1'],
      [`  digest: ${D}`]
    ]
  ])('%s', (_, before, want, removed, added) => {
    const result = setImage(before, want)
    expect(result.changed).toBe(true)
    expect(changed(before, result.text)).toEqual({ removed, added })
  })

  it('already pinned: unchanged, same bytes', () => {
    const text = `# keep\nimages:\n  - name: app   # two spaces kept\n    digest: ${D}\n`
    expect(setImage(text, { name: 'app', digest: D })).toEqual({ text, changed: false })
  })

  it('the entry goes before a document end marker', () => {
    expect(setImage('resources:\n- a\n...\n', { name: 'app', digest: D }).text).toBe(`resources:\n- a\nimages:\n- name: app\n  digest: ${D}\n...\n`)
  })

  it('an empty file becomes a kustomization with the entry', () => {
    expect(setImage('', { name: 'app', digest: D }).text).toBe(`images:\n- name: app\n  digest: ${D}\n`)
  })

  it.each([
    ['invalid YAML with its position', 'images:\n- name: app\n  newTag: [v1\n', /^kustomization.yaml:\d+:\d+: invalid YAML/],
    ['images that is not a list', 'images: app\n', /^kustomization.yaml:1: 'images' is not a list$/],
    ['a top level that is not a mapping', '- a\n- b\n', /^kustomization.yaml:1: is not a kustomization/],
  ])('%s is one clear line', (_, text, line) => {
    let error: unknown
    try {
      setImage(text, { name: 'app', digest: D })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(DeployError)
    expect((error as DeployError).line()).toMatch(line)
  })
})

describe('what kustomize renders after the edit (reference §5.2/5.3)', () => {
  // Each row: the kustomization before, our edit, the image in the base, what the build shows,
  // i.e. what `kustomize edit set image <arg>` + `kustomize build` produce.
  it.each<[string, string, SetImage, string, string]>([
    ['app@digest drops the tag', 'images:\n- name: app\n  newTag: v1\n', { name: 'app', digest: D }, 'app:v0', `app@${D}`],
    [
      'app=*@digest keeps newName',
      'images:\n- name: app\n  newName: reg.example.com:5000/team/app\n  newTag: v1\n',
      { name: 'app', digest: D },
      'app',
      `reg.example.com:5000/team/app@${D}`
    ],
    ['app=new@digest sets newName', '', { name: 'app', newName: 'localhost:5000/app', digest: D }, 'app:v1', `localhost:5000/app@${D}`],
    ['app:tag@digest keeps both', '', { name: 'app', digest: D, tag: 'v2' }, `app:v1@${OLD}`, `app:v2@${D}`],
    ['a digest in the base is replaced', '', { name: 'app', digest: D }, `app@${OLD}`, `app@${D}`],
    ['a host:port name is one name', '', { name: 'localhost:5000/app', digest: D }, 'localhost:5000/app:v1', `localhost:5000/app@${D}`]
  ])('%s', (_, before, want, image, rendered) => {
    const entries = readImages(setImage(before, want).text)
    const entry = entries.find(e => e.name === want.name)!
    expect(transformImage(entry, image)).toBe(rendered)
  })
})

describe('kustomize name matching', () => {
  it.each([
    ['nginx', 'nginx', true],
    ['nginx', 'nginx:1.25', true],
    ['nginx', `nginx@${D}`, true],
    ['nginx', `nginx:1.25@${D}`, true],
    ['nginx', 'docker.io/library/nginx:1.25', false],
    ['docker.io/library/nginx', 'nginx:1.25', false],
    ['nginx', 'nginx-proxy:1', false],
    ['my.app', 'myxapp:1', true],
    ['reg:5000/app', 'reg:5000/app:v1', true],
    ['reg', 'reg:5000/app:v1', false],
    ['bad[', 'bad[', false]
  ])('%s vs %s → %s', (name, image, expected) => {
    expect(kustomizeMatches(name, image)).toBe(expected)
  })

  it.each([
    ['app', { name: 'app', tag: '', digest: '' }],
    ['app:v1', { name: 'app', tag: 'v1', digest: '' }],
    [`app@${D}`, { name: 'app', tag: '', digest: D }],
    [`app:v1@${D}`, { name: 'app', tag: 'v1', digest: D }],
    ['reg:5000/app:v1', { name: 'reg:5000/app', tag: 'v1', digest: '' }],
    ['reg:5000', { name: 'reg', tag: '5000', digest: '' }]
  ])('split %s', (image, parts) => {
    expect(splitKustomizeImage(image)).toEqual(parts)
  })

  it.each([
    [{ name: 'first', newName: 'second' }, 'first:1', 'second:1'],
    [{ name: 'app', newTag: 'v2' }, `app:v1@${D}`, 'app:v2'],
    [{ name: 'app', tagSuffix: '-alpine' }, 'app:1.25', 'app:1.25-alpine'],
    [{ name: 'other', digest: D }, 'app:1', undefined]
  ])('transform %j on %s', (entry, image, out) => {
    expect(transformImage(entry, image)).toBe(out)
  })

  it('warns about regex characters in a name, not about dots', () => {
    expect(nameRegexWarning('reg.example.com/app')).toBeUndefined()
    expect(nameRegexWarning('app+x')).toMatch(/regular expression/)
  })
})
