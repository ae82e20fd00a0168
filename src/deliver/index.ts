// Deliver: the one stage that changes the cluster, called once by main.ts. `mode: diff` shows
// what a deploy would change and stops (diff.ts). A deploy runs the chart's pre-hooks, then the
// plan deliver chooses for the strategy (strategies/index.ts: rolling, canary or blue-green; a
// canary with nothing to compare with goes out with the rolling plan, and the report says so),
// then the post-hooks. The plan records the facts the run's status is decided from
// (src/status.ts); neither deliver nor the plan decides it.
import * as core from '@actions/core'
import type { Hook, HookEvent } from '../manifests/chart.js'
import { type CanaryBaseline, choosePlan, type PlanChoice, type PlanContext, type PlanFacts, type PlanName } from '../strategies/index.js'
import { showDiff } from './diff.js'

export interface DeliverContext extends PlanContext {
  /** the chart's hooks, when the manifests came from a chart */
  release?: { hooks: Hook[]; upgrade: boolean }
  /** the namespace objects without one go to */
  namespace: string
}

/** What deliver tells the status decision: the new version serves; a failure was undone. */
export type DeliverFacts = PlanFacts

/** Which plan delivered (or failed to): canary's fallback to rolling shows as 'rolling'. */
export type Plan = 'diff' | PlanName

export async function deliver(ctx: DeliverContext, facts: DeliverFacts): Promise<Plan> {
  if (ctx.settings.mode === 'diff') {
    await chartHooks(ctx, 'pre')
    await showDiff(ctx)
    await chartHooks(ctx, 'post')
    return 'diff'
  }
  await chartHooks(ctx, 'pre')
  const { choice, baseline } = await chooseFor(ctx)
  ctx.report.plan = choice.plan
  if (choice.reason) {
    ctx.report.warnings.push(choice.reason)
    core.info(`Strategy ${ctx.settings.strategy}: ${choice.reason}; delivering with the ${choice.plan} plan`)
  }
  await runPlan(choice.plan, ctx, facts, baseline)
  await chartHooks(ctx, 'post')
  return choice.plan
}

/** What the choice needs from the cluster (a canary's baseline), then the pure choice. */
async function chooseFor(ctx: DeliverContext): Promise<{ choice: PlanChoice; baseline?: CanaryBaseline }> {
  const { strategy } = ctx.settings
  if (strategy !== 'canary') return { choice: choosePlan({ strategy }) }
  const baseline = await (await import('../strategies/canary.js')).canaryBaseline(ctx)
  return { choice: choosePlan({ strategy, baseline }), baseline }
}

async function runPlan(plan: PlanName, ctx: DeliverContext, facts: PlanFacts, baseline?: CanaryBaseline): Promise<void> {
  if (plan === 'rolling') return (await import('../strategies/rolling.js')).runRolling(ctx, facts)
  if (plan === 'blue-green') return (await import('../strategies/blue-green.js')).runBlueGreen(ctx, facts)
  return (await import('../strategies/canary.js')).runCanary(ctx, facts, { baseline })
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
