// Smoke test of the local stack itself: what every other e2e test relies on must hold here
// first (real scheduler + controller-manager + kwok, RBAC, failure simulation, buildx digests).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { SIM_LABEL, type SimBehavior, deleteNamespace, freshNamespace, kubectl, kubectlJson, kubectlResult, run, stack, waitFor } from './stack.js'

const image = (tag: string): string => `${stack().registry}/smoke/web:${tag}`

function deployment(name: string, tag: string): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: image(tag) }] } }
    }
  }
}

function simPod(name: string, behavior: SimBehavior): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { [SIM_LABEL]: behavior } },
    spec: { containers: [{ name: 'app', image: image('sim') }] }
  }
}

const apply = (ns: string, obj: object): Promise<string> => kubectl(['apply', '-f', '-'], { namespace: ns, input: JSON.stringify(obj) })

describe('local stack', () => {
  let ns: string
  beforeAll(async () => {
    ns = await freshNamespace('stack-smoke')
  })
  afterAll(async () => {
    if (ns) await deleteNamespace(ns)
  })

  it('has at least three Ready kwok nodes', async () => {
    const nodes = await kubectlJson<{ items: any[] }>(['get', 'nodes', '-l', 'type=kwok'])
    const ready = nodes.items.filter((n) => n.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))
    expect(ready.length).toBeGreaterThanOrEqual(3)
  })

  it('rolls a Deployment through the real controllers: available, then a new ReplicaSet takes over', async () => {
    await apply(ns, deployment('web', 'v1'))
    await waitFor('web to have 3 available replicas', async () => {
      const d = await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])
      return d.status?.availableReplicas === 3 && d.status.observedGeneration === d.metadata.generation
    })
    const [first] = (await kubectlJson<{ items: any[] }>(['-n', ns, 'get', 'replicasets', '-l', 'app=web'])).items
    expect(first.spec.template.spec.containers[0].image).toBe(image('v1'))

    await kubectl(['-n', ns, 'set', 'image', 'deployment/web', `web=${image('v2')}`])
    const sets = await waitFor('the v2 ReplicaSet to take over', async () => {
      const d = await kubectlJson(['-n', ns, 'get', 'deployment', 'web'])
      const rs = (await kubectlJson<{ items: any[] }>(['-n', ns, 'get', 'replicasets', '-l', 'app=web'])).items
      const done = d.status.observedGeneration === d.metadata.generation && d.status.updatedReplicas === 3 &&
        d.status.availableReplicas === 3 && d.status.replicas === 3
      return done && rs
    })
    const byImage = new Map(sets.map((rs: any) => [rs.spec.template.spec.containers[0].image, rs]))
    expect(sets).toHaveLength(2)
    expect(byImage.get(image('v2'))).toMatchObject({ spec: { replicas: 3 }, status: { readyReplicas: 3 } })
    expect(byImage.get(image('v1'))).toMatchObject({ metadata: { name: first.metadata.name }, spec: { replicas: 0 } })
  })

  it('restricts the deployer kubeconfig to its Role in team-a', async () => {
    const as = { kubeconfig: stack().restrictedKubeconfig }
    const secrets = await kubectlResult(['-n', 'kube-system', 'get', 'secrets'], as)
    expect(secrets.code).not.toBe(0)
    expect(secrets.stderr).toMatch(/forbidden.*system:serviceaccount:team-a:kube-ship-deployer/)
    const clusterRole = await kubectlResult(['create', 'clusterrole', 'smoke-escalate', '--verb=get', '--resource=pods'], as)
    expect(clusterRole.stderr).toMatch(/forbidden/)

    const name = `smoke-${Date.now().toString(36)}`
    const created = await kubectlResult(['-n', stack().restrictedNamespace, 'create', 'deployment', name, `--image=${image('v1')}`], as)
    expect(created).toMatchObject({ code: 0 })
    await kubectl(['-n', stack().restrictedNamespace, 'delete', 'deployment', name], as)
  })

  it('simulates CrashLoopBackOff with a rising restartCount', async () => {
    await apply(ns, simPod('crash', 'crashloop'))
    const status = async () => (await kubectlJson(['-n', ns, 'get', 'pod', 'crash'])).status
    const first = await waitFor('crash to be in CrashLoopBackOff', async () => {
      const s = await status()
      return s.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' && s
    })
    expect(first.phase).toBe('Running')
    expect(first.containerStatuses[0]).toMatchObject({ ready: false, lastState: { terminated: { exitCode: 1 } } })
    const before = first.containerStatuses[0].restartCount
    await waitFor('restartCount to rise', async () => (await status()).containerStatuses[0].restartCount > before)
  })

  it('simulates ImagePullBackOff on a pending pod', async () => {
    await apply(ns, simPod('pull', 'image-pull-backoff'))
    const s = await waitFor('pull to be in ImagePullBackOff', async () => {
      const st = (await kubectlJson(['-n', ns, 'get', 'pod', 'pull'])).status
      return st.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff' && st
    })
    expect(s.phase).toBe('Pending')
    expect(s.containerStatuses[0].state.waiting.message).toContain(image('sim'))
  })

  it('simulates a running pod that is never Ready', async () => {
    await apply(ns, simPod('stuck', 'not-ready'))
    const s = await waitFor('stuck to run', async () => {
      const st = (await kubectlJson(['-n', ns, 'get', 'pod', 'stuck'])).status
      return st.phase === 'Running' && st
    })
    expect(s.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({ status: 'False' })
    expect(s.containerStatuses[0]).toMatchObject({ ready: false, state: { running: {} } })
  })

  it('deletes pods (kwok confirms the deletion no kubelet would)', async () => {
    await kubectl(['-n', ns, 'delete', 'pod', 'stuck', '--wait=true', '--timeout=60s'])
    const left = await kubectlResult(['-n', ns, 'get', 'pod', 'stuck'])
    expect(left.stderr).toMatch(/NotFound/)
  })
})

