// What buildx and the selected builder can do, asked once per run: `docker buildx version`,
// `docker buildx inspect --bootstrap`, and for the docker driver whether dockerd keeps images
// in containerd (`docker info`). The parsers are pure; attest.ts decides from their result.
import { DeployError } from '../errors.js'
import type { BuilderCaps } from './attest.js'
import { lastErrorLine } from './tool-output.js'
import { runProgram } from '../process.js'

/** "0.36.1" from `github.com/docker/buildx v0.36.1 abc123`. */
export function parseBuildxVersion(out: string): string | undefined {
  return /\bv?(\d+\.\d+\.\d+)\b/.exec(out)?.[1]
}

/** Name, driver and the first node's BuildKit version from `docker buildx inspect`. */
export function parseInspect(out: string): Pick<BuilderCaps, 'name' | 'driver' | 'buildkit'> {
  const field = (key: string) => new RegExp(`^${key}:[ \\t]*(.+)$`, 'm').exec(out)?.[1].trim()
  return { name: field('Name') ?? 'default', driver: field('Driver') ?? 'unknown', buildkit: field('BuildKit version')?.replace(/^v/, '') }
}

/** dockerd's DriverStatus names the containerd snapshotter when its image store is containerd. */
export function usesContainerdStore(driverStatusJson: string): boolean {
  return /io\.containerd\.snapshotter/.test(driverStatusJson)
}

export async function probeBuilder(builder?: string): Promise<BuilderCaps> {
  const version = await runProgram('docker', ['buildx', 'version'])
  if (version.missing) throw new DeployError('the docker CLI is not on PATH')
  if (version.code !== 0) throw new DeployError(`docker buildx does not run: ${lastErrorLine(version.stderr)}`)
  const inspect = await runProgram('docker', ['buildx', 'inspect', '--bootstrap', ...(builder ? [builder] : [])])
  if (inspect.code !== 0) throw new DeployError(`docker buildx inspect failed: ${lastErrorLine(inspect.stderr)}`, { input: builder ? 'builder' : undefined })
  const caps: BuilderCaps = { buildx: parseBuildxVersion(version.stdout), ...parseInspect(inspect.stdout) }
  if (caps.driver === 'docker') {
    const info = await runProgram('docker', ['info', '--format', '{{json .DriverStatus}}'])
    caps.containerdStore = info.code === 0 && usesContainerdStore(info.stdout)
  }
  return caps
}
