import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { parse } from 'yaml'
// @ts-expect-error plain .mjs script without types
import { render } from '../../scripts/docs.mjs'

const repo = path.resolve(import.meta.dirname, '../..')
const read = (f: string) => fs.readFileSync(path.join(repo, f), 'utf8')

describe('documentation', () => {
  it('README tables equal action.yml (run scripts/docs.mjs to refresh)', () => {
    const readme = read('README.md')
    expect(readme).toContain('| `kustomize` |')
    expect(render(readme, read('action.yml'))).toBe(readme)
  })
  it('every input in action.yml is read by src/inputs.ts, and nothing else is', () => {
    const declared = Object.keys(parse(read('action.yml')).inputs).sort()
    const src = read('src/inputs.ts')
    const used = [...new Set([...src.matchAll(/\b(?:text|list|lines|get|bool\(get,|choice\(get,)\s*\(?\s*'([a-z-]+)'/g)].map(m => m[1]))].sort()
    expect(used).toEqual(declared)
  })
})
