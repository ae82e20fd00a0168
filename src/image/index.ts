// Image stage: log in, then either build and push (digest from buildx) or take the given digest
// after checking the registry has it. Returns undefined when no image is configured.
import * as core from '@actions/core'
import type { Settings } from '../inputs.js'
import { state } from '../state.js'
import type { DeployReport } from '../report/model.js'
import { type ImageRef, pinned, repository } from './reference.js'
import { buildImage, type BuildContext } from './build.js'
import { dockerConfigCredentials, headManifest, login } from './registry.js'
import { describeVerified, verifyImage } from './verify.js'
import { cosignPath, signImage } from './sign.js'

export interface ImageResult {
  ref: ImageRef
  digest: string
  /** repo@digest */
  pinnedRef: string
  tags: string[]
  built: boolean
}

/** signal: the job's cancellation, which stops the build and the signing tool too. */
export async function prepareImage(settings: Settings, ctx: BuildContext, report: DeployReport, signal?: AbortSignal): Promise<ImageResult | undefined> {
  const image = settings.image
  if (!image) return undefined
  if (settings.sign) cosignPath()
  const creds = settings.registryUsername && settings.registryPassword ? { username: settings.registryUsername, password: settings.registryPassword } : undefined
  let digest: string
  let tags: string[] = []
  let attestations: string[] = []
  if (settings.digest) {
    digest = await headManifest(image, settings.digest, creds ?? dockerConfigCredentials(image.registry))
    core.info(`Using ${pinned(image, digest)} (found in the registry)`)
    // cosign reads the registry credentials from the docker config, as buildx does.
    if (settings.sign && creds) {
      await login(image.registry, creds)
      state.saveRegistryLogout(image.registry)
    }
  } else {
    if (creds) {
      await login(image.registry, creds)
      state.saveRegistryLogout(image.registry)
    }
    if (!settings.push) {
      // buildx reports the local image ID, which no registry has: it is no digest to deploy or
      // to output (inputs refuses push: false beside manifests, so nothing is deployed here).
      const built = await buildImage(settings, image, ctx, signal)
      core.info(`Built ${repository(image)} (${built.tags.join(', ')}); push is false, so nothing was pushed and there is no digest`)
      return undefined
    }
    const built = await buildImage(settings, image, ctx, signal)
    digest = built.digest as string // push is true: digestFromMetadata returned one or threw
    tags = built.tags
    attestations = built.attestations
    core.info(`Pushed ${pinned(image, digest)}${attestations.length ? ` (an image index with ${attestations.join(', ')})` : ''}`)
  }
  const result = { ref: image, digest, pinnedRef: pinned(image, digest), tags, built: !settings.digest }
  report.image = { ref: result.pinnedRef, digest, tags, built: result.built, ...(attestations.length ? { attestations } : {}) }
  if (settings.sign) {
    // Signed before verify: one step can build, sign, verify and deploy.
    report.image.signedBy = await signImage(image, digest, settings.sign, signal)
    core.info(`Signed ${result.pinnedRef} with Cosign key ${report.image.signedBy}${settings.sign.tlogUpload ? ' (recorded in the transparency log)' : ''}`)
  }
  if (settings.verify.mode !== 'none') {
    // Before manifests are rendered or anything applied: a refusal leaves the cluster untouched.
    const verified = await verifyImage(image, digest, settings.verify, creds ?? dockerConfigCredentials(image.registry), signal)
    report.verified = verified.map(describeVerified)
    for (const line of report.verified) core.info(`Verified ${result.pinnedRef}: ${line}`)
  }
  return result
}
