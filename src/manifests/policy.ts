// Best-practice preflight on every pod template before anything reaches the cluster. The rules
// are pure (checkPolicy); reportPolicy turns findings into GitHub annotations on the manifest
// line and, in enforce mode, fails the run. An object can opt out of rules with the annotation
// `kube-ship.io/policy-ignore: "rule,rule"` (or "*"), so a deliberate exception stays visible.
import * as core from '@actions/core'
import { DeployError } from '../errors.js'
import type { Policy } from '../inputs.js'
import { parseReference } from '../image/reference.js'
import { type Container, containersOf, podSpecs } from './pods.js'
import { type Manifest, resourceName } from './types.js'

export const RULES = [
  'readiness-probe',
  'liveness-probe',
  'resources',
  'run-as-non-root',
  'privilege-escalation',
  'read-only-root',
  'image-digest',
  'image-tag'
] as const
export type Rule = (typeof RULES)[number]

export const IGNORE_ANNOTATION = 'kube-ship.io/policy-ignore'

export interface Finding {
  rule: Rule
  message: string
  resource: string
  container: string
  file: string
  line: number
}

type Sec = { runAsNonRoot?: boolean; runAsUser?: number; allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; privileged?: boolean }

/** Every finding for every container of every pod template, in document order. */
export function checkPolicy(documents: Manifest[]): Finding[] {
  const findings: Finding[] = []
  for (const { object, origin } of documents) {
    const ignored = ignoreList(object.metadata.annotations?.[IGNORE_ANNOTATION])
    for (const pod of podSpecs(object)) {
      const podSec = (pod.spec.securityContext ?? {}) as Sec
      // Run-to-completion pods (Jobs, CronJobs, workflow steps) have nothing to be ready for.
      const batch = pod.spec.restartPolicy === 'Never' || pod.spec.restartPolicy === 'OnFailure'
      for (const { path, container, init } of containersOf(pod)) {
        const label = `${resourceName(object)} ${init ? 'init container' : 'container'} '${container.name ?? '?'}'`
        const line = origin.lines?.[path] ?? origin.line
        const add = (rule: Rule, what: string): void => {
          if (!ignored.has(rule) && !ignored.has('*')) findings.push({ rule, message: `${label}: ${what}`, resource: resourceName(object), container: container.name ?? '?', file: origin.file, line })
        }
        for (const [rule, what] of containerFindings(container, podSec, { probes: !init && !batch })) add(rule, what)
      }
    }
  }
  return findings
}

function containerFindings(c: Container, podSec: Sec, opts: { probes: boolean }): [Rule, string][] {
  const out: [Rule, string][] = []
  if (opts.probes && !c.readinessProbe) out.push(['readiness-probe', 'no readinessProbe; traffic may reach it before it can serve'])
  if (opts.probes && !c.livenessProbe) out.push(['liveness-probe', 'no livenessProbe; a hung process is never restarted'])

  const res = (c.resources ?? {}) as { requests?: Record<string, unknown>; limits?: Record<string, unknown> }
  const missing = [
    !res.requests?.cpu && 'requests.cpu',
    !res.requests?.memory && 'requests.memory',
    !res.limits?.memory && 'limits.memory'
  ].filter(Boolean)
  if (missing.length) out.push(['resources', `no resources.${missing.join(', ')}; the scheduler cannot place it and a leak can take the node`])

  const sec = (c.securityContext ?? {}) as Sec
  const nonRoot = sec.runAsNonRoot ?? podSec.runAsNonRoot
  const user = sec.runAsUser ?? podSec.runAsUser
  if (nonRoot !== true && !(typeof user === 'number' && user > 0))
    out.push(['run-as-non-root', 'securityContext.runAsNonRoot is not true (and runAsUser is not a non-root uid)'])
  if (sec.allowPrivilegeEscalation !== false) out.push(['privilege-escalation', 'securityContext.allowPrivilegeEscalation is not false'])
  if (sec.readOnlyRootFilesystem !== true) out.push(['read-only-root', 'securityContext.readOnlyRootFilesystem is not true'])

  if (typeof c.image === 'string') {
    let ref: { tag?: string; digest?: string } = {}
    try {
      ref = parseReference(c.image)
    } catch {
      // An unparsable image is the apiserver's to reject; the tag rules below still read the text.
    }
    if (!ref.digest) {
      out.push(['image-digest', `image '${c.image}' is not pinned by digest; a moved tag changes what runs`])
      if (!ref.tag) out.push(['image-tag', `image '${c.image}' has no tag, which means :latest`])
      else if (ref.tag === 'latest') out.push(['image-tag', `image '${c.image}' uses the latest tag`])
    }
  }
  return out
}

function ignoreList(value: string | undefined): Set<string> {
  return new Set((value ?? '').split(',').map(s => s.trim()).filter(Boolean))
}

export interface AnnotationSink {
  warning(message: string, props: { title?: string; file?: string; startLine?: number }): void
  error(message: string, props: { title?: string; file?: string; startLine?: number }): void
}

/**
 * Emits one annotation per finding (warning, or error when enforcing) and returns the lines for
 * the report. In enforce mode any finding fails the run here, before apply.
 */
/**
 * @actions/core's annotations. Named functions, not the `core` namespace as a value: a bundler
 * keeps every export of a namespace used as a value (getIDToken's HTTP client among them).
 */
export const coreSink: AnnotationSink = { warning: core.warning, error: core.error }

export function reportPolicy(mode: Policy, findings: Finding[], sink: AnnotationSink = coreSink): string[] {
  if (mode === 'off' || !findings.length) return []
  for (const f of findings) {
    const props = { title: `policy: ${f.rule}`, file: f.file, startLine: f.line }
    if (mode === 'enforce') sink.error(f.message, props)
    else sink.warning(f.message, props)
  }
  const lines = findings.map(f => `policy ${f.rule}: ${f.message} (${f.file}:${f.line})`)
  if (mode === 'enforce') {
    const first = findings[0]
    throw new DeployError(`policy enforce: ${findings.length} finding${findings.length > 1 ? 's' : ''}, first: ${first.message}`, {
      file: first.file,
      line: first.line,
      hint: `fix them, or opt an object out with the annotation ${IGNORE_ANNOTATION}`
    })
  }
  return lines
}
