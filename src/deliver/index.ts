// Deliver: the one stage that changes the cluster, called once by main.ts. `mode: diff` shows
// what a deploy would change and stops (diff.ts). A deploy runs the chart's pre-hooks, then the
// strategy's plan (rolling: apply everything, wait, health gates, undo on failure; canary and
// blue-green: their steps in strategies/), then the post-hooks. A canary with nothing to compare
// with falls back to the rolling plan here, where the run can see and say so.
// Deliver records the facts the run's status is decided from (src/status.ts); it decides none.
import * as core from '@actions/core'
import type { Hook, HookEvent } from '../manifests/chart.js'
import type { RollingContext } from '../strategies/rolling.js'
import { type RunFacts, undidEverything } from '../status.js'
import { showDiff } from './diff.js'

export interface DeliverContext extends RollingContext {
  /** the chart's hooks, when the manifests came from a chart */
  release?: { hooks: Hook[]; upgrade: boolean }
  /** the namespace objects without one go to */
  namespace: string
}

/** What deliver tells the status decision: the new version serves; a failure was undone. */
export type DeliverFacts = Pick<RunFacts, 'delivered' | 'rolledBack'>

/** Which plan delivered (or failed to): canary's fallback to rolling shows as 'rolling'. */
export type Plan = 'diff' | 'rolling' | 'canary' | 'blue-green'

export async function deliver(ctx: DeliverContext, facts: DeliverFacts): Promise<Plan> {
  if (ctx.settings.mode === 'diff') {
    await chartHooks(ctx, 'pre')
    await showDiff(ctx)
    await chartHooks(ctx, 'post')
    return 'diff'
  }
  await chartHooks(ctx, 'pre')
  const ran: { plan: Plan } = { plan: ctx.settings.strategy }
  try {
    await runPlan(ctx, ran)
  } catch (err) {
    // The rolling plan's failure was undone when every object was restored; canary and
    // blue-green judge their own (blue-green deleting a colour that never took traffic is none).
    facts.rolledBack = ran.plan === 'rolling' ? undidEverything(ctx.report.rollback) : ctx.report.status === 'rolled-back'
    throw err
  }
  facts.delivered = true
  await chartHooks(ctx, 'post')
  return ran.plan
}

/** Runs the strategy's plan; `ran` says which plan ran, also when it throws. */
async function runPlan(ctx: DeliverContext, ran: { plan: Plan }): Promise<void> {
  const { runRolling } = await import('../strategies/rolling.js')
  if (ctx.settings.strategy === 'rolling') return runRolling(ctx)
  if (ctx.settings.strategy === 'blue-green') return (await import('../strategies/blue-green.js')).runBlueGreen(ctx)
  const { runCanaryWith, stageIO } = await import('../strategies/canary.js')
  // A first deploy (no stable version) or a re-run of the running digest has nothing to compare
  // a canary with: the canary hands over to the rolling plan, and the run says so.
  const rolling = async (): Promise<void> => {
    ran.plan = 'rolling'
    core.info(`Strategy canary: ${ctx.report.warnings.at(-1) ?? 'nothing to compare with'}; delivering with the rolling plan`)
    await runRolling(ctx)
  }
  await runCanaryWith(ctx, { ...stageIO(ctx), rolling })
}

/** Chart hooks: pre-* before the release is applied, post-* once it rolled out. */
async function chartHooks(ctx: DeliverContext, when: 'pre' | 'post'): Promise<void> {
  const { release, settings, report } = ctx
  if (!release?.hooks.length) return
  const event: HookEvent = `${when}-${release.upgrade ? 'upgrade' : 'install'}`
  if (settings.mode !== 'deploy') return core.info(`${event} hooks are not run in mode ${settings.mode}`)
  const { runHooks } = await import('../kube/hooks.js')
  await core.group(`Hooks (${event})`, () =>
    runHooks(ctx.kc, release.hooks, event, { namespace: ctx.namespace, signal: ctx.signal, onDiagnostic: d => report.diagnostics.push(d), onRecord: r => report.chart?.hooks.push(r) })
  )
}
