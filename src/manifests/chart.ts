// Helm charts as a manifest source, rendered by the real Helm CLI (3 or 4; only flags both have).
// A remote chart (oci:// or a repository's) is pulled once into a temporary directory, so the
// fetch fails on its own line and both renderings below read the same files. `helm template`
// gets the release's namespace and the cluster's real capabilities (--kube-version,
// --api-versions as `helm upgrade --install` discovers them), CRDs from crds/ first and test
// hooks left out. Its output is split into the release's objects and its hooks; hooks keep
// their events, weight and delete policy and are run by the deliver stage, not applied with the
// release. No release Secret is written: the cluster objects are the release.
import { promises as fs } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parse } from 'yaml'
import { DeployError, oneLine } from '../errors.js'
import type { ChartSettings } from '../inputs.js'
import { runProgram } from '../process.js'
import { parseManifests } from './load.js'
import { type KubeObject, type Manifest, resourceName } from './types.js'

export type ChartSpec = ChartSettings

/** What `helm upgrade --install` would read from the cluster for .Capabilities. */
export interface Capabilities {
  /** the API server's gitVersion, e.g. v1.36.3 */
  kubeVersion: string
  /** group/version and group/version/Kind entries, as Helm's GetVersionSet builds them */
  apiVersions: string[]
}

export const HOOK_EVENTS = ['pre-install', 'post-install', 'pre-upgrade', 'post-upgrade', 'pre-delete', 'post-delete', 'pre-rollback', 'post-rollback', 'test'] as const
export type HookEvent = (typeof HOOK_EVENTS)[number]
export type DeletePolicy = 'before-hook-creation' | 'hook-succeeded' | 'hook-failed'

export interface Hook {
  manifest: Manifest
  events: string[]
  weight: number
  deletePolicies: DeletePolicy[]
}

export interface RenderedChart {
  documents: Manifest[]
  hooks: Hook[]
  release: string
  /** from Chart.yaml */
  name: string
  version: string
  upgrade: boolean
}

export interface ChartRenderOptions {
  cwd: string
  namespace: string
  capabilities?: Capabilities
  /** whether a release of these objects is already in the cluster (.Release.IsUpgrade, pre-upgrade hooks) */
  exists?: (documents: Manifest[]) => Promise<boolean>
  /** helm's file name or path (default `helm` on PATH) */
  helm?: string
  /** helm's stderr lines on success (warnings); core.info in the action */
  log?: (line: string) => void
}

export type ChartKind = 'oci' | 'repo' | 'local'

/** Pure: where the chart comes from. A name without `repo` is a local directory. */
export function chartKind(spec: Pick<ChartSpec, 'chart' | 'repo'>): ChartKind {
  if (spec.chart.startsWith('oci://')) return 'oci'
  return spec.repo ? 'repo' : 'local'
}

/** Pure: Docker's rule for loopback registries: plain HTTP. Everything else speaks TLS. */
export function plainHttp(chart: string): boolean {
  const host = chart.replace(/^oci:\/\//, '').split('/')[0].replace(/:\d+$/, '')
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host)
}

/** Pure: the OCI chart is addressed by a version that may not exist: is the chart there at all? */
export function showArgs(spec: ChartSpec): string[] {
  const args = ['show', 'chart', spec.chart]
  if (plainHttp(spec.chart)) args.push('--plain-http')
  if (spec.username) args.push('--username', spec.username)
  if (spec.password) args.push('--password', spec.password)
  return args
}

/** Pure: argv of `helm pull` that unpacks a remote chart under `dest`. */
export function pullArgs(spec: ChartSpec, dest: string): string[] {
  const args = ['pull', spec.chart, '--untar', '--untardir', dest]
  if (spec.repo) args.push('--repo', spec.repo)
  if (spec.version) args.push('--version', spec.version)
  if (spec.chart.startsWith('oci://') && plainHttp(spec.chart)) args.push('--plain-http')
  if (spec.username) args.push('--username', spec.username)
  if (spec.password) args.push('--password', spec.password)
  return args
}

/** Pure: argv of `helm template` for a local chart directory. */
export function templateArgs(
  release: string,
  chartDir: string,
  spec: Pick<ChartSpec, 'values' | 'set' | 'setString'>,
  opts: { namespace: string; capabilities?: Capabilities; upgrade?: boolean; cwd?: string }
): string[] {
  const args = ['template', release, chartDir, '--namespace', opts.namespace, '--include-crds', '--skip-tests']
  if (opts.upgrade) args.push('--is-upgrade')
  if (opts.capabilities) {
    args.push('--kube-version', opts.capabilities.kubeVersion)
    // One flag per entry: a comma inside an entry cannot happen, but one flag is easy to read in a log.
    for (const v of opts.capabilities.apiVersions) args.push('--api-versions', v)
  }
  for (const f of spec.values) args.push('--values', opts.cwd ? path.resolve(opts.cwd, f) : f)
  for (const s of spec.set) args.push('--set', s)
  for (const s of spec.setString) args.push('--set-string', s)
  return args
}

