// Every input is read and validated here, once, into Settings. Names are action.yml's; a bad
// value fails with one line naming the input, the value given and what is accepted.
import * as core from '@actions/core'
import { DeployError } from './errors.js'
import { type ImageRef, parseReference, isDigest, ReferenceError } from './image/reference.js'
import { checkNamespace } from './preview/index.js'
import * as fs from 'node:fs'
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

export interface Settings {
  image?: ImageRef
  context: string
  file?: string
  buildArgs: string[]
  platforms: string[]
  tags: string[]
  labels: string[]
  cacheFrom: string[]
  cacheTo: string[]
  push: boolean
  digest?: string
  registryUsername?: string
  registryPassword?: string

  kustomize: string[]
  manifests: string[]
  /** the name manifests use for the app's image; default the image repository */
  imageName?: string
  policy: Policy
  writeBack: WriteBack

  kubeconfig?: string
  contextName?: string
  namespace?: string
  mode: Mode
  timeoutMs: number
  rollbackOnFailure: boolean
  health: HealthCheck[]
  lock: boolean

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
  if (password) core.setSecret(password)
  const kubeconfig = text('kubeconfig')
  if (kubeconfig) core.setSecret(kubeconfig)
  const token = text('github-token')
  if (token) core.setSecret(token)

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

  const timeoutMs = parseDuration(get('timeout') || '10m', 'timeout')
  const canaryPauseMs = parseDuration(get('canary-pause') || '30s', 'canary-pause')

  const environment = text('environment') ?? 'production'
  if (text('canary-metrics') && !text('prometheus-url'))
    throw new DeployError('canary-metrics needs the Prometheus to query in prometheus-url', { input: 'prometheus-url' })

  return {
    image,
    context: text('context') ?? '.',
    file: text('file'),
    buildArgs: lines('build-args'),
    platforms: list('platforms'),
    tags: list('tags'),
    labels: lines('labels'),
    cacheFrom: lines('cache-from'),
    cacheTo: lines('cache-to'),
    push: bool(get, 'push', true),
    digest,
    registryUsername: username,
    registryPassword: password,

    kustomize: lines('kustomize'),
    manifests: lines('manifests'),
    imageName: text('image-name'),
    policy: choice(get, 'policy', ['off', 'warn', 'enforce'], 'warn'),
    writeBack: choice(get, 'write-back', ['none', 'commit', 'pull-request'], 'none'),

    kubeconfig,
    contextName: text('context-name'),
    namespace: optionalNamespace(text('namespace')),
    mode: choice(get, 'mode', ['deploy', 'diff', 'cleanup'], 'deploy'),
    timeoutMs,
    rollbackOnFailure: bool(get, 'rollback-on-failure', true),
    health: lines('health-url').map(parseHealth),
    lock: bool(get, 'lock', true),

    strategy: choice(get, 'strategy', ['rolling', 'canary', 'blue-green'], 'rolling'),
    canarySteps: parseCanarySteps(get('canary-steps') || '10,25,50', canaryPauseMs),
    canaryPauseMs,
    trafficRouter: choice(get, 'traffic-router', ['nginx', 'gateway-api'], 'nginx'),
    ingress: text('ingress'),
    httpRoute: text('http-route'),
    canaryHeader: text('canary-header') ?? 'X-Canary',
    canaryMetrics: lines('canary-metrics').map(parseMetricCheck),
    prometheusUrl: text('prometheus-url'),

    environment,
    environmentUrl: text('environment-url'),
    preview: bool(get, 'preview', false),
    previewNamespace: text('preview-namespace') ?? 'pr-{number}',
    githubToken: token,
    comment: choice(get, 'comment', ['auto', 'always', 'never'], 'auto'),
    githubDeployment: bool(get, 'github-deployment', true),

    verify: readVerify(get, Boolean(image))
  }
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

/** Go-style durations ('90s', '1m30s', '2h') or bare seconds ('45'). */
export function parseDuration(raw: string, input: string): number {
  const value = raw.trim()
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  if (!value || parts.map(p => p[0]).join('') !== value)
    throw new DeployError(`'${raw}' is not a duration; use e.g. 90s, 5m, 1m30s`, { input })
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]], 0))
}

function parseHealth(line: string): HealthCheck {
  const m = /^(https?:\/\/\S+?)(?:=(\d{3}))?$/.exec(line)
  if (!m) throw new DeployError(`'${line}' is not URL or URL=STATUS with an http(s) URL`, { input: 'health-url' })
  return { url: m[1], status: m[2] ? Number(m[2]) : undefined }
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
