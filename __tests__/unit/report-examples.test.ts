// The example workflows are documentation people copy: every input they pass must exist and
// parse, every template must resolve, and each workflow must grant the permissions the report
// needs and no more than a short, commented list.
import { describe, expect, it } from '@jest/globals'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { readSettings } from '../../src/inputs.js'
import { resolvePreview } from '../../src/preview/index.js'

const dir = new URL('../../examples/workflows/', import.meta.url)
const action = parse(readFileSync(new URL('../../action.yml', import.meta.url), 'utf8')) as { inputs: Record<string, unknown> }

interface Step {
  uses?: string
  with?: Record<string, unknown>
}
interface Workflow {
  permissions?: Record<string, string>
  jobs: Record<string, { permissions?: Record<string, string>; steps: Step[] }>
}

const workflows = readdirSync(dir)
  .filter(f => f.endsWith('.yml'))
  .map(f => [f, parse(readFileSync(new URL(f, dir), 'utf8')) as Workflow] as const)

/** `${{ ... }}` stands for a value only the runner knows; a plain word keeps parsing honest. */
const resolved = (v: unknown): string => String(v).replace(/\$\{\{[^}]*\}\}/g, 'x')

describe('example workflows', () => {
  it('are deploy-on-merge, PR preview, canary and Helm', () => {
    expect(workflows.map(([f]) => f).sort()).toEqual(['canary.yml', 'deploy-on-merge.yml', 'helm.yml', 'pr-preview.yml'])
  })

  const steps = workflows.flatMap(([file, wf]) =>
    Object.entries(wf.jobs).flatMap(([job, j]) =>
      j.steps.filter(s => s.uses?.startsWith('kube-ship/kube-ship@')).map(s => // job permissions replace the workflow's, they do not add to them
        [`${file} ${job}`, s, j.permissions ?? wf.permissions ?? {}, j.steps.some(x => x.uses?.startsWith('actions/attest'))] as const)
    )
  )

  it.each(steps)('%s: inputs exist in action.yml and parse', (_name, step) => {
    process.env.GITHUB_REPOSITORY ??= 'acme/web' // the runner sets it; attestation-repository defaults to it
    // a digest from an earlier step's output, or a key from a secret, stands for a well-formed one
    const runnerValue: Record<string, string> = { digest: `sha256:${'0'.repeat(64)}`, 'sign-key': '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nx\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----' }
    const given = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, k in runnerValue && /\$\{\{/.test(String(v)) ? runnerValue[k] : resolved(v)]))
    expect(Object.keys(given).filter(k => !(k in action.inputs))).toEqual([])
    const settings = readSettings(name => given[name] ?? '')
    if (settings.preview) {
      const ctx = {
        eventName: 'pull_request',
        sha: 'a'.repeat(40),
        repo: { owner: 'acme', repo: 'web' },
        payload: { number: 12, pull_request: { number: 12, head: { ref: 'feature/x' } } },
        serverUrl: 'https://github.com',
        runId: 1
      }
      expect(resolvePreview(settings, ctx)).toMatchObject({ namespace: 'pr-12', environment: 'preview-12' })
    }
  })

  it.each(steps)('%s: may write what the report needs, nothing more', (_name, step, permissions, attestsInJob) => {
    const records = step.with?.['github-deployment'] !== false
    expect(permissions).toMatchObject({ 'pull-requests': 'write', ...(records ? { deployments: 'write' } : {}) })
    const builds = Boolean(step.with?.image) && step.with?.mode !== 'cleanup'
    // a job that makes an artifact attestation needs a Sigstore certificate and the record
    const attests = attestsInJob
    const allowed = new Set(['contents', 'pull-requests', ...(records ? ['deployments'] : []), ...(builds ? ['packages'] : []), ...(attests ? ['id-token', 'attestations'] : [])])
    expect(Object.keys(permissions).filter(k => !allowed.has(k))).toEqual([])
    expect(Object.values(permissions).every(v => v === 'read' || v === 'write')).toBe(true)
  })

  it.each(steps.filter(([, step]) => step.with?.chart))('%s: the chart directory and values files it names exist', (_name, step) => {
    const root = new URL('../../', import.meta.url)
    expect(existsSync(new URL(`${String(step.with!.chart)}/Chart.yaml`, root))).toBe(true)
    for (const f of readSettings(name => resolved(step.with?.[name] ?? '')).chart!.values) expect([f, existsSync(new URL(f, root))]).toEqual([f, true])
  })

  it.each(workflows)('%s: declares permissions at the top', (_file, wf) => {
    expect(wf.permissions).toBeDefined()
  })
})
