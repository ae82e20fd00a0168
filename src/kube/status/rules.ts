// Pure rollout rules: is this object done, still progressing, or failed? Deployment, DaemonSet
// and StatefulSet follow kubectl's status viewers (pkg/polymorphichelpers/rollout_status.go) so a
// verdict here matches `kubectl rollout status`; other kinds follow kstatus (cli-utils), except
// Jobs, which we wait to complete (kstatus calls a running Job current).
//
// Decisions where kubectl and kstatus differ:
// - OnDelete StatefulSets/DaemonSets: kubectl errors, kstatus says current. Nothing rolls until
//   pods are deleted by hand, so there is nothing to wait for: done, with a message saying so.
// - A paused Deployment with a pending change never progresses and never hits its deadline
//   (kubectl hangs until its timeout): failed at once, naming spec.paused.
import type { KubeObject } from '../../manifests/types.js'
import { podProblem } from '../diagnose.js'

export type State = 'done' | 'waiting' | 'failed'

export interface Verdict {
  state: State
  message: string
  /** machine-readable cause of a failure, e.g. ProgressDeadlineExceeded */
  reason?: string
}

interface Condition {
  type: string
  status: string
  reason?: string
  message?: string
}

type Obj = KubeObject & { spec?: Record<string, any>; status?: Record<string, any> }

const done = (message: string): Verdict => ({ state: 'done', message })
const waiting = (message: string): Verdict => ({ state: 'waiting', message })
const failed = (message: string, reason?: string): Verdict => ({ state: 'failed', message, reason })

/** Status integers are omitted when 0. */
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) || 0 : 0)

function conditions(o: Obj): Condition[] {
  return Array.isArray(o.status?.conditions) ? o.status!.conditions : []
}

function condition(o: Obj, type: string): Condition | undefined {
  return conditions(o).find(c => c.type === type)
}

function group(o: KubeObject): string {
  return o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : ''
}

/** Kinds whose verdict needs waiting for; everything else is current once applied. */
export function isWorkload(o: Pick<KubeObject, 'apiVersion' | 'kind'>): boolean {
  const g = group(o as KubeObject)
  return (g === 'apps' && ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind)) || (g === 'batch' && o.kind === 'Job')
}

export function evaluate(obj: KubeObject): Verdict {
  const o = obj as Obj
  const g = group(o)
  if (g === 'apps' || g === 'extensions') {
    if (o.kind === 'Deployment') return deployment(o)
    if (o.kind === 'DaemonSet') return daemonSet(o)
    if (o.kind === 'StatefulSet') return statefulSet(o)
    if (o.kind === 'ReplicaSet') return generic(o, replicaSet)
  }
  if (g === 'batch' && o.kind === 'Job') return job(o)
  if (g === '' && o.kind === 'Pod') return generic(o, pod)
  if (g === '' && o.kind === 'PersistentVolumeClaim') return generic(o, pvc)
  if (g === '' && o.kind === 'Service') return generic(o, service)
  if (g === 'apiextensions.k8s.io' && o.kind === 'CustomResourceDefinition') return generic(o, crd)
  return generic(o)
}

function deployment(o: Obj): Verdict {
  const name = o.metadata.name
  if (num(o.metadata.generation) > num(o.status?.observedGeneration)) return waiting('Waiting for deployment spec update to be observed...')
  const progressing = condition(o, 'Progressing')
  // kubectl looks at the reason only, whatever the status.
  if (progressing?.reason === 'ProgressDeadlineExceeded') return failed(`deployment "${name}" exceeded its progress deadline`, 'ProgressDeadlineExceeded')
  const specReplicas = o.spec?.replicas
  const updated = num(o.status?.updatedReplicas)
  const replicas = num(o.status?.replicas)
  const available = num(o.status?.availableReplicas)
  let pending: string | undefined
  if (specReplicas !== undefined && updated < num(specReplicas)) pending = `${updated} out of ${num(specReplicas)} new replicas have been updated...`
  else if (replicas > updated) pending = `${replicas - updated} old replicas are pending termination...`
  else if (available < updated) pending = `${available} of ${updated} updated replicas are available...`
  if (!pending) return done(`deployment "${name}" successfully rolled out`)
  if (o.spec?.paused === true) return failed(`deployment "${name}" is paused (spec.paused) with a rollout pending: ${pending}`, 'DeploymentPaused')
  return waiting(`Waiting for deployment "${name}" rollout to finish: ${pending}`)
}

