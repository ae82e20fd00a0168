// Image stage: log in, then either build and push (digest from buildx) or take the given digest
// after checking the registry has it. Returns undefined when no image is configured.
import * as core from '@actions/core'
import type { Settings } from '../inputs.js'
import type { DeployReport } from '../report/model.js'
import { type ImageRef, pinned, repository } from './reference.js'
import { buildImage, type BuildContext } from './build.js'
import { dockerConfigCredentials, headManifest, login } from './registry.js'
import { describeVerified, verifyImage } from './verify.js'

export interface ImageResult {
  ref: ImageRef
  digest: string
  /** repo@digest */
  pinnedRef: string
  tags: string[]
  built: boolean
}

export async function prepareImage(s: Settings, ctx: BuildContext, report: DeployReport): Promise<ImageResult | undefined> {
  const image = s.image
  if (!image) return undefined
  const creds = s.registryUsername && s.registryPassword ? { username: s.registryUsername, password: s.registryPassword } : undefined
  let digest: string
  let tags: string[] = []
  if (s.digest) {
    digest = await headManifest(image, s.digest, creds ?? dockerConfigCredentials(image.registry))
    core.info(`Using ${pinned(image, digest)} (found in the registry)`)
  } else {
    if (creds) {
      await login(image.registry, creds)
      core.saveState('docker-logout', image.registry)
    }
    if (!s.push) {
      // buildx reports the local image ID, which no registry has: it is no digest to deploy or
      // to output (inputs refuses push: false beside manifests, so nothing is deployed here).
      const built = await buildImage(s, image, ctx)
      core.info(`Built ${repository(image)} (${built.tags.join(', ')}); push is false, so nothing was pushed and there is no digest`)
      return undefined
    }
    const built = await buildImage(s, image, ctx)
    digest = built.digest as string // push is true: digestFromMetadata returned one or threw
    tags = built.tags
    core.info(`Pushed ${pinned(image, digest)}`)
  }
  const result = { ref: image, digest, pinnedRef: pinned(image, digest), tags, built: !s.digest }
  report.image = { ref: result.pinnedRef, digest, tags, built: result.built }
  if (s.verify.mode !== 'none') {
    // Before manifests are rendered or anything applied: a refusal leaves the cluster untouched.
    const verified = await verifyImage(image, digest, s.verify, creds ?? dockerConfigCredentials(image.registry))
    report.verified = verified.map(describeVerified)
    for (const line of report.verified) core.info(`Verified ${result.pinnedRef}: ${line}`)
  }
  return result
}
