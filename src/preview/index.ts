// preview/: PR preview environments. This file is the pure half (confine.ts keeps a preview's
// objects in its namespace, cleanup.ts removes the namespace when the PR closes): which PR, which namespace, environment and URL, and the
// label every preview object carries. Templates take {number}, {repo} and {branch}; {repo} and
// {branch} are made label-safe (lowercase, other characters → '-') and shortened so the namespace
// fits 63 characters. Anything else is an error naming the input.
import { DeployError } from '../errors.js'
import type { Settings } from '../inputs.js'
import type { KubeObject, Manifest } from '../manifests/types.js'
import type { GitHubContext } from '../github.js'
import { checkNamespace } from '../kube/names.js'

/** On the preview Namespace and every object deployed into it; cleanup deletes only what has it. */
export const PREVIEW_LABEL = 'kube-ship.dev/pr'

export interface Preview {
  number: number
  namespace: string
  /** the GitHub environment (report, comment marker, Deployment, lock) */
  environment: string
  url?: string
  labels: Record<string, string>
}

export type TemplateValues = Record<string, string>

const PLACEHOLDER = /\{([^{}]*)\}/g

/** Replaces {name} by values[name]; an unknown name fails naming the input and the known ones. */
export function expandTemplate(template: string, values: TemplateValues, input: string): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    if (Object.hasOwn(values, name)) return values[name]
    const known = Object.keys(values).map(k => `{${k}}`).join(', ')
    throw new DeployError(`unknown placeholder ${whole} in '${template}'; use ${known}`, { input })
  })
}

/** Names a template uses (for "does it name the PR at all"). */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map(m => m[1])
}

/** Lowercase, runs of anything but [a-z0-9] → '-', no '-' at the ends. */
export function labelSafe(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
}

/** The PR number of a pull_request* event; a preview needs one. */
export function previewNumber(ctx: GitHubContext): number {
  const n = ctx.payload.pull_request?.number ?? ctx.payload.number
  if (!n)
    throw new DeployError(`a preview needs a pull_request event to name the PR, and this run is '${ctx.eventName}'`, {
      input: 'preview',
      hint: "run it 'on: pull_request' (types opened, synchronize, reopened, closed)"
    })
  return n
}

/**
 * Resolves the preview for this PR. Namespace from `preview-namespace`; environment from
 * `environment` with the same placeholders (one without any gets '/pr-<n>' appended so every PR
 * has its own); URL from `environment-url`, which may also use {namespace}.
 */
export function resolvePreview(
  settings: Pick<Settings, 'previewNamespace' | 'environment' | 'environmentUrl'>,
  ctx: GitHubContext
): Preview {
  const number = previewNumber(ctx)
  const values: TemplateValues = {
    number: String(number),
    repo: labelSafe(ctx.repo.repo),
    branch: labelSafe(ctx.payload.pull_request?.head?.ref ?? '')
  }
  const namespace = checkNamespace(fitNamespace(settings.previewNamespace, values), 'preview-namespace', settings.previewNamespace)

  const env = settings.environment
  const environment = placeholders(env).length ? expandTemplate(env, values, 'environment') : `${env}/pr-${number}`

  let url: string | undefined
  if (settings.environmentUrl) {
    url = expandTemplate(settings.environmentUrl, { ...values, namespace }, 'environment-url')
    if (!/^https?:\/\/[^\s/]+/.test(url)) throw new DeployError(`'${url}' is not an http(s) URL`, { input: 'environment-url' })
  }
  return { number, namespace, environment, url, labels: { [PREVIEW_LABEL]: String(number) } }
}

/** Expands the namespace template, shortening {branch} then {repo} until it fits 63 characters. */
function fitNamespace(template: string, values: TemplateValues): string {
  const fitted = { ...values }
  let name = expandTemplate(template, fitted, 'preview-namespace')
  for (const key of ['branch', 'repo']) {
    const over = name.length - 63
    if (over <= 0 || !placeholders(template).includes(key)) continue
    fitted[key] = fitted[key].slice(0, Math.max(1, fitted[key].length - over)).replace(/-+$/, '')
    name = expandTemplate(template, fitted, 'preview-namespace')
  }
  return name
}

/** The object with the preview label added (a copy; the input is not changed). */
export function labelPreview<T extends KubeObject>(object: T, preview: Pick<Preview, 'labels'>): T {
  return { ...object, metadata: { ...object.metadata, labels: { ...object.metadata.labels, ...preview.labels } } }
}

/** The preview's Namespace object, labelled, for the deliver stage to apply first. */
export function previewNamespaceObject(preview: Pick<Preview, 'namespace' | 'labels'>): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: preview.namespace, labels: { ...preview.labels } } }
}

/**
 * The manifests of a preview deploy: its labelled Namespace first (apply puts namespaces first
 * anyway), then every document with the preview label added and its namespace set to the
 * preview's. A document that names another namespace is refused (cleanup deletes only the
 * preview namespace, so anything elsewhere would outlive the PR); cluster-scoped kinds are
 * refused by confinePreview, which needs the cluster's discovery.
 */
export function previewManifests(manifests: Manifest[], preview: Pick<Preview, 'namespace' | 'labels'>): Manifest[] {
  const ns: Manifest = { object: previewNamespaceObject(preview), origin: { file: 'preview-namespace', line: 1 } }
  const own = (m: Manifest) => m.object.apiVersion === 'v1' && m.object.kind === 'Namespace' && m.object.metadata.name === preview.namespace
  const rest = manifests.filter(m => !own(m))
  for (const m of rest) {
    const named = m.object.metadata?.namespace
    if (named && named !== preview.namespace && !(m.object.apiVersion === 'v1' && m.object.kind === 'Namespace'))
      throw new DeployError(`${m.object.kind}/${m.object.metadata.name} names namespace ${named}; a preview deploys only into ${preview.namespace}`, {
        file: m.origin.file,
        line: m.origin.line,
        hint: 'remove metadata.namespace (or the overlay\'s namespace:) for previews'
      })
  }
  return [ns, ...rest.map(m => ({ ...m, object: labelPreview(m.object, preview) }))]
}

/** Settings for the rest of the run once the preview is known: its namespace, environment and URL. */
export function withPreview<S extends Pick<Settings, 'namespace' | 'environment' | 'environmentUrl'>>(settings: S, preview: Preview): S {
  return { ...settings, namespace: preview.namespace, environment: preview.environment, environmentUrl: preview.url }
}
