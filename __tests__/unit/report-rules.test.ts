import { describe, expect, it } from '@jest/globals'
import { deploymentState } from '../../src/report/deployments.js'
import { apiLine, httpStatus, runUrl } from '../../src/github.js'
import { wantsComment } from '../../src/report/pr-comment.js'
import { newReport, type RunStatus } from '../../src/report/model.js'
import type { CommentMode } from '../../src/inputs.js'

describe('wantsComment', () => {
  it.each<[CommentMode, string, boolean]>([
    ['auto', 'pull_request', true],
    ['auto', 'pull_request_target', true],
    ['auto', 'push', true],
    ['auto', 'workflow_dispatch', false],
    ['auto', 'schedule', false],
    ['always', 'workflow_dispatch', true],
    ['never', 'pull_request', false],
    ['never', 'push', false]
  ])('%s on %s → %s', (mode, event, expected) => {
    expect(wantsComment(mode, event)).toBe(expected)
  })
})

describe('deploymentState', () => {
  it.each<[RunStatus, string]>([
    ['succeeded', 'success'],
    ['failed', 'failure'],
    ['rolled-back', 'failure'],
    ['cleaned-up', 'inactive']
  ])('%s → %s', (status, state) => {
    expect(deploymentState(newReport({ environment: 'e', mode: 'deploy', strategy: 'rolling', status }))).toBe(state)
  })
})

describe('GitHub API errors as one line', () => {
  it.each<[string, unknown, number | undefined, string]>([
    ['Octokit RequestError', Object.assign(new Error('x'), { status: 403, response: { data: { message: 'Resource not accessible by integration' } } }), 403, '403 Resource not accessible by integration'],
    ['no response body', Object.assign(new Error('Not Found'), { status: 404 }), 404, '404 Not Found'],
    ['network', new Error('connect ECONNREFUSED 127.0.0.1:1\n  at x'), undefined, 'connect ECONNREFUSED 127.0.0.1:1 | at x'],
    ['not an error', 'boom', undefined, 'boom']
  ])('%s', (_name, err, status, line) => {
    expect(httpStatus(err)).toBe(status)
    expect(apiLine(err)).toBe(line)
  })
})

describe('runUrl', () => {
  const ctx = { eventName: 'push', sha: 'a', repo: { owner: 'o', repo: 'r' }, payload: {}, serverUrl: 'https://github.com', runId: 9 }
  it.each([
    [undefined, 'https://github.com/o/r/actions/runs/9'],
    [1, 'https://github.com/o/r/actions/runs/9'],
    [2, 'https://github.com/o/r/actions/runs/9/attempts/2']
  ])('attempt %s', (runAttempt, url) => {
    expect(runUrl({ ...ctx, runAttempt })).toBe(url)
  })
})