/** Pure: a hook's events, weight and delete policy from its annotations; undefined for release objects. */
export function parseHook(object: KubeObject): Omit<Hook, 'manifest'> | undefined {
  const a = object.metadata.annotations ?? {}
  const events = (a['helm.sh/hook'] ?? '')
    .split(',')
    .map(e => e.trim())
    .filter(Boolean)
  if (!events.length) return undefined
  const weight = Number.parseInt(a['helm.sh/hook-weight'] ?? '0', 10)
  const policies = (a['helm.sh/hook-delete-policy'] ?? '')
    .split(',')
    .map(p => p.trim())
    .filter((p): p is DeletePolicy => p === 'before-hook-creation' || p === 'hook-succeeded' || p === 'hook-failed')
  // Helm's default when a hook names no policy.
  return { events, weight: Number.isFinite(weight) ? weight : 0, deletePolicies: policies.length ? policies : ['before-hook-creation'] }
}

/** Pure: the hooks that run for an event, in Helm's order: weight, then name. */
export function hooksFor(hooks: Hook[], event: HookEvent): Hook[] {
  return hooks
    .filter(h => h.events.includes(event))
    .map((h, i) => ({ h, i }))
    .sort((a, b) => a.h.weight - b.h.weight || cmp(a.h.manifest.object.metadata.name, b.h.manifest.object.metadata.name) || a.i - b.i)
    .map(x => x.h)
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Pure: `helm template` output → release objects and hooks. Each document carries Helm's
 * `# Source: <chart>/<path>` comment; `file` maps that path to what the report and errors name.
 */
export function splitRendered(text: string, file: (source: string) => string): { documents: Manifest[]; hooks: Hook[] } {
  const documents: Manifest[] = []
  const hooks: Hook[] = []
  for (const chunk of text.split(/^---[ \t]*$/m)) {
    const source = /^# Source: (.+)$/m.exec(chunk)?.[1]?.trim()
    const where = source ? file(source) : 'helm template output'
    for (const m of parseManifests(chunk, where)) {
      const manifest: Manifest = { object: m.object, origin: { file: where, line: 1, rendered: true } }
      const hook = parseHook(m.object)
      if (hook) hooks.push({ manifest, ...hook })
      else documents.push(manifest)
    }
  }
  return { documents, hooks }
}

/** Pure: Helm's `# Source:` path (starting with the chart's name) as a path under the chart's directory. */
export function sourceFile(chartDir: string, source: string): string {
  const rest = source.split('/').slice(1).join('/')
  return rest ? path.join(chartDir, rest) : chartDir
}

/**
 * Pure: Helm's error as one line with the place it names. A template error says
 * `template: web/templates/x.yaml:12:20: executing …`; a parse error `parse error at (web/templates/x.yaml:3): …`.
 */
export function helmFailure(stderr: string, chartDir: string | undefined, input: string): DeployError {
  const text = stderr
    .split('\n')
    .filter(l => l.trim() && !/^Use --debug flag/.test(l.trim()))
    .join('\n')
    .trim()
    .replace(/^(Error|error): /, '')
  const message = oneLine(text) || 'helm failed without a message'
  // Helm 3 says `template: web/templates/x.yaml:12:20: executing …`; Helm 4 puts the place on a line of its own.
  const at = /(?:^|template: |\n)([^\s:()"]+\/[^\s:()"]+):(\d+)(?::(\d+))?(?::|\s*$|\s*\n)/m.exec(text) ?? /parse error at \(([^\s:()]+):(\d+)\)/.exec(text)
  if (at && chartDir) return new DeployError(message, { file: sourceFile(chartDir, at[1]), line: Number(at[2]), ...(at[3] ? { column: Number(at[3]) } : {}) })
  const yamlAt = /YAML parse error on ([^\s:]+\/[^\s:]+):/.exec(text)
  if (yamlAt && chartDir) return new DeployError(message, { file: sourceFile(chartDir, yamlAt[1]) })
  return new DeployError(message, { input })
}

/**
 * Pure: the one line for a failed `helm pull`: not found, version not found, else Helm's words.
 * A registry answers a missing tag and a missing repository alike, so for oci:// the caller says
 * whether the chart itself exists (`chartExists`, from a pull of the latest version).
 */
export function pullFailure(spec: ChartSpec, stderr: string, chartExists?: boolean): DeployError {
  const text = oneLine(stderr.trim().replace(/^(Error|error): /, ''))
  const from = spec.repo ? ` in repository ${spec.repo}` : ''
  if (spec.version && (/version .* not found/i.test(text) || (/not found/i.test(text) && chartExists === true)))
    return new DeployError(`chart '${spec.chart}' has no version '${spec.version}'${from}: ${text}`, { input: 'chart-version' })
  if (/credential|unauthorized|401|403|denied/i.test(text)) return new DeployError(`helm could not fetch chart '${spec.chart}'${from}: ${text}`, { input: 'chart', hint: 'check chart-username and chart-password' })
  if (/not found|no such host|404|name unknown|repository name not known/i.test(text))
    return new DeployError(`chart '${spec.chart}' not found${from}: ${text}`, { input: 'chart' })
  return new DeployError(`helm could not fetch chart '${spec.chart}'${from}: ${text}`, { input: 'chart' })
}

/** Pure: Helm's rule for release names (a DNS subdomain of at most 53 characters). */
export function checkRelease(name: string): string | undefined {
  if (name.length > 53) return `release name '${name}' is longer than 53 characters`
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name))
    return `'${name}' is not a valid release name (lowercase letters, digits, '-' and '.')`
  return undefined
}

