// strategies/: the plans deliver runs. A plan is one function `(ctx: PlanContext, facts:
// PlanFacts) => Promise<void>` that changes the cluster its own way — rolling.ts (everything at
// once, undone from the journal on failure), canary.ts (a canary beside stable, step by step,
// then promote or abort), blue-green.ts (a second colour, one Service switch, switch back) —
// fills the report and throws one DeployError when it failed. A plan never decides the run's
// status: it records facts (the new version serves; the failure was undone) that deliver hands
// to src/status.ts. Which plan runs is deliver's choice, made here (choosePlan, pure). The
// *-plan.ts files and release-split.ts are the pure halves; canary-metrics.ts the metrics gate.
// This file imports none of the plans, so each of them can import the types below.
import type { KubeConfig } from '@kubernetes/client-node'
import type { Settings, Strategy } from '../inputs.js'
import type { KubeObject, Manifest } from '../manifests/types.js'
import type { DeployReport } from '../report/model.js'
import type { RunFacts } from '../status.js'
import { findTarget } from './canary-plan.js'

export type PlanName = Strategy

/** What every plan works with. */
export interface PlanContext {
  kc: KubeConfig
  settings: Settings
  /** rendered, pinned documents with their file:line */
  documents: Manifest[]
  report: DeployReport
  /** the run's one deadline */
  signal: AbortSignal
  /** aborts when the job is cancelled (part of signal too) */
  cancelled?: AbortSignal
  /** on cancel, hands the rollback to the caller, which reports first and rolls back after (rolling) */
  deferRollback?: (undo: (signal: AbortSignal) => Promise<void>) => void
}

/** What a plan records for the status decision: the new version serves; its failure was undone. */
export type PlanFacts = Pick<RunFacts, 'delivered' | 'rolledBack'>

/** What a canary would compare with, read before the choice (canary.ts canaryBaseline). */
export interface CanaryBaseline {
  /** repo@digest of this run's image */
  image: string
  /** the stable Deployment's namespace and name */
  namespace: string
  name: string
  /** the stable Deployment as the cluster runs it; absent on a first deploy */
  live?: KubeObject
}

export interface PlanChoice {
  plan: PlanName
  /** why the plan is not the strategy's own (a canary with nothing to compare with) */
  reason?: string
}

/**
 * Pure: the plan that delivers the strategy. A canary needs a stable version to compare with:
 * on a first deploy (no stable Deployment) or a re-run of the digest it already runs, the
 * rolling plan delivers instead.
 */
export function choosePlan(input: { strategy: 'rolling' | 'blue-green' } | { strategy: 'canary'; baseline: CanaryBaseline }): PlanChoice {
  if (input.strategy !== 'canary') return { plan: input.strategy }
  const { image, namespace, name, live } = input.baseline
  if (!live) return { plan: 'rolling', reason: `canary skipped: Deployment ${namespace}/${name} is new, deployed directly` }
  if (runsImage(live, image)) return { plan: 'rolling', reason: `canary skipped: Deployment ${namespace}/${name} already runs ${image}` }
  return { plan: 'canary' }
}

function runsImage(deployment: KubeObject, image: string): boolean {
  try {
    findTarget([{ object: deployment, origin: { file: '', line: 0 } }], image, '')
    return true
  } catch {
    return false
  }
}
