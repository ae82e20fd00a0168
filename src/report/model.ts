// The one report every stage fills in. It is rendered once to markdown for the job summary and
// the PR comment, and read for the outputs; no stage formats text for people itself.

export type RunStatus = 'succeeded' | 'failed' | 'rolled-back' | 'diff' | 'cleaned-up' | 'cancelled'

export type Change = 'created' | 'configured' | 'unchanged' | 'deleted'

export interface ResourceEntry {
  kind: string
  namespace?: string
  name: string
  change?: Change
}

export interface WorkloadResult {
  kind: string
  namespace: string
  name: string
  ok: boolean
  message: string
  /** milliseconds from the start of the wait to the verdict */
  durationMs: number
}

export interface Diagnostic {
  resource: string
  reason: string
  message: string
  events: string[]
  logTail: string[]
  hint?: string
}

export interface HealthResult {
  url: string
  ok: boolean
  status?: number
  attempts: number
  message: string
}

export interface CanaryStepRecord {
  weight: number
  startedAt: string
  endedAt?: string
  ok: boolean
  note?: string
}

export interface RollbackRecord {
  resource: string
  action: 'restored' | 'deleted' | 'failed'
  image?: string
  message?: string
}

export interface DeployReport {
  /** decided once, by src/status.ts, at the end of the run; 'failed' until then */
  status: RunStatus
  /** the GitHub Deployment's final state, decided with the status (what the cluster runs) */
  deploymentState?: 'success' | 'failure' | 'inactive'
  /** the one-line reason when status is failed or rolled-back */
  error?: string
  environment: string
  namespace?: string
  url?: string
  mode: 'deploy' | 'diff' | 'cleanup'
  strategy: 'rolling' | 'canary' | 'blue-green'
  /** the plan deliver ran: the strategy's own, or rolling for a canary with nothing to compare with */
  plan?: 'rolling' | 'canary' | 'blue-green'
  image?: {
    ref: string
    digest: string
    tags: string[]
    built: boolean
    /** attestations the build attached (the digest is then an image index), e.g. "provenance (mode=max)" */
    attestations?: string[]
    /** the Cosign key fingerprint this run signed the digest with */
    signedBy?: string
  }
  /** what the digest was verified with before apply (verify input): one line each */
  verified?: string[]
  previousImage?: string
  resources: ResourceEntry[]
  pinned: { resource: string; container: string; from: string; to: string }[]
  workloads: WorkloadResult[]
  diagnostics: Diagnostic[]
  health: HealthResult[]
  canary: { router: string; steps: CanaryStepRecord[]; finalWeight: number; outcome?: 'promoted' | 'aborted' }
  rollback: RollbackRecord[]
  /** blue-green: the Service switched, from which colour to which, and whether it went back */
  blueGreen?: { service: string; from?: string; to: string; switched: boolean; switchedBack?: boolean }
  diff?: string
  /** prune (the prune input): what went (or, in mode diff, would go), what stayed and why */
  prune?: { deleted: string[]; planned: string[]; kept: { resource: string; reason: string }[]; refused?: string }
  /** the Helm chart rendered (chart input), and the hooks it ran */
  chart?: { name: string; version: string; release: string; source: string; values: string[]; hooks: { resource: string; event: string; ok: boolean; deleted: boolean }[] }
  warnings: string[]
  /** commit and run link, filled from the GitHub context */
  commit?: string
  runUrl?: string
  startedAt: string
  endedAt?: string
}

export function newReport(
  init: Pick<DeployReport, 'environment' | 'mode' | 'strategy'> & Partial<DeployReport>
): DeployReport {
  return {
    // A run that never reached a verdict is never succeeded.
    status: 'failed',
    resources: [],
    pinned: [],
    workloads: [],
    diagnostics: [],
    health: [],
    canary: { router: '', steps: [], finalWeight: 0 },
    rollback: [],
    warnings: [],
    startedAt: new Date().toISOString(),
    ...init
  }
}