/** Renders the chart; throws one DeployError for a missing chart, version, values file or template error. */
export async function renderChart(spec: ChartSpec, opts: ChartRenderOptions): Promise<RenderedChart> {
  const helm = opts.helm ?? 'helm'
  for (const f of spec.values)
    if (!(await fs.stat(path.resolve(opts.cwd, f)).catch(() => undefined))?.isFile())
      throw new DeployError(`values file '${f}' does not exist`, { input: 'values' })

  const kind = chartKind(spec)
  let tmp: string | undefined
  try {
    let chartDir: string
    let display: string
    if (kind === 'local') {
      chartDir = path.resolve(opts.cwd, spec.chart)
      display = spec.chart
      if (!(await fs.stat(path.join(chartDir, 'Chart.yaml')).catch(() => undefined)))
        throw new DeployError(`chart directory '${spec.chart}' not found (no ${path.join(spec.chart, 'Chart.yaml')})`, {
          input: 'chart',
          hint: 'give a chart directory, an oci:// reference, or a chart name with chart-repo'
        })
      if (spec.version) {
        const local = await chartMeta(chartDir)
        if (local.version !== spec.version)
          throw new DeployError(`chart '${spec.chart}' is version ${local.version}, not '${spec.version}'`, { input: 'chart-version' })
      }
    } else {
      tmp = await fs.mkdtemp(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'kube-ship-chart-'))
      const pulled = await runHelm(helm, pullArgs(spec, tmp), opts.cwd)
      if (pulled.code !== 0) {
        const text = pulled.stderr || pulled.stdout
        const ask = kind === 'oci' && spec.version && /not found/i.test(text)
        throw pullFailure(spec, text, ask ? (await runHelm(helm, showArgs(spec), opts.cwd)).code === 0 : undefined)
      }
      const [dir] = await fs.readdir(tmp)
      if (!dir) throw new DeployError(`helm pull of '${spec.chart}' unpacked nothing`, { input: 'chart' })
      chartDir = path.join(tmp, dir)
      display = spec.chart
    }
    const meta = await chartMeta(chartDir)
    const release = spec.release ?? meta.name
    const bad = checkRelease(release)
    if (bad) throw new DeployError(bad, { input: spec.release ? 'release' : 'chart', hint: spec.release ? undefined : 'set the release input' })

    const fileOf = (source: string): string => (kind === 'local' ? sourceFile(display, source) : `${display} ${source.split('/').slice(1).join('/')}`)
    const template = async (upgrade: boolean) => {
      const args = templateArgs(release, chartDir, spec, { namespace: opts.namespace, capabilities: opts.capabilities, upgrade, cwd: opts.cwd })
      const r = await runHelm(helm, args, opts.cwd)
      if (r.code !== 0) throw helmFailure(r.stderr || r.stdout, kind === 'local' ? display : undefined, 'chart')
      for (const line of r.stderr.split('\n')) if (line.trim()) opts.log?.(`helm: ${line.trim()}`)
      return splitRendered(r.stdout, fileOf)
    }
    let out = await template(false)
    const upgrade = opts.exists ? await opts.exists(out.documents) : false
    if (upgrade) out = await template(true)
    return { ...out, release, name: meta.name, version: meta.version, upgrade }
  } finally {
    if (tmp) await fs.rm(tmp, { recursive: true, force: true })
  }
}

async function chartMeta(dir: string): Promise<{ name: string; version: string }> {
  const text = await fs.readFile(path.join(dir, 'Chart.yaml'), 'utf8')
  const meta = (parse(text) ?? {}) as { name?: unknown; version?: unknown }
  return { name: String(meta.name ?? path.basename(dir)), version: String(meta.version ?? '') }
}

async function runHelm(helm: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runProgram(helm, args, { cwd })
  if (r.missing)
    throw new DeployError(`helm is not on PATH (looked for '${helm}')`, {
      input: 'chart',
      hint: 'GitHub-hosted Ubuntu runners ship Helm; on other runners install it first, e.g. with azure/setup-helm'
    })
  return r
}

/** kind/namespace/name of each hook, for logs. */
export function hookNames(hooks: Hook[]): string {
  return hooks.map(h => resourceName(h.manifest.object)).join(', ')
}
