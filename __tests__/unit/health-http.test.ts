import { describe, expect, it } from '@jest/globals'
import { backoffDelay, statusMatches } from '../../src/health/http.js'

describe('health gate rules', () => {
  it.each<[number | undefined, number, boolean]>([
    [undefined, 200, true],
    [undefined, 204, true],
    [undefined, 301, false],
    [undefined, 503, false],
    [503, 503, true],
    [200, 204, false]
  ])('expected %s, got %d → %s', (expected, got, ok) => expect(statusMatches(expected, got)).toBe(ok))

  it.each([
    [1, 500],
    [2, 1000],
    [3, 2000],
    [4, 4000],
    [5, 5000],
    [9, 5000]
  ])('pause after attempt %d is %dms', (attempt, ms) => expect(backoffDelay(attempt, 500, 5000)).toBe(ms))
})
