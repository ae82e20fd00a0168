// Every input is read and validated here, once, into Settings. Names are action.yml's; a bad
// value fails with one line naming the input, the value given and what is accepted.
import * as core from '@actions/core'
import { DeployError } from './errors.js'
import { type ImageRef, parseReference, isDigest, ReferenceError } from './image/reference.js'
import { checkNamespace } from './kube/names.js'
import { ALLOWANCES, type PruneAllowance } from './kube/applyset.js'
import { redactUrl, registerSecret, urlSecrets } from './redact.js'
import * as fs from 'node:fs'
import { type AttestInput, parseAttestInput } from './image/attest.js'
import type { SignSettings } from './image/sign.js'
import { GITHUB_ISSUER, parsePublicKey, SLSA_PROVENANCE_V1, type VerifyMode, type VerifySettings, needsAttestation, needsSignature } from './image/verify.js'

export type Mode = 'deploy' | 'diff' | 'cleanup'
export type Strategy = 'rolling' | 'canary' | 'blue-green'
export type Policy = 'off' | 'warn' | 'enforce'
export type WriteBack = 'none' | 'commit' | 'pull-request'
export type TrafficRouterName = 'nginx' | 'gateway-api'
export type CommentMode = 'auto' | 'always' | 'never'

export interface HealthCheck {
  url: string
  /** expected HTTP status; any 2xx when absent */
  status?: number
}

export interface MetricCheck {
  /** PromQL; $canary and $namespace are replaced at each step */
  query: string
  op: '<' | '<=' | '>' | '>='
  threshold: number
}

export interface CanaryStep {
  weight: number
  pauseMs: number
}

/** A build secret for `docker buildx build --secret`: a value, or a file the runner has. */
export type BuildSecret = { id: string; value: string } | { id: string; file: string }

export interface Settings {
  image?: ImageRef
  context: string
  file?: string
  buildArgs: string[]
  /** `secrets` (id=value) then `secret-files` (id=path); values are masked when read */
  buildSecrets: BuildSecret[]
  /** buildx --network for RUN steps */
  network?: string
  platforms: string[]
  tags: string[]
  labels: string[]
  cacheFrom: string[]
  cacheTo: string[]
  push: boolean
  digest?: string
  registryUsername?: string
  registryPassword?: string
  /** buildx builder name (--builder); default the current one */
  builder?: string
  provenance: AttestInput
  sbom: AttestInput
  /** sign the pushed digest with this Cosign private key */
  sign?: SignSettings

  kustomize: string[]
  manifests: string[]
  /** the name manifests use for the app's image; default the image repository */
  imageName?: string
  policy: Policy
  writeBack: WriteBack
  /** a Helm chart: local directory, oci:// reference, or a name in chartRepo */
  chart?: ChartSettings

  kubeconfig?: string
  contextName?: string
  namespace?: string
  mode: Mode
  timeoutMs: number
  rollbackOnFailure: boolean
  health: HealthCheck[]
  lock: boolean
  /** delete what the manifests no longer have, through the environment's ApplySet */
  prune: boolean
  /** protected kinds and the mass-deletion limit that prune may override */
  pruneAllow: PruneAllowance[]

  strategy: Strategy
  canarySteps: CanaryStep[]
  canaryPauseMs: number
  trafficRouter: TrafficRouterName
  ingress?: string
  httpRoute?: string
  canaryHeader: string
  canaryMetrics: MetricCheck[]
  prometheusUrl?: string

  environment: string
  environmentUrl?: string
  preview: boolean
  previewNamespace: string
  githubToken?: string
  comment: CommentMode
  /** pod log tails in the PR comment too (they are always in the job log and summary) */
  commentLogs: boolean
  /** record a GitHub Deployment (the job's `environment:` key makes its own) */
  githubDeployment: boolean

  /** supply chain: what the digest must carry before anything is applied */
  verify: VerifySettings
}

/** Reads one raw input; core.getInput by default, a map in tests. */
export type InputReader = (name: string) => string

