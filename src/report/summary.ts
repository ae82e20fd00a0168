// The job summary: written on every run, success or failure. It can never fail the job.
import * as core from '@actions/core'
import { describeError } from '../errors.js'
import { redact } from '../redact.js'

/** Appends the markdown to $GITHUB_STEP_SUMMARY. False (and a warning) when it could not. */
export async function writeSummary(markdown: string, summary: typeof core.summary = core.summary): Promise<boolean> {
  try {
    // the runner masks secrets in its log only; the summary file is uploaded as written
    await summary.addRaw(redact(markdown)).write()
    return true
  } catch (err) {
    core.warning(`job summary not written: ${describeError(err)}`)
    // a failed write keeps the text buffered; drop it so a later write does not repeat it
    summary.emptyBuffer()
    return false
  }
}
