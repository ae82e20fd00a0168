import { describe, expect, it } from '@jest/globals'
import { attestPlan, type BuilderCaps, canAttest, parseAttestInput, versionAtLeast } from '../../src/image/attest.js'
import { parseBuildxVersion, parseInspect, usesContainerdStore } from '../../src/image/builder.js'
import { signArgs } from '../../src/image/sign.js'
import { parseReference } from '../../src/image/reference.js'
import { readSettings } from '../../src/inputs.js'
import { errorLine } from './error-line.js'

const remote: BuilderCaps = { buildx: '0.36.1', name: 'kube-ship-buildkit', driver: 'remote', buildkit: '0.32.2' }
const dockerDriver: BuilderCaps = { buildx: '0.36.1', name: 'default', driver: 'docker', buildkit: '0.8+unknown', containerdStore: false }
const RUN = 'https://github.com/o/r/actions/runs/7'
const none = parseAttestInput('', 'sbom')

describe('parseAttestInput', () => {
  it.each([
    ['', { kind: 'default' }],
    ['false', { kind: 'off' }],
    ['True', { kind: 'on', attrs: [] }],
    ['mode=max', { kind: 'on', attrs: ['mode=max'] }],
    ['mode=min, builder-id=https://ci/1', { kind: 'on', attrs: ['mode=min', 'builder-id=https://ci/1'] }]
  ])('%j', (raw, want) => expect(parseAttestInput(raw, 'provenance')).toEqual(want))
  it.each([
    ['mode=full', 'provenance', /input 'provenance'.*mode=full' is not mode=min or mode=max/],
    ['maybe', 'provenance', /'maybe' is not key=value/],
    ['type=sbom', 'sbom', /input 'sbom'.*set by the input's name/]
  ] as const)('refuses %j', (raw, input, line) => {
    expect(errorLine(() => readSettings(name => (name === input ? raw : '')))).toMatch(line)
  })
})

describe('versionAtLeast', () => {
  it.each([
    ['0.32.2', '0.11.0', true],
    ['0.11.0', '0.11.0', true],
    ['0.8+unknown', '0.11.0', false],
    ['v0.10.4', '0.10.0', true],
    ['0.9.1', '0.10.0', false],
    [undefined, '0.10.0', false],
    ['unknown', '0.10.0', false]
  ])('%s >= %s is %s', (v, min, want) => expect(versionAtLeast(v, min)).toBe(want))
})

describe('attestPlan', () => {
  const table: [string, string, string, BuilderCaps, boolean, { args: string[]; made: string[]; warnings: RegExp[] }][] = [
    ['default on a capable builder, public repository', '', '', remote, false, { args: [`--provenance=mode=max,builder-id=${RUN}`], made: ['provenance (mode=max)'], warnings: [] }],
    ['default on a capable builder, private repository', '', '', remote, true, { args: [`--provenance=mode=min,builder-id=${RUN}`], made: ['provenance (mode=min)'], warnings: [] }],
    ['default on the docker driver: off, no warning', '', '', dockerDriver, false, { args: ['--provenance=false'], made: [], warnings: [] }],
    ['explicit true on the docker driver: warned', 'true', '', dockerDriver, false, { args: ['--provenance=false'], made: [], warnings: [/^input 'provenance' is ignored: builder 'default' uses the docker driver without the containerd image store/] }],
    ['explicit attributes keep their mode and builder-id', 'mode=min,builder-id=x', '', remote, false, { args: ['--provenance=mode=min,builder-id=x'], made: ['provenance (mode=min)'], warnings: [] }],
    ['false stays one manifest', 'false', '', remote, false, { args: ['--provenance=false'], made: [], warnings: [] }],
    ['sbom on a capable builder', 'false', 'true', remote, false, { args: ['--provenance=false', '--sbom=true'], made: ['sbom'], warnings: [] }],
    ['sbom attributes', '', 'generator=127.0.0.1:5310/scanner', remote, false, { args: [`--provenance=mode=max,builder-id=${RUN}`, '--sbom=generator=127.0.0.1:5310/scanner'], made: ['provenance (mode=max)', 'sbom'], warnings: [] }],
    ['sbom on the docker driver: warned', '', 'true', dockerDriver, false, { args: ['--provenance=false'], made: [], warnings: [/^input 'sbom' is ignored: builder 'default'/] }],
    ['docker driver with the containerd store can', '', '', { ...dockerDriver, buildkit: '0.20.0', containerdStore: true }, false, { args: [`--provenance=mode=max,builder-id=${RUN}`], made: ['provenance (mode=max)'], warnings: [] }],
    ['old BuildKit on a container builder', 'true', '', { ...remote, buildkit: '0.10.6' }, false, { args: ['--provenance=false'], made: [], warnings: [/BuildKit 0\.10\.6; attestations need 0\.11 or later/] }],
    ['buildx 0.9: no flags at all, both inputs named', 'true', 'true', { ...remote, buildx: '0.9.1' }, false, { args: [], made: [], warnings: [/^input 'provenance' is ignored: buildx 0\.9\.1 has no --provenance flag/, /^input 'sbom' is ignored: buildx 0\.9\.1 has no --sbom flag/] }],
    ['buildx 0.9, default: no flag, no warning', '', '', { ...remote, buildx: '0.9.1' }, false, { args: [], made: [], warnings: [] }]
  ]
  it.each(table)('%s', (_name, provenance, sbom, caps, privateRepo, want) => {
    const plan = attestPlan(parseAttestInput(provenance, 'provenance'), parseAttestInput(sbom, 'sbom'), caps, { privateRepo, runUrl: RUN })
    expect(plan.args).toEqual(want.args)
    expect(plan.made).toEqual(want.made)
    expect(plan.warnings).toHaveLength(want.warnings.length)
    want.warnings.forEach((w, i) => expect(plan.warnings[i]).toMatch(w))
  })
  it('without a run URL there is no builder-id', () => {
    expect(attestPlan(parseAttestInput('', 'provenance'), none, remote, { privateRepo: false }).args).toEqual(['--provenance=mode=max'])
  })
  it('says why the default provenance was not made', () => {
    expect(attestPlan(parseAttestInput('', 'provenance'), none, dockerDriver, { privateRepo: false }).note).toMatch(/no provenance attestation: builder 'default' uses the docker driver/)
    expect(canAttest(remote)).toEqual({ ok: true })
  })
})

describe('builder probes', () => {
  it('reads buildx version', () => expect(parseBuildxVersion('github.com/docker/buildx v0.36.1 0123abc\n')).toBe('0.36.1'))
  it('reads docker buildx inspect', () => {
    const out = 'Name:          kube-ship-buildkit\nDriver:        remote\nLast Activity: 2026-12-02\n\nNodes:\nName:             kube-ship-buildkit0\nEndpoint:         unix:///s.sock\nStatus:           running\nBuildKit version: v0.32.2\n'
    expect(parseInspect(out)).toEqual({ name: 'kube-ship-buildkit', driver: 'remote', buildkit: '0.32.2' })
    expect(parseInspect('Name: default\nDriver: docker\n\nNodes:\nName: default\nBuildKit version: v0.8+unknown\n')).toEqual({ name: 'default', driver: 'docker', buildkit: '0.8+unknown' })
  })
  it('tells the containerd image store from DriverStatus', () => {
    expect(usesContainerdStore('[["driver-type","io.containerd.snapshotter.v1"]]')).toBe(true)
    expect(usesContainerdStore('[]')).toBe(false)
    expect(usesContainerdStore('[["Backing Filesystem","extfs"]]')).toBe(false)
  })
})

describe('signArgs', () => {
  const D = 'sha256:' + 'a'.repeat(64)
  it('offline by default, plain HTTP for a loopback registry', () => {
    expect(signArgs(parseReference('127.0.0.1:5310/team/web'), D, '/k', false)).toEqual([
      'sign', '--key', '/k', '--yes', '--tlog-upload=false', '--use-signing-config=false', '--allow-http-registry', `127.0.0.1:5310/team/web@${D}`
    ])
  })
  it('with tlog upload and a remote registry: cosign defaults', () => {
    expect(signArgs(parseReference('ghcr.io/acme/web'), D, '/k', true)).toEqual(['sign', '--key', '/k', '--yes', `ghcr.io/acme/web@${D}`])
  })
})
