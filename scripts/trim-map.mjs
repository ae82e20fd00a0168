// Drops sourcesContent from dist/index.js.map: stack traces map through `mappings` alone, and the
// embedded sources (all of node_modules) would add tens of MB to every dist/ commit.
import * as fs from 'node:fs'

const file = new URL('../dist/index.js.map', import.meta.url)
const map = JSON.parse(fs.readFileSync(file, 'utf8'))
delete map.sourcesContent
fs.writeFileSync(file, JSON.stringify(map))
