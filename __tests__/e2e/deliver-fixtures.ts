// Objects and runners shared by the deliver/rollout e2e tests: small workloads of every kind,
// Settings read the way the action reads its inputs, and one call that runs the deliver stage
// against the local control plane, decides the status as the pipeline does, and hands back the
// report and the error line.
import { expect } from '@jest/globals'
import type { KubeConfig } from '@kubernetes/client-node'
import { DeployError, describeError } from '../../src/errors.js'
import { readSettings, type Settings } from '../../src/inputs.js'
import { loadKubeConfig } from '../../src/kube/client.js'
import type { KubeObject, Manifest } from '../../src/manifests/types.js'
import { type DeployReport, newReport } from '../../src/report/model.js'
import { deliver, type Plan } from '../../src/deliver/index.js'
import { decideStatus } from '../../src/status.js'
import { SIM_LABEL, type SimBehavior, stack } from './stack.js'

export const image = (tag: string): string => `${stack().registry}/e2e/web:${tag}`

export const adminKc = (): KubeConfig => loadKubeConfig({}, { KUBECONFIG: stack().kubeconfig })
export const restrictedKc = (): KubeConfig => loadKubeConfig({}, { KUBECONFIG: stack().restrictedKubeconfig })

interface PodOptions {
  behavior?: SimBehavior
  replicas?: number
  spec?: Record<string, unknown>
}

function podTemplate(app: string, tag: string, behavior?: SimBehavior): Record<string, unknown> {
  const labels: Record<string, string> = { app }
  if (behavior) labels[SIM_LABEL] = behavior
  return { metadata: { labels }, spec: { containers: [{ name: 'web', image: image(tag) }] } }
}

export function deployment(name: string, tag: string, opts: PodOptions = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { replicas: opts.replicas ?? 2, selector: { matchLabels: { app: name } }, template: podTemplate(name, tag, opts.behavior), ...opts.spec }
  }
}

export function statefulSet(name: string, tag: string, opts: PodOptions = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name },
    spec: { replicas: opts.replicas ?? 2, serviceName: name, selector: { matchLabels: { app: name } }, template: podTemplate(name, tag, opts.behavior), ...opts.spec }
  }
}

export function daemonSet(name: string, tag: string, opts: PodOptions = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name },
    spec: { selector: { matchLabels: { app: name } }, template: podTemplate(name, tag, opts.behavior), ...opts.spec }
  }
}

export function job(name: string, tag: string): KubeObject {
  const template = podTemplate(name, tag) as { spec: Record<string, unknown> }
  template.spec.restartPolicy = 'Never'
  return { apiVersion: 'batch/v1', kind: 'Job', metadata: { name }, spec: { backoffLimit: 0, template } }
}

/** A namespaced CRD that accepts any spec, for kind `kind` (plural `<kind>s`) in `group`. */
export function crd(group: string, kind: string): KubeObject {
  const plural = `${kind.toLowerCase()}s`
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }]
    }
  }
}

export function service(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] } }
}

export function configMap(name: string, data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data }
}

/** Documents as the manifests stage hands them over: each with a file:line origin. */
export function documents(objects: KubeObject[], file = 'k8s/app.yaml'): Manifest[] {
  return objects.map((object, i) => ({ object, origin: { file, line: 1 + i * 20 } }))
}

export function settings(inputs: Record<string, string> = {}): Settings {
  return readSettings(name => inputs[name] ?? '')
}

export interface Deployed {
  report: DeployReport
  /** the plan deliver ran (canary falls back to rolling); undefined when it failed */
  plan?: Plan
  /** the one line a failed run prints, undefined on success */
  error?: string
  thrown?: unknown
}

/** Runs the deliver stage like the pipeline does, with the `timeout` input as the one deadline. */
export async function deploy(kc: KubeConfig, namespace: string, objects: KubeObject[] | Manifest[], inputs: Record<string, string> = {}): Promise<Deployed> {
  const s = settings({ namespace, timeout: '120s', ...inputs })
  const report = newReport({ environment: 'e2e', mode: s.mode, strategy: 'rolling' })
  const docs = (objects as (KubeObject | Manifest)[]).every(o => 'origin' in o) ? (objects as Manifest[]) : documents(objects as KubeObject[])
  const facts = { delivered: false, rolledBack: false }
  let thrown: unknown
  let plan: Plan | undefined
  try {
    plan = await deliver({ kc, settings: s, documents: docs, report, signal: AbortSignal.timeout(s.timeoutMs), namespace }, facts)
  } catch (err) {
    thrown = err
  }
  report.status = decideStatus({ mode: s.mode, completed: thrown === undefined, failed: thrown !== undefined, cancelled: false, ...facts }).status
  if (thrown === undefined) return { report, plan }
  expect(thrown).toBeInstanceOf(DeployError)
  return { report, error: describeError(thrown), thrown }
}