export function readSettings(get: InputReader = name => core.getInput(name)): Settings {
  const text = (name: string): string | undefined => get(name).trim() || undefined
  const list = (name: string): string[] => splitList(get(name))
  const lines = (name: string): string[] =>
    get(name)
      .split('\n')
      .map(l => l.trim())
      .filter(Boolean)

  const password = text('registry-password')
  registerSecret(password)
  // The kubeconfig's credentials are masked one by one when it is loaded (kube/credentials.ts);
  // masking the whole text would mask each of its lines instead.
  const kubeconfig = text('kubeconfig')
  const token = text('github-token')
  registerSecret(token)
  const buildSecrets = [...lines('secrets').map(l => parseBuildSecret(l, 'secrets')), ...lines('secret-files').map(l => parseBuildSecret(l, 'secret-files'))]

  const imageText = text('image')
  let image: ImageRef | undefined
  if (imageText) {
    try {
      image = parseReference(imageText)
    } catch (err) {
      throw new DeployError(`'${imageText}' is not an image reference: ${(err as ReferenceError).message}`, { input: 'image' })
    }
    if (image.digest) throw new DeployError(`'${imageText}' carries a digest; give the repository in 'image' and the digest in 'digest'`, { input: 'image' })
  }

  const digest = text('digest')
  if (digest && !isDigest(digest)) throw new DeployError(`'${digest}' is not a digest; expected sha256: and 64 lowercase hex characters`, { input: 'digest' })
  if (digest && !image) throw new DeployError(`a digest needs the repository it belongs to in 'image'`, { input: 'digest' })

  const username = text('registry-username')
  if (Boolean(username) !== Boolean(password))
    throw new DeployError('registry-username and registry-password must be given together', {
      input: username ? 'registry-password' : 'registry-username'
    })

  const push = bool(get, 'push', true)
  const mode = choice(get, 'mode', ['deploy', 'diff', 'cleanup'], 'deploy')
  // A build that is not pushed has no registry digest: deploying the local image ID would pin
  // every container to an image no node can pull.
  if (!push && image && !digest && mode !== 'cleanup' && (text('kustomize') || text('manifests')))
    throw new DeployError("push is false, so the image is not pushed and there is no digest to deploy; set push: true, pass 'digest', or leave out kustomize/manifests to only build", { input: 'push' })

  const timeoutMs = parseDuration(get('timeout') || '10m', 'timeout')
  if (timeoutMs === 0) throw new DeployError(`'${get('timeout').trim()}' is no time at all; give the deadline for the run, e.g. 10m`, { input: 'timeout' })
  const canaryPauseMs = parseDuration(get('canary-pause') || '30s', 'canary-pause')
  const imageName = text('image-name')
  if (imageName) checkImageName(imageName)
  const canaryHeader = text('canary-header') ?? 'X-Canary'
  if (!HEADER_NAME.test(canaryHeader))
    throw new DeployError(`'${canaryHeader}' is not an HTTP header name (letters, digits and !#$%&'*+-.^_\`|~, no spaces or colons)`, { input: 'canary-header' })

  const environment = text('environment') ?? 'production'
  if (text('canary-metrics') && !text('prometheus-url'))
    throw new DeployError('canary-metrics needs the Prometheus to query in prometheus-url', { input: 'prometheus-url' })

  return {
    image,
    context: text('context') ?? '.',
    file: text('file'),
    buildArgs: lines('build-args'),
    buildSecrets,
    network: text('network'),
    platforms: list('platforms'),
    tags: list('tags'),
    labels: lines('labels'),
    cacheFrom: lines('cache-from'),
    cacheTo: lines('cache-to'),
    push,
    digest,
    registryUsername: username,
    registryPassword: password,
    builder: text('builder'),
    provenance: parseAttestInput(get('provenance'), 'provenance'),
    sbom: parseAttestInput(get('sbom'), 'sbom'),
    sign: readSign(get, Boolean(image), push),

    kustomize: lines('kustomize'),
    manifests: lines('manifests'),
    imageName,
    policy: choice(get, 'policy', ['off', 'warn', 'enforce'], 'warn'),
    writeBack: choice(get, 'write-back', ['none', 'commit', 'pull-request'], 'none'),
    chart: readChart(get, lines),

    kubeconfig,
    contextName: text('context-name'),
    namespace: optionalNamespace(text('namespace')),
    mode,
    timeoutMs,
    rollbackOnFailure: bool(get, 'rollback-on-failure', true),
    health: lines('health-url').map(parseHealth),
    lock: bool(get, 'lock', true),
    prune: bool(get, 'prune', false),
    pruneAllow: list('prune-allow').map(parsePruneAllowance),

    strategy: choice(get, 'strategy', ['rolling', 'canary', 'blue-green'], 'rolling'),
    canarySteps: parseCanarySteps(get('canary-steps') || '10,25,50', canaryPauseMs),
    canaryPauseMs,
    trafficRouter: choice(get, 'traffic-router', ['nginx', 'gateway-api'], 'nginx'),
    ingress: text('ingress'),
    httpRoute: text('http-route'),
    canaryHeader,
    canaryMetrics: lines('canary-metrics').map(parseMetricCheck),
    prometheusUrl: text('prometheus-url'),

    environment,
    environmentUrl: text('environment-url'),
    preview: bool(get, 'preview', false),
    previewNamespace: text('preview-namespace') ?? 'pr-{number}',
    githubToken: token,
    comment: choice(get, 'comment', ['auto', 'always', 'never'], 'auto'),
    commentLogs: bool(get, 'comment-logs', false),
    githubDeployment: bool(get, 'github-deployment', true),

    verify: readVerify(get, Boolean(image))
  }
}

