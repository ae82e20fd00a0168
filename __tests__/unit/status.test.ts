import { describe, expect, it } from '@jest/globals'
import { decideStatus, type Decision, type RunFacts, undidEverything } from '../../src/status.js'

const base: RunFacts = { mode: 'deploy', completed: false, failed: false, cancelled: false, delivered: false, rolledBack: false }

describe('decideStatus', () => {
  it.each<[string, Partial<RunFacts>, Decision]>([
    ['a good deploy', { completed: true, delivered: true }, { status: 'succeeded', deployment: 'success', jobFails: false }],
    ['push only (nothing to deploy)', { completed: true }, { status: 'succeeded', deployment: 'success', jobFails: false }],
    ['a run that never reached a verdict', {}, { status: 'failed', deployment: 'failure', jobFails: true }],
    ['a failed rollout, not undone', { failed: true }, { status: 'failed', deployment: 'failure', jobFails: true }],
    ['a failed rollout, rolled back', { failed: true, rolledBack: true }, { status: 'rolled-back', deployment: 'failure', jobFails: true }],
    ['write-back failed after a good rollout', { failed: true, delivered: true }, { status: 'failed', deployment: 'success', jobFails: true }],
    ['cancelled mid-rollout', { cancelled: true, failed: true }, { status: 'cancelled', deployment: 'failure', jobFails: true }],
    ['cancelled and rolled back', { cancelled: true, failed: true, rolledBack: true }, { status: 'cancelled', deployment: 'failure', jobFails: true }],
    ['cancelled after delivery, during write-back', { cancelled: true, failed: true, delivered: true }, { status: 'cancelled', deployment: 'success', jobFails: true }],
    ['a cancel signal after the run completed', { cancelled: true, completed: true, delivered: true }, { status: 'succeeded', deployment: 'success', jobFails: false }],
    ['diff', { mode: 'diff', completed: true }, { status: 'diff', deployment: 'success', jobFails: false }],
    ['diff that failed', { mode: 'diff', failed: true }, { status: 'failed', deployment: 'failure', jobFails: true }],
    ['cleanup', { mode: 'cleanup', completed: true }, { status: 'cleaned-up', deployment: 'inactive', jobFails: false }],
    ['cleanup cancelled', { mode: 'cleanup', cancelled: true, failed: true }, { status: 'cancelled', deployment: 'failure', jobFails: true }]
  ])('%s', (_name, facts, want) => expect(decideStatus({ ...base, ...facts })).toEqual(want))
})

describe('undidEverything', () => {
  it.each<[string, { action: 'restored' | 'deleted' | 'failed' }[], boolean]>([
    ['nothing restored', [], false],
    ['every object restored or removed', [{ action: 'restored' }, { action: 'deleted' }], true],
    ['one object could not be restored', [{ action: 'restored' }, { action: 'failed' }], false]
  ])('%s', (_name, records, want) => expect(undidEverything(records)).toBe(want))
})
