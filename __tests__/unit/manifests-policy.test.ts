import { describe, expect, it } from '@jest/globals'
import { checkPolicy, reportPolicy, type Finding } from '../../src/manifests/policy.js'
import { parseManifests } from '../../src/manifests/load.js'
import { DeployError } from '../../src/errors.js'

const D = `sha256:${'e'.repeat(64)}`

/** A container that passes every rule; each case removes or breaks one thing. */
const good = {
  name: 'web',
  image: `localhost:5000/app@${D}`,
  readinessProbe: { httpGet: { path: '/', port: 80 } },
  livenessProbe: { httpGet: { path: '/', port: 80 } },
  resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '128Mi' } },
  securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true }
}

function deployment(container: object, podExtra: object = {}, annotations?: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'prod', ...(annotations ? { annotations } : {}) },
    spec: { template: { spec: { ...podExtra, containers: [container] } } }
  })
}

const rules = (yaml: string): string[] => checkPolicy(parseManifests(yaml, 'd.yaml')).map(f => f.rule)
const without = (key: string) => Object.fromEntries(Object.entries(good).filter(([k]) => k !== key))

describe('checkPolicy', () => {
  it('a container that follows every rule has no finding', () => {
    expect(rules(deployment(good))).toEqual([])
  })

  it.each<[string, object, object, string[]]>([
    ['no readiness probe', without('readinessProbe'), {}, ['readiness-probe']],
    ['no liveness probe', without('livenessProbe'), {}, ['liveness-probe']],
    ['no resources', without('resources'), {}, ['resources']],
    ['no memory limit', { ...good, resources: { requests: { cpu: '1', memory: '1Gi' } } }, {}, ['resources']],
    ['no security context', without('securityContext'), {}, ['run-as-non-root', 'privilege-escalation', 'read-only-root']],
    ['non-root from the pod', { ...good, securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true } }, { securityContext: { runAsNonRoot: true } }, []],
    ['non-root by uid', { ...good, securityContext: { runAsUser: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true } }, {}, []],
    ['container overrides the pod to root', { ...good, securityContext: { ...good.securityContext, runAsNonRoot: false } }, { securityContext: { runAsNonRoot: true } }, ['run-as-non-root']],
    ['uid 0', { ...good, securityContext: { runAsUser: 0, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true } }, {}, ['run-as-non-root']],
    ['a tag, no digest', { ...good, image: 'localhost:5000/app:v1' }, {}, ['image-digest']],
    ['latest', { ...good, image: 'nginx:latest' }, {}, ['image-digest', 'image-tag']],
    ['no tag at all', { ...good, image: 'localhost:5000/app' }, {}, ['image-digest', 'image-tag']],
    ['tag and digest', { ...good, image: `nginx:latest@${D}` }, {}, []],
    ['a registry port is not a tag', { ...good, image: 'localhost:5000/app' }, {}, ['image-digest', 'image-tag']],
    ['run-to-completion pods need no probes', without('readinessProbe'), { restartPolicy: 'Never' }, []]
  ])('%s → %j', (_, container, pod, expected) => {
    expect(rules(deployment(container, pod))).toEqual(expected)
  })

  it('init containers are not asked for probes but get every other rule', () => {
    const yaml = JSON.stringify({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'nightly' },
      spec: { jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', initContainers: [{ name: 'm', image: 'm:1' }], containers: [good] } } } } }
    })
    const findings = checkPolicy(parseManifests(yaml, 'c.yaml'))
    expect(findings.map(f => [f.container, f.rule])).toEqual([
      ['m', 'resources'],
      ['m', 'run-as-non-root'],
      ['m', 'privilege-escalation'],
      ['m', 'read-only-root'],
      ['m', 'image-digest']
    ])
    expect(findings[0].message).toBe("CronJob/nightly init container 'm': no resources.requests.cpu, requests.memory, limits.memory; the scheduler cannot place it and a leak can take the node")
  })

  it.each([
    ['readiness-probe,liveness-probe', []],
    ['*', []],
    ['image-digest', ['readiness-probe', 'liveness-probe']]
  ])('opt-out annotation %s', (value, expected) => {
    const c = { ...without('readinessProbe'), livenessProbe: undefined }
    expect(rules(deployment(c, {}, { 'kube-ship.io/policy-ignore': value }))).toEqual(expected)
  })

  it('points at the container’s own line, and at the document for kustomize output', () => {
    const yaml = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: ok
          image: x@${D}
        - name: bad
          image: x:latest
`
    const docs = parseManifests(`# c\n---\n${yaml}`, 'k8s/web.yaml')
    const lines = checkPolicy(docs).map(f => `${f.container}@${f.file}:${f.line}`)
    expect(new Set(lines)).toEqual(new Set(['ok@k8s/web.yaml:11', 'bad@k8s/web.yaml:13']))
    const rendered = docs.map(d => ({ object: d.object, origin: { file: 'overlays/prod/kustomization.yaml', line: 1, rendered: true } }))
    expect(new Set(checkPolicy(rendered).map(f => `${f.file}:${f.line}`))).toEqual(new Set(['overlays/prod/kustomization.yaml:1']))
  })
})

describe('reportPolicy', () => {
  const finding: Finding = { rule: 'image-tag', message: "Deployment/web container 'web': image 'x' has no tag", resource: 'Deployment/web', container: 'web', file: 'k.yaml', line: 7 }
  const sink = () => {
    const calls: [string, string, object][] = []
    return { calls, warning: (m: string, p: object) => calls.push(['warning', m, p]), error: (m: string, p: object) => calls.push(['error', m, p]) }
  }

  it('warn: one warning annotation per finding at its file and line, lines returned for the report', () => {
    const s = sink()
    expect(reportPolicy('warn', [finding], s)).toEqual([`policy image-tag: ${finding.message} (k.yaml:7)`])
    expect(s.calls).toEqual([['warning', finding.message, { title: 'policy: image-tag', file: 'k.yaml', startLine: 7 }]])
  })

  it('enforce: error annotations, then one DeployError at the first finding', () => {
    const s = sink()
    let error: unknown
    try {
      reportPolicy('enforce', [finding, { ...finding, line: 9 }], s)
    } catch (err) {
      error = err
    }
    expect(s.calls.map(c => c[0])).toEqual(['error', 'error'])
    expect((error as DeployError).line()).toBe(
      `k.yaml:7: policy enforce: 2 findings, first: ${finding.message} (fix them, or opt an object out with the annotation kube-ship.io/policy-ignore)`
    )
  })

  it('off or nothing found: silent', () => {
    const s = sink()
    expect(reportPolicy('off', [finding], s)).toEqual([])
    expect(reportPolicy('enforce', [], s)).toEqual([])
    expect(s.calls).toEqual([])
  })
})
