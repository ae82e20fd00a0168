// The one line a DeployError shows people, for tests of bad input.
import { DeployError } from '../../src/errors.js'

/** Runs fn and returns the line of the DeployError it throws; anything else fails the test. */
export function errorLine(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof DeployError) return err.line()
    throw err
  }
  throw new Error('expected a DeployError')
}
