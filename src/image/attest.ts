// Which attestations a build makes, decided from the inputs and what buildx and its builder can
// do (pure; builder.ts probes). As docker/build-push-action: provenance is on by default when
// the builder's BuildKit can attach it (mode=min for a private repository, mode=max for a public
// one, builder-id the run's URL), `provenance`/`sbom` take true, false or BuildKit attributes.
// A flag the buildx or the builder cannot honour is left out with one warning naming the input,
// never passed to fail the build halfway.
import { DeployError } from '../errors.js'

/** What `provenance` / `sbom` asked for: nothing said, off, or on with attributes. */
export type AttestInput = { kind: 'default' } | { kind: 'off' } | { kind: 'on'; attrs: string[] }

export interface BuilderCaps {
  /** buildx's own version, e.g. 0.36.1; undefined when it could not be read */
  buildx?: string
  name: string
  driver: string
  /** the builder's BuildKit version, e.g. 0.32.2 (dockerd 20.10 says 0.8+unknown) */
  buildkit?: string
  /** docker driver only: dockerd stores images in containerd, which can hold attestations */
  containerdStore?: boolean
}

export interface AttestContext {
  /** the repository is private (GitHub event payload); unknown counts as public, as upstream */
  privateRepo: boolean
  /** the workflow run's URL, the provenance builder-id */
  runUrl?: string
}

export interface AttestPlan {
  args: string[]
  /** one line each, e.g. "provenance (mode=max)" */
  made: string[]
  warnings: string[]
  /** why the default provenance was not made, for the log */
  note?: string
}

const BOOL_TRUE = ['true', 'yes', 'on', '1']
const BOOL_FALSE = ['false', 'no', 'off', '0']

/** Reads `provenance` or `sbom`: empty, a boolean, or comma-separated key=value attributes. */
export function parseAttestInput(raw: string, input: 'provenance' | 'sbom'): AttestInput {
  const text = raw.trim()
  if (!text) return { kind: 'default' }
  if (BOOL_FALSE.includes(text.toLowerCase())) return { kind: 'off' }
  if (BOOL_TRUE.includes(text.toLowerCase())) return { kind: 'on', attrs: [] }
  const attrs = text.split(',').map(a => a.trim()).filter(Boolean)
  for (const a of attrs) {
    if (!/^[a-z][a-z0-9-]*=[^=\s]*$/i.test(a)) throw new DeployError(`'${a}' is not key=value; give true, false or BuildKit attributes such as mode=max`, { input })
    if (/^type=/i.test(a)) throw new DeployError(`'${a}': the attestation type is set by the input's name`, { input })
  }
  if (input === 'provenance') {
    const mode = attrs.find(a => a.startsWith('mode='))
    if (mode && !['mode=min', 'mode=max'].includes(mode)) throw new DeployError(`'${mode}' is not mode=min or mode=max`, { input })
  }
  return { kind: 'on', attrs }
}

/** "0.32.2" from "v0.32.2", "0.8+unknown" from "v0.8+unknown"; compares major.minor.patch. */
export function versionAtLeast(version: string | undefined, min: string): boolean {
  if (!version) return false
  const parse = (v: string) => (/(\d+)\.(\d+)(?:\.(\d+))?/.exec(v) ?? []).slice(1, 4).map(n => Number(n ?? 0))
  const [a, b] = [parse(version), parse(min)]
  if (!a.length) return false
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i]
  return true
}

/** The builder can attach attestations to what it pushes. */
export function canAttest(caps: BuilderCaps): { ok: boolean; why?: string } {
  if (caps.driver === 'docker' && !caps.containerdStore)
    return { ok: false, why: `builder '${caps.name}' uses the docker driver without the containerd image store, which cannot store attestations` }
  if (!versionAtLeast(caps.buildkit, '0.11.0'))
    return { ok: false, why: `builder '${caps.name}' runs BuildKit ${caps.buildkit ?? 'of an unknown version'}; attestations need 0.11 or later` }
  return { ok: true }
}

/** The --provenance / --sbom flags for this build. */
export function attestPlan(provenance: AttestInput, sbom: AttestInput, caps: BuilderCaps, ctx: AttestContext): AttestPlan {
  const plan: AttestPlan = { args: [], made: [], warnings: [] }
  // buildx before 0.10 knows neither flag (and makes no attestations of its own).
  if (!versionAtLeast(caps.buildx, '0.10.0')) {
    for (const [name, value] of [['provenance', provenance], ['sbom', sbom]] as const)
      if (value.kind === 'on') plan.warnings.push(`input '${name}' is ignored: buildx ${caps.buildx ?? '(unknown version)'} has no --${name} flag (needs 0.10 or later)`)
    return plan
  }
  const builder = canAttest(caps)
  const withBuilderId = (attrs: string[]) => (ctx.runUrl && !attrs.some(a => a.startsWith('builder-id=')) ? [...attrs, `builder-id=${ctx.runUrl}`] : attrs)

  let prov: string[] | undefined
  if (provenance.kind === 'on') prov = withBuilderId(provenance.attrs.some(a => a.startsWith('mode=')) ? provenance.attrs : [defaultMode(ctx), ...provenance.attrs])
  else if (provenance.kind === 'default' && builder.ok) prov = withBuilderId([defaultMode(ctx)])
  if (prov && !builder.ok) {
    plan.warnings.push(`input 'provenance' is ignored: ${builder.why}`)
    prov = undefined
  }
  if (!prov && provenance.kind === 'default') plan.note = `no provenance attestation: ${builder.why}`
  // An explicit false also keeps buildx's own default attestation out: one manifest, not an index.
  plan.args.push(prov ? `--provenance=${prov.join(',')}` : '--provenance=false')
  if (prov) plan.made.push(`provenance (${prov.find(a => a.startsWith('mode='))})`)

  if (sbom.kind === 'on') {
    if (builder.ok) {
      plan.args.push(sbom.attrs.length ? `--sbom=${sbom.attrs.join(',')}` : '--sbom=true')
      plan.made.push('sbom')
    } else plan.warnings.push(`input 'sbom' is ignored: ${builder.why}`)
  }
  return plan
}

function defaultMode(ctx: AttestContext): string {
  return ctx.privateRepo ? 'mode=min' : 'mode=max'
}