/** sign-key and its password; the key is PEM text or a path, and is never logged. */
function readSign(get: InputReader, hasImage: boolean, push: boolean): SignSettings | undefined {
  const text = (name: string): string | undefined => get(name).trim() || undefined
  const password = get('sign-key-password')
  registerSecret(password || undefined)
  const key = text('sign-key')
  if (!key) {
    if (password) throw new DeployError('sign-key-password needs the key in sign-key', { input: 'sign-key-password' })
    return undefined
  }
  const pem = key.startsWith('-----BEGIN') ? key : readTextFile(key, 'sign-key')
  if (!/^-----BEGIN [A-Z ]*PRIVATE KEY-----/m.test(pem)) throw new DeployError('sign-key is not a Cosign private key (PEM, as cosign generate-key-pair writes cosign.key)', { input: 'sign-key' })
  registerSecret(pem)
  if (!hasImage) throw new DeployError("sign-key signs the image's digest and needs 'image'", { input: 'sign-key' })
  if (!push && !text('digest')) throw new DeployError('sign-key signs the pushed digest; push is false and no digest is given', { input: 'sign-key' })
  return { key: pem, password, tlogUpload: bool(get, 'sign-tlog-upload', false) }
}

/** verify, cosign-key, attestation-*, trusted-root: checked before any work. */
function readVerify(get: InputReader, hasImage: boolean): VerifySettings {
  const text = (name: string): string | undefined => get(name).trim() || undefined
  const mode: VerifyMode = choice(get, 'verify', ['none', 'signature', 'attestation', 'both'], 'none')
  if (mode === 'none') return { mode }
  if (!hasImage) throw new DeployError(`verify ${mode} checks the image's digest and needs 'image'`, { input: 'verify' })
  const out: VerifySettings = { mode }
  if (needsSignature(mode)) {
    const key = text('cosign-key')
    if (!key) throw new DeployError(`verify ${mode} needs the Cosign public key (PEM text or a path)`, { input: 'cosign-key' })
    out.cosignKey = key.startsWith('-----BEGIN') ? key : readTextFile(key, 'cosign-key')
    parsePublicKey(out.cosignKey)
  }
  if (needsAttestation(mode)) {
    const repository = text('attestation-repository') ?? process.env.GITHUB_REPOSITORY
    if (!repository || !/^[\w.-]+\/[\w.-]+$/.test(repository))
      throw new DeployError(`'${repository ?? ''}' is not owner/name; name the repository the attestation must come from`, { input: 'attestation-repository' })
    const trustedRoot = text('trusted-root')
    if (!trustedRoot) throw new DeployError(`verify ${mode} needs a Sigstore trusted root file (e.g. from 'gh attestation trusted-root')`, { input: 'trusted-root' })
    const workflow = text('attestation-workflow')
    if (workflow) {
      try {
        new RegExp(workflow)
      } catch {
        throw new DeployError(`'${workflow}' is neither a .github/workflows/ path nor a regular expression`, { input: 'attestation-workflow' })
      }
    }
    out.attestation = { repository, workflow, issuer: GITHUB_ISSUER, predicateType: text('attestation-type') ?? SLSA_PROVENANCE_V1, trustedRoot }
  }
  return out
}

function readTextFile(file: string, input: string): string {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    throw new DeployError(`'${file}' is neither PEM text nor a readable file`, { input })
  }
}

function parsePruneAllowance(value: string): PruneAllowance {
  const found = ALLOWANCES.find(a => a.toLowerCase() === value.toLowerCase())
  if (!found) throw new DeployError(`'${value}' is not one of ${ALLOWANCES.join(', ')}`, { input: 'prune-allow' })
  return found
}

