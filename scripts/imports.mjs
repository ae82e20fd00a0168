// Fails when src/ has an import cycle: between two files, or between two folders (a folder is a
// top-level directory of src/, e.g. kube/ with kube/status/; files directly in src/ are checked
// file by file only, since main.ts sits above everything and errors.ts below it).
//   node scripts/imports.mjs
import * as fs from 'node:fs'
import * as path from 'node:path'

const root = path.resolve(import.meta.dirname, '..', 'src')
const files = fs.readdirSync(root, { recursive: true }).filter(f => f.endsWith('.ts')).map(f => path.join(root, f))
const importRe = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g

const graph = new Map(files.map(f => [f, new Set()]))
for (const f of files) {
  for (const m of fs.readFileSync(f, 'utf8').matchAll(importRe)) {
    const target = path.resolve(path.dirname(f), (m[1] ?? m[2]).replace(/\.js$/, '.ts'))
    if (graph.has(target)) graph.get(f).add(target)
  }
}
const rel = f => path.relative(root, f)
const folder = f => (rel(f).includes(path.sep) ? rel(f).split(path.sep)[0] : undefined)

const problems = []
// file cycles, by depth-first search
const state = new Map()
const stack = []
const visit = f => {
  state.set(f, 'open')
  stack.push(f)
  for (const d of graph.get(f)) {
    if (state.get(d) === 'open') problems.push(`import cycle: ${[...stack.slice(stack.indexOf(d)), d].map(rel).join(' -> ')}`)
    else if (!state.has(d)) visit(d)
  }
  stack.pop()
  state.set(f, 'done')
}
for (const f of files) if (!state.has(f)) visit(f)

// folder cycles: a imports b and b imports a
const edges = new Map()
for (const [f, deps] of graph)
  for (const d of deps) {
    const [a, b] = [folder(f), folder(d)]
    if (!a || !b || a === b) continue
    const key = `${a} -> ${b}`
    if (!edges.has(key)) edges.set(key, `${rel(f)} imports ${rel(d)}`)
  }
for (const [key, why] of edges) {
  const [a, b] = key.split(' -> ')
  if (a < b && edges.has(`${b} -> ${a}`)) problems.push(`folders import each other: ${why}; ${edges.get(`${b} -> ${a}`)}`)
}

for (const p of problems) console.error(p)
if (problems.length) process.exit(1)
console.log(`imports: ${files.length} files, no cycles`)
