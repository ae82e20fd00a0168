// Bounded concurrency: enough requests in flight to hide round trips, few enough that a large
// manifest set does not trip the API server's priority-and-fairness limits.

/**
 * Maps items with at most `limit` calls running; results keep the input order. After the first
 * failure no new call starts, but the ones in flight are awaited before it is rethrown: a caller
 * deciding what to undo must see every write that may have landed.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  let failure: { err: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const i = next++
      try {
        results[i] = await fn(items[i], i)
      } catch (err) {
        failure ??= { err }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  if (failure) throw failure.err
  return results
}

/** The one abortable pause lives with the retry policy, the lowest layer. */
export { pause as sleep } from '../retry.js'