describe('local image engine', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'stack-smoke-'))
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n')
    writeFileSync(path.join(dir, 'hello.txt'), `smoke ${Date.now()}\n`)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const env = (): NodeJS.ProcessEnv => ({ ...process.env, DOCKER_HOST: stack().dockerHost, DOCKER_CONFIG: path.join(dir, 'docker-config') })
  const manifestDigest = async (registry: string, repo: string, tag: string, auth?: string): Promise<string | undefined> => {
    const res = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
      method: 'HEAD',
      headers: {
        Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json',
        ...(auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {})
      }
    })
    return res.headers.get('docker-content-digest') ?? `HTTP ${res.status}`
  }

  it('pushes with buildx and reports the digest the open registry serves', async () => {
    const meta = path.join(dir, 'open.json')
    const tag = `${stack().registry}/smoke/engine:open`
    const r = await run('docker', ['buildx', 'build', '--push', '--metadata-file', meta, '-t', tag, dir], { env: env() })
    expect(r).toMatchObject({ code: 0 })
    const digest = JSON.parse(readFileSync(meta, 'utf8'))['containerimage.digest']
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(await manifestDigest(stack().registry, 'smoke/engine', 'open')).toBe(digest)
  })

  it('requires the generated credentials on the auth registry', async () => {
    const { authRegistry, authUser, authPassword } = stack()
    expect(await manifestDigest(authRegistry, 'smoke/engine', 'auth')).toBe('HTTP 401')
    const login = await run('docker', ['login', '-u', authUser, '--password-stdin', authRegistry], { env: env(), input: authPassword })
    expect(login).toMatchObject({ code: 0 })
    const meta = path.join(dir, 'auth.json')
    const r = await run('docker', ['buildx', 'build', '--push', '--metadata-file', meta, '-t', `${authRegistry}/smoke/engine:auth`, dir], { env: env() })
    expect(r).toMatchObject({ code: 0 })
    const digest = JSON.parse(readFileSync(meta, 'utf8'))['containerimage.digest']
    expect(await manifestDigest(authRegistry, 'smoke/engine', 'auth', `${authUser}:${authPassword}`)).toBe(digest)
  })
})
