// The README's main command, as a new user runs it: scripts/demo deploys the example app to the
// local stack (then as a canary) and prints the outputs and the report.
import { describe, expect, it } from '@jest/globals'
import * as path from 'node:path'
import { kubectlJson, run, stack } from './stack.js'

const repo = path.resolve(import.meta.dirname, '../..')

function outputs(stdout: string): Record<string, string> {
  const section = stdout.slice(stdout.indexOf('=== outputs ==='), stdout.indexOf('=== job summary ==='))
  return Object.fromEntries([...section.matchAll(/^([a-z-]+): (.*)$/gm)].map(m => [m[1], m[2]]))
}

async function registryDigest(tag: string): Promise<string | null> {
  const res = await fetch(`http://${stack().registry}/v2/demo/web/manifests/${tag}`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })
  return res.headers.get('docker-content-digest')
}

describe('scripts/demo', () => {
  it('deploys the example app and prints a digest equal to the registry', async () => {
    const r = await run(path.join(repo, 'scripts/demo'), [], { timeoutMs: 280_000 })
    expect(r.stderr.split('\n').filter(l => l.startsWith('::error'))).toEqual([])
    expect(r.code).toBe(0)
    const out = outputs(r.stdout)
    expect(out.status).toBe('succeeded')
    expect(out.digest).toBe(await registryDigest(out.tags))
    const live = await kubectlJson(['-n', 'demo', 'get', 'deployment', 'web'])
    expect(live.spec.template.spec.containers[0].image).toBe(out['image-ref'])
    expect(r.stdout).toContain('=== job summary ===')
  })

  it('--canary steps the weight and promotes', async () => {
    const r = await run(path.join(repo, 'scripts/demo'), ['--canary'], { timeoutMs: 280_000 })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/Canary 20% .*\n[\s\S]*Canary 50% /)
    // The sampler measured the split through the router at each step, every request answered.
    const steps = [...r.stdout.matchAll(/^step (\d+) %: ([\d.]+) % of (\d+) requests served by sha256:[0-9a-f]{64}( \(\d+ failed\))?$/gm)]
    expect(steps.map(m => m[1])).toEqual(expect.arrayContaining(['20', '50']))
    for (const [, weight, share, n, failed] of steps) {
      const sigma = Math.sqrt((Number(weight) / 100) * (1 - Number(weight) / 100) / Number(n)) * 100
      expect(Math.abs(Number(share) - Number(weight))).toBeLessThanOrEqual(4 * sigma + 0.1)
      expect(failed).toBeUndefined()
    }
    expect(outputs(r.stdout)).toMatchObject({ status: 'succeeded', 'canary-weight': '0' })
    expect((await run('kubectl', ['--kubeconfig', stack().kubeconfig, '-n', 'demo', 'get', 'ingress', 'web-canary'])).code).not.toBe(0)
  })

  it('--helm deploys the app as its chart, with its hooks', async () => {
    const r = await run(path.join(repo, 'scripts/demo'), ['--helm'], { timeoutMs: 280_000, env: { ...process.env, PATH: `${path.dirname(stack().helm)}:${process.env.PATH}` } })
    expect(r.stderr.split('\n').filter(l => l.startsWith('::error'))).toEqual([])
    expect(r.code).toBe(0)
    const out = outputs(r.stdout)
    expect(out.status).toBe('succeeded')
    expect(r.stdout).toMatch(/Chart web 0\.1\.0 as release web/)
    const live = await kubectlJson(['-n', 'demo', 'get', 'deployment', 'web'])
    expect(live.spec.template.spec.containers[0].image).toBe(out['image-ref'])
    expect(live.spec.replicas).toBe(3) // values-production.yaml
    const migrate = await kubectlJson(['-n', 'demo', 'get', 'job', 'web-migrate'])
    expect(migrate.spec.template.spec.containers[0].image).toBe(out['image-ref'])
  })
})