function daemonSet(o: Obj): Verdict {
  const name = o.metadata.name
  if ((o.spec?.updateStrategy?.type ?? 'RollingUpdate') !== 'RollingUpdate')
    return done(`daemon set "${name}" uses updateStrategy ${o.spec?.updateStrategy?.type}: pods change only when deleted, not waited for`)
  if (num(o.metadata.generation) > num(o.status?.observedGeneration)) return waiting('Waiting for daemon set spec update to be observed...')
  const desired = num(o.status?.desiredNumberScheduled)
  const updated = num(o.status?.updatedNumberScheduled)
  const available = num(o.status?.numberAvailable)
  if (updated < desired) return waiting(`Waiting for daemon set "${name}" rollout to finish: ${updated} out of ${desired} new pods have been updated...`)
  if (available < desired) return waiting(`Waiting for daemon set "${name}" rollout to finish: ${available} of ${desired} updated pods are available...`)
  return done(`daemon set "${name}" successfully rolled out`)
}

function statefulSet(o: Obj): Verdict {
  const name = o.metadata.name
  const strategy = o.spec?.updateStrategy
  if ((strategy?.type ?? 'RollingUpdate') !== 'RollingUpdate')
    return done(`statefulset "${name}" uses updateStrategy ${strategy?.type}: pods change only when deleted, not waited for`)
  const observed = num(o.status?.observedGeneration)
  if (observed === 0 || num(o.metadata.generation) > observed) return waiting('Waiting for statefulset spec update to be observed...')
  const specReplicas = o.spec?.replicas
  const ready = num(o.status?.readyReplicas)
  const updated = num(o.status?.updatedReplicas)
  if (specReplicas !== undefined && ready < num(specReplicas)) return waiting(`Waiting for ${num(specReplicas) - ready} pods to be ready...`)
  // apps/v1 defaulting adds rollingUpdate only when the type was omitted; an explicit
  // `type: RollingUpdate` without it takes the revision branch below, as in kubectl.
  if (strategy?.rollingUpdate && typeof strategy.rollingUpdate === 'object') {
    const partition = strategy.rollingUpdate.partition
    if (specReplicas !== undefined && partition !== undefined && updated < num(specReplicas) - num(partition))
      return waiting(
        `Waiting for partitioned roll out to finish: ${updated} out of ${num(specReplicas) - num(partition)} new pods have been updated...`
      )
    return done(`partitioned roll out complete: ${updated} new pods have been updated...`)
  }
  if (o.status?.updateRevision !== o.status?.currentRevision)
    return waiting(`waiting for statefulset rolling update to complete ${updated} pods at revision ${o.status?.updateRevision}...`)
  return done(`statefulset rolling update complete ${num(o.status?.currentReplicas)} pods at revision ${o.status?.currentRevision}...`)
}

function job(o: Obj): Verdict {
  const name = o.metadata.name
  const complete = condition(o, 'Complete')
  if (complete?.status === 'True') return done(`job "${name}" completed`)
  const fail = condition(o, 'Failed')
  if (fail?.status === 'True') return failed(`job "${name}" failed: ${fail.reason ?? ''}${fail.message ? ` (${fail.message})` : ''}`.trim(), fail.reason ?? 'JobFailed')
  if (o.spec?.suspend === true) return done(`job "${name}" is suspended`)
  const completions = o.spec?.completions ?? 1
  return waiting(
    `Waiting for job "${name}" to complete: ${num(o.status?.succeeded)} of ${completions} succeeded, ${num(o.status?.active)} active, ${num(o.status?.failed)} failed...`
  )
}

