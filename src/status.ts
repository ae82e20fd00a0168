// The one place that decides how a run ended: the `status` output, the report's headline and the
// GitHub Deployment's final state all come from decideStatus. Stages record facts (they failed
// and rolled back, the new version serves); main collects them and asks once, at the end.
import type { RollbackRecord, RunStatus } from './report/model.js'

export type DeploymentState = 'success' | 'failure' | 'inactive'

export interface RunFacts {
  mode: 'deploy' | 'diff' | 'cleanup'
  /** the pipeline ran to its end without an error */
  completed: boolean
  /** an error ended the run */
  failed: boolean
  /** the job was cancelled before the run completed */
  cancelled: boolean
  /** the delivery stage ended with the new version serving (a later step may still fail) */
  delivered: boolean
  /** the failed stage undid every change it made (its rollback left nothing failed) */
  rolledBack: boolean
}

export interface Decision {
  status: RunStatus
  /** the GitHub Deployment's final state: what the cluster runs, not whether the job passed */
  deployment: DeploymentState
  /** the job fails */
  jobFails: boolean
}

/** Pure: how the run ended. A run that never reached a verdict is never `succeeded`. */
export function decideStatus(f: RunFacts): Decision {
  const deployment: DeploymentState = f.delivered ? 'success' : 'failure'
  if (f.cancelled && !f.completed) return { status: 'cancelled', deployment, jobFails: true }
  if (f.failed) return { status: f.rolledBack && !f.delivered ? 'rolled-back' : 'failed', deployment, jobFails: true }
  if (!f.completed) return { status: 'failed', deployment, jobFails: true }
  if (f.mode === 'diff') return { status: 'diff', deployment: 'success', jobFails: false }
  if (f.mode === 'cleanup') return { status: 'cleaned-up', deployment: 'inactive', jobFails: false }
  return { status: 'succeeded', deployment: 'success', jobFails: false }
}

/** Pure: a failure's rollback undid the run when it restored something and failed nowhere. */
export function undidEverything(records: Pick<RollbackRecord, 'action'>[]): boolean {
  return records.length > 0 && records.every(r => r.action !== 'failed')
}
