// `mode: diff`: every document through a server-side dry run, compared with what is live
// (kube/diff.ts); the report and the `diff` output get the text. Nothing is changed.
import * as core from '@actions/core'
import { diffObjects } from '../kube/diff.js'
import type { KubeConfig } from '@kubernetes/client-node'
import type { Manifest } from '../manifests/types.js'
import type { DeployReport } from '../report/model.js'

export async function showDiff(ctx: { kc: KubeConfig; documents: Manifest[]; report: DeployReport; signal: AbortSignal; namespace: string }): Promise<void> {
  const { kc, documents, report, signal, namespace } = ctx
  const d = await core.group('Diff (server-side dry run)', () => diffObjects(kc, documents, { namespace, signal }))
  report.diff = d.text
  report.resources = d.resources
  core.info(d.text || 'No changes.')
}
