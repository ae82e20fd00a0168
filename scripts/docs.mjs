// Regenerates the README's inputs and outputs tables from action.yml, the single source of
// truth (a unit test fails when they drift).   scripts/node24 scripts/docs.mjs
import * as fs from 'node:fs'
import * as path from 'node:path'
import { parse } from 'yaml'

const repo = path.resolve(import.meta.dirname, '..')

export function tables(actionYml) {
  const action = parse(actionYml)
  const cell = text => String(text ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ')
  const inputs = Object.entries(action.inputs).map(
    ([name, i]) => `| \`${name}\` | ${cell(i.description)} | ${i.default === undefined ? '' : `\`${cell(i.default)}\``} |`
  )
  const outputs = Object.entries(action.outputs).map(([name, o]) => `| \`${name}\` | ${cell(o.description)} |`)
  return {
    inputs: ['| Input | Description | Default |', '| --- | --- | --- |', ...inputs].join('\n'),
    outputs: ['| Output | Description |', '| --- | --- |', ...outputs].join('\n')
  }
}

export function render(readme, actionYml) {
  const t = tables(actionYml)
  return readme
    .replace(/(<!-- inputs:start -->)[\s\S]*?(<!-- inputs:end -->)/, `$1\n${t.inputs}\n$2`)
    .replace(/(<!-- outputs:start -->)[\s\S]*?(<!-- outputs:end -->)/, `$1\n${t.outputs}\n$2`)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = path.join(repo, 'README.md')
  fs.writeFileSync(file, render(fs.readFileSync(file, 'utf8'), fs.readFileSync(path.join(repo, 'action.yml'), 'utf8')))
}