function optionalNamespace(name: string | undefined): string | undefined {
  return name === undefined ? undefined : checkNamespace(name, 'namespace')
}

/** Comma- or newline-separated values, blanks dropped. */
export function splitList(raw: string): string[] {
  return raw
    .split(/[,\n]/)
    .map(v => v.trim())
    .filter(Boolean)
}

function choice<T extends string>(get: InputReader, name: string, allowed: readonly T[], fallback: T): T {
  const value = get(name).trim()
  if (!value) return fallback
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new DeployError(`'${value}' is not one of ${allowed.join(', ')}`, { input: name })
}

function bool(get: InputReader, name: string, fallback: boolean): boolean {
  const value = get(name).trim().toLowerCase()
  if (!value) return fallback
  if (['true', 'yes', 'on', '1'].includes(value)) return true
  if (['false', 'no', 'off', '0'].includes(value)) return false
  throw new DeployError(`'${value}' is not a boolean; use true or false`, { input: name })
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** The longest delay a Node timer holds (2^31-1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** Go-style durations ('90s', '1m30s', '2h') or bare seconds ('45'), at most MAX_TIMER_MS. */
export function parseDuration(raw: string, input: string): number {
  const value = raw.trim()
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  if (!/^\d+$/.test(value) && (!value || parts.map(p => p[0]).join('') !== value))
    throw new DeployError(`'${raw}' is not a duration; use e.g. 90s, 5m, 1m30s`, { input })
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]], 0))
  if (!(ms <= MAX_TIMER_MS)) throw new DeployError(`'${value}' is longer than a timer can wait (at most 596h, about 24 days)`, { input })
  return ms
}

/** RFC 7230 token: what an HTTP header name may be. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** A host a request can go to: DNS labels (IPv4 included) or a bracketed IPv6 address. */
const URL_HOST = /^(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*\.?|\[[0-9a-f:.]+\])$/i

