import { describe, expect, it } from '@jest/globals'
import { buildPlan, digestFromMetadata } from '../../src/image/build.js'
import { readSettings } from '../../src/inputs.js'
import { lastErrorLine } from '../../src/image/tool-output.js'
import { registryBase } from '../../src/image/registry.js'

const settings = (values: Record<string, string>) => readSettings(name => values[name] ?? '')
const D = 'sha256:' + 'c'.repeat(64)

describe('buildPlan', () => {
  it('tags with the short sha by default and pushes', () => {
    const s = settings({ image: '127.0.0.1:5310/team/web' })
    const plan = buildPlan(s, s.image!, { sha: '0123456789abcdef', sourceUrl: 'https://github.com/o/r' }, '/tmp/m.json')
    expect(plan.tags).toEqual(['0123456'])
    expect(plan.args).toEqual([
      'buildx', 'build', '--metadata-file', '/tmp/m.json', '--provenance=false',
      '--tag', '127.0.0.1:5310/team/web:0123456',
      '--label', 'org.opencontainers.image.source=https://github.com/o/r',
      '--label', 'org.opencontainers.image.revision=0123456789abcdef',
      '--push', '.'
    ])
  })
  it('passes every build option through', () => {
    const s = settings({ image: 'ghcr.io/a/b', context: 'app', file: 'app/Dockerfile.prod', 'build-args': 'A=1\nB=2', platforms: 'linux/amd64,linux/arm64', tags: 'v1,latest', labels: 'team=x', 'cache-from': 'type=gha', 'cache-to': 'type=gha,mode=max', push: 'false' })
    const { args } = buildPlan(s, s.image!, {}, '/m')
    expect(args).toEqual([
      'buildx', 'build', '--metadata-file', '/m', '--provenance=false', '--file', 'app/Dockerfile.prod',
      '--build-arg', 'A=1', '--build-arg', 'B=2', '--platform', 'linux/amd64,linux/arm64',
      '--tag', 'ghcr.io/a/b:v1', '--tag', 'ghcr.io/a/b:latest', '--label', 'team=x',
      '--cache-from', 'type=gha', '--cache-to', 'type=gha,mode=max', 'app'
    ])
  })
  it('needs a tag when there is no commit', () => {
    const s = settings({ image: 'ghcr.io/a/b' })
    expect(() => buildPlan(s, s.image!, {}, '/m')).toThrow(/no tag to push/)
  })
})

describe('digestFromMetadata', () => {
  it('reads containerimage.digest', () => {
    expect(digestFromMetadata(JSON.stringify({ 'containerimage.digest': D, 'image.name': 'x' }), true)).toBe(D)
  })
  it.each([
    ['{}', true, /pushed nothing it reported a digest for/],
    ['{}', false, /push is false/],
    ['', true, /no readable metadata/],
    [JSON.stringify({ 'containerimage.digest': 'sha256:short' }), true, /no containerimage.digest/]
  ])('%s (pushed=%s) fails loudly', (json, pushed, message) => {
    expect(() => digestFromMetadata(json, pushed)).toThrow(message)
  })
})

describe('lastErrorLine', () => {
  it.each([
    ['#1 [internal] load\n#2 DONE 0.1s\nERROR: failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory\n', 'failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory'],
    ['Error response from daemon: Get "http://127.0.0.1:1/v2/": connection refused\n', 'Error response from daemon: Get "http://127.0.0.1:1/v2/": connection refused'],
    ['just a line\n\n', 'just a line'],
    ['', 'no output']
  ])('%j', (out, line) => expect(lastErrorLine(out)).toBe(line))
})

describe('registryBase', () => {
  it.each([
    ['127.0.0.1:5310', 'http://127.0.0.1:5310'],
    ['localhost:5000', 'http://localhost:5000'],
    ['ghcr.io', 'https://ghcr.io'],
    ['docker.io', 'https://registry-1.docker.io']
  ])('%s', (registry, base) => expect(registryBase(registry)).toBe(base))
})
