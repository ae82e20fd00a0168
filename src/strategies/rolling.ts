// The rolling plan, deliver's default (and a canary's when there is nothing to compare with):
// apply everything (dry run first, capturing what was there into the run's journal), wait for
// every rollout at once, run the health gates, and on any failure undo what the journal says the
// run changed and wait for the restored workloads. Fills the report as it goes and records the
// facts (delivered; rolled back when every change was undone) that src/status.ts decides the
// status from; throws one DeployError when it failed.
import * as core from '@actions/core'
import type { KubeConfig } from '@kubernetes/client-node'
import { DeployError, describeError } from '../errors.js'
import { repository } from '../image/reference.js'
import type { WorkloadResult } from '../report/model.js'
import { probeHealth } from '../health/http.js'
import { type Applied, applyObjects, newJournal, toResourceEntries } from '../kube/apply.js'
import { clientFor } from '../kube/client.js'
import { capturesOf, hasChanges, previousImage, rollbackRun } from '../kube/rollback.js'
import { evaluate, isWorkload } from '../kube/status/rules.js'
import { type WaitOutcome, type WaitTarget, waitForWorkloads } from '../kube/status/watch.js'
import { undidEverything } from '../status.js'
import type { PlanContext, PlanFacts } from './index.js'

/** Pure: how long a rollback may take once the run has failed (the run's deadline may be what failed). */
export function rollbackBudgetMs(timeoutMs: number): number {
  return Math.min(Math.max(timeoutMs / 2, 60_000), 300_000)
}

/** Pure: what to wait for among the applied objects: workloads, and anything not current yet. */
export function waitTargets(applied: Applied[]): WaitTarget[] {
  return applied
    .filter(a => isWorkload(a.object) || evaluate(a.after).state !== 'done')
    .map(a => ({ apiVersion: a.object.apiVersion, kind: a.object.kind, namespace: a.object.metadata.namespace, name: a.object.metadata.name }))
}

export function toWorkloadResult(outcome: WaitOutcome): WorkloadResult {
  return {
    kind: outcome.target.kind,
    namespace: outcome.target.namespace ?? '',
    name: outcome.target.name,
    ok: outcome.verdict.state === 'done',
    message: outcome.verdict.message,
    durationMs: outcome.durationMs
  }
}

/** Waits for CRDs to be Established so the kinds they add resolve (applyObjects' hook). */
export async function waitForCrds(kc: KubeConfig, crds: Applied[], signal?: AbortSignal): Promise<void> {
  const targets = crds.map(a => ({ apiVersion: a.object.apiVersion, kind: a.object.kind, name: a.object.metadata.name }))
  const outcomes = await waitForWorkloads(kc, targets, { signal: signal ?? AbortSignal.timeout(120_000), diagnose: false })
  const bad = outcomes.find(o => o.verdict.state !== 'done')
  if (bad) throw new DeployError(bad.verdict.message, { resource: bad.resource })
}

export async function runRolling(ctx: PlanContext, facts: PlanFacts): Promise<void> {
  const { kc, settings, documents, report, signal } = ctx
  const namespace = settings.namespace || clientFor(kc).contextNamespace
  report.namespace ??= namespace

  const journal = newJournal()
  const image = settings.image ? repository(settings.image) : undefined
  try {
    const applied = await core.group('Apply', async () => {
      try {
        const out = await applyObjects(kc, documents, { namespace, signal, waitForCrd: waitForCrds, journal })
        for (const a of out) core.info(`${a.resource} ${a.change}`)
        return out
      } finally {
        report.previousImage = previousImage(capturesOf(journal), image)
      }
    })
    report.resources = toResourceEntries(applied)

    const outcomes = await core.group('Rollout', () => waitForWorkloads(kc, waitTargets(applied), { signal }))
    report.workloads = outcomes.map(toWorkloadResult)
    report.diagnostics.push(...outcomes.flatMap(o => (o.diagnostic ? [o.diagnostic] : [])))
    const bad = outcomes.filter(o => o.verdict.state !== 'done')
    if (bad.length) {
      const first = bad[0]
      throw new DeployError(`${first.verdict.message}${bad.length > 1 ? ` (and ${bad.length - 1} more failed)` : ''}`, {
        resource: first.resource,
        hint: first.diagnostic?.hint
      })
    }

    if (settings.health.length) {
      report.health = await core.group('Health gates', () => probeHealth(settings.health, { signal }))
      const failed = report.health.find(h => !h.ok)
      if (failed) throw new DeployError(`health check ${failed.url} failed: ${failed.message}`, { hint: 'the rollout finished but the service does not answer as expected' })
    }
    facts.delivered = true
  } catch (err) {
    core.info(`Failed: ${describeError(err)}`) // the ::error:: annotation is main's, once
    if (!journal.entries.some(e => e.written)) core.info('Nothing was changed: the run was refused before its first write')
    else if (settings.rollbackOnFailure && !hasChanges(journal)) core.info('Rollback: nothing to undo (no object had changed)')
    else if (settings.rollbackOnFailure) {
      const undo = async (rbSignal: AbortSignal): Promise<void> => {
        const rb = await rollbackRun(kc, journal, { signal: rbSignal })
        report.rollback = rb.records
        // A rollback deferred past the report (cancel) comes after the status was decided.
        facts.rolledBack = undidEverything(rb.records)
        if (!rb.records.length) core.info('Rollback: nothing to undo (no object had changed)')
        for (const r of rb.records) core.info(`Rollback: ${r.resource} ${r.action}${r.image ? ` to ${r.image}` : ''}${r.message ? ` (${r.message})` : ''}`)
      }
      // Cancelled: the runner kills the job seconds from now; the report goes out before the rollback.
      if (ctx.cancelled?.aborted && ctx.deferRollback) ctx.deferRollback(undo)
      else await core.group('Rollback', () => undo(AbortSignal.timeout(rollbackBudgetMs(settings.timeoutMs))))
    }
    throw err
  }
}