function replicaSet(o: Obj): Verdict | undefined {
  if (condition(o, 'ReplicaFailure')?.status === 'True') return waiting(`replica failure: ${condition(o, 'ReplicaFailure')?.message ?? ''}`)
  const spec = o.spec?.replicas ?? 1
  for (const field of ['fullyLabeledReplicas', 'availableReplicas', 'readyReplicas'])
    if (num(o.status?.[field]) < spec) return waiting(`${field}: ${num(o.status?.[field])} of ${spec}`)
  if (num(o.status?.replicas) > spec) return waiting(`${num(o.status?.replicas) - spec} extra pods`)
  return done('replica set is available')
}

function pod(o: Obj): Verdict | undefined {
  const phase = o.status?.phase
  if (phase === 'Succeeded' || phase === 'Failed') return done(`pod phase ${phase}`)
  // Container states that end a rollout end a bare pod's wait too (the same rules, diagnose.ts);
  // scheduling needs the rollout's progress, which the pod watch judges (fastfail.ts).
  // One that can clear by itself must last first, which the pod watch times (observe.PodBook).
  const problem = podProblem(o)
  if (problem && !problem.settleMs) return failed(`${problem.reason}: ${problem.message}`, problem.reason)
  if (problem) return waiting(`pod is waiting: ${problem.reason}: ${problem.message}`)
  if (phase === 'Running') return condition(o, 'Ready')?.status === 'True' ? done('pod is ready') : waiting('pod is running but not ready')
  if (phase === 'Pending') {
    const scheduled = condition(o, 'PodScheduled')
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') return waiting(`pod is unschedulable: ${scheduled.message ?? ''}`.trim())
    return waiting('pod is pending')
  }
  return waiting('pod has no phase yet')
}

function pvc(o: Obj): Verdict {
  return o.status?.phase === 'Bound' ? done('claim is bound') : waiting(`claim is ${o.status?.phase ?? 'not bound yet'}`)
}

function service(o: Obj): Verdict {
  if (o.spec?.type === 'LoadBalancer' && !o.spec?.clusterIP) return waiting('waiting for a cluster IP')
  return done('service is current')
}

function crd(o: Obj): Verdict | undefined {
  const names = condition(o, 'NamesAccepted')
  if (names?.status === 'False') return failed(`names not accepted: ${names.message ?? names.reason ?? ''}`, 'NamesNotAccepted')
  const est = condition(o, 'Established')
  if (est?.status === 'True') return done('established')
  if (est?.status === 'False' && est.reason !== 'Installing') return failed(`not established: ${est.message ?? est.reason ?? ''}`, est.reason)
  return waiting('waiting to be established')
}

/** kstatus Compute: terminating, observed generation, Reconciling/Stalled, kind rule, Ready, current. */
function generic(o: Obj, rule?: (o: Obj) => Verdict | undefined): Verdict {
  if (o.metadata.deletionTimestamp) return waiting('is being deleted')
  const generation = o.metadata.generation
  const observed = o.status?.observedGeneration
  if (generation !== undefined && observed !== undefined && num(generation) !== num(observed))
    return waiting(`observed generation ${num(observed)} is behind generation ${num(generation)}`)
  for (const c of conditions(o)) {
    if (c.type === 'Reconciling' && c.status === 'True') return waiting(`reconciling: ${c.message ?? c.reason ?? ''}`.trim())
    if (c.type === 'Stalled' && c.status === 'True') return failed(`stalled: ${c.message ?? c.reason ?? ''}`.trim(), c.reason ?? 'Stalled')
  }
  const specific = rule?.(o)
  if (specific) return specific
  const ready = condition(o, 'Ready')
  if (ready) return ready.status === 'True' ? done('ready') : waiting(`not ready: ${ready.message ?? ready.reason ?? ready.status}`)
  return done('current')
}