/** 'URL' or 'URL=STATUS'; the URL must parse and name a host, so nothing deploys on a typo. */
export function parseHealth(line: string): HealthCheck {
  const bad = (why: string): DeployError => new DeployError(`'${redactUrl(line)}' is not URL or URL=STATUS with an http(s) URL: ${why}`, { input: 'health-url' })
  const split = /^(\S+?)(?:=(\d{3}))?$/.exec(line)
  if (!split) throw bad('it contains white space')
  // '=200' is a status only when what is before it is a URL ('https://=200' is not 'https://')
  const [raw, status] = URL.canParse(split[1]) ? [split[1], split[2]] : [line, undefined]
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw bad('it does not parse as a URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`the scheme is ${url.protocol.replace(/:$/, '')}`)
  if (!/^https?:\/\//i.test(raw)) throw bad('it needs // after the scheme')
  if (!URL_HOST.test(url.hostname)) throw bad(`'${url.hostname}' is not a host name`)
  // A password or token in the URL is a secret like any other.
  for (const value of urlSecrets(raw)) registerSecret(value)
  return { url: raw, status: status ? Number(status) : undefined }
}

/** image-name is what the manifests call the image: a repository name, without tag or digest. */
function checkImageName(name: string): void {
  let ref: ImageRef
  try {
    ref = parseReference(name)
  } catch (err) {
    throw new DeployError(`'${name}' is not an image name: ${(err as ReferenceError).message}`, { input: 'image-name' })
  }
  if (ref.tag || ref.digest) throw new DeployError(`'${name}' carries a ${ref.digest ? 'digest' : 'tag'}; give the name the manifests use, without it`, { input: 'image-name' })
}

/** 'id=value' (secrets) or 'id=path' (secret-files), as docker/build-push-action reads them. */
export function parseBuildSecret(line: string, input: 'secrets' | 'secret-files'): BuildSecret {
  const eq = line.indexOf('=')
  const id = eq > 0 ? line.slice(0, eq).trim() : ''
  const rest = eq > 0 ? line.slice(eq + 1) : ''
  // the id is shown; the line never is, as it may be the value itself
  if (!id || !/^[A-Za-z0-9_.-]+$/.test(id) || !rest)
    throw new DeployError(`a line is not ${input === 'secrets' ? 'ID=VALUE' : 'ID=PATH'}${id && /^[A-Za-z0-9_.-]+$/.test(id) ? ` (id '${id}' has nothing after '=')` : ' with an ID of letters, digits, ., _ or -'}`, { input })
  if (input === 'secret-files') return { id, file: rest.trim() }
  // a quoted value (as build-push-action allows) keeps what is inside the quotes
  const value = /^(["']).*\1$/s.test(rest) ? rest.slice(1, -1) : rest
  registerSecret(value)
  return { id, value }
}

/**
 * '10,25,50' or '10:30s,25:1m,50:2m'. Weights must rise strictly within 1-99; 100 is what
 * promotion does, so a trailing 100 is accepted and dropped.
 */
export function parseCanarySteps(raw: string, defaultPauseMs: number): CanaryStep[] {
  const steps = splitList(raw).map(part => {
    const [w, pause] = part.split(':')
    if (!/^\d+$/.test(w.trim())) throw new DeployError(`'${part}' is not WEIGHT or WEIGHT:PAUSE`, { input: 'canary-steps' })
    return { weight: Number(w), pauseMs: pause === undefined ? defaultPauseMs : parseDuration(pause, 'canary-steps') }
  })
  if (steps.length && steps[steps.length - 1].weight === 100) steps.pop()
  if (!steps.length) throw new DeployError(`'${raw}' has no step below 100`, { input: 'canary-steps' })
  steps.forEach((step, i) => {
    if (step.weight < 1 || step.weight > 99) throw new DeployError(`weight ${step.weight} is outside 1-99`, { input: 'canary-steps' })
    if (i > 0 && step.weight <= steps[i - 1].weight)
      throw new DeployError(`weights must rise: ${steps[i - 1].weight} then ${step.weight}`, { input: 'canary-steps' })
  })
  return steps
}

/** 'QUERY OP NUMBER', the comparison last so the query may hold any PromQL. */
export function parseMetricCheck(line: string): MetricCheck {
  const m = /^(.*\S)\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)$/s.exec(line.trim())
  if (!m) throw new DeployError(`'${line}' is not PROMQL OP NUMBER (OP one of <, <=, >, >=)`, { input: 'canary-metrics' })
  return { query: m[1], op: m[2] as MetricCheck['op'], threshold: Number(m[3]) }
}

/** The chart inputs, as manifests/chart.ts renders them. */
export interface ChartSettings {
  /** a local chart directory, oci://host/path/name, or a chart name in `repo` */
  chart: string
  version?: string
  /** chart repository URL (`helm --repo`) */
  repo?: string
  /** values files, in order (later wins) */
  values: string[]
  /** KEY=VALUE lines for --set and --set-string */
  set: string[]
  setString: string[]
  /** release name; default the chart's name */
  release?: string
  username?: string
  password?: string
}

const CHART_ONLY = ['chart-version', 'chart-repo', 'values', 'set', 'set-string', 'release', 'chart-username', 'chart-password']

/** The chart inputs; undefined without `chart` (and then none of its companions may be set). */
function readChart(get: InputReader, lines: (name: string) => string[]): ChartSettings | undefined {
  const text = (name: string): string | undefined => get(name).trim() || undefined
  const chart = text('chart')
  if (!chart) {
    const stray = CHART_ONLY.find(name => get(name).trim())
    if (stray) throw new DeployError(`${stray} needs a chart in the chart input`, { input: stray })
    return undefined
  }
  const password = text('chart-password')
  if (password) core.setSecret(password)
  const username = text('chart-username')
  if (Boolean(username) !== Boolean(password))
    throw new DeployError('chart-username and chart-password must be given together', { input: username ? 'chart-password' : 'chart-username' })
  const repo = text('chart-repo')
  if (repo && !/^https?:\/\/\S+$/.test(repo)) throw new DeployError(`'${repo}' is not a chart repository URL (http:// or https://)`, { input: 'chart-repo' })
  if (repo && chart.startsWith('oci://')) throw new DeployError('an oci:// chart names its registry itself; leave chart-repo empty', { input: 'chart-repo' })
  const keyValues = (name: string, given: string[]): string[] =>
    given.map(line => {
      if (!/^[^=\s][^=]*=/.test(line)) throw new DeployError(`'${line}' is not KEY=VALUE`, { input: name })
      return line
    })
  const release = text('release')
  if (release && (release.length > 53 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(release)))
    throw new DeployError(`'${release}' is not a release name (at most 53 lowercase letters, digits, '-' and '.')`, { input: 'release' })
  return {
    chart,
    version: text('chart-version'),
    repo,
    values: lines('values'),
    set: keyValues('set', lines('set')),
    setString: keyValues('set-string', lines('set-string')),
    release,
    username,
    password
  }
}
