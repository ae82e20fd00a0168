// Every failure a person should read ends as one DeployError: one line saying what failed and
// where (input, file:line or resource), with a hint when the cause is likely known.

export interface ErrorPlace {
  /** action.yml input name the bad value came from */
  input?: string
  file?: string
  line?: number
  column?: number
  /** kind/namespace/name */
  resource?: string
  hint?: string
}

export class DeployError extends Error {
  readonly place: ErrorPlace
  constructor(message: string, place: ErrorPlace = {}) {
    super(message)
    this.name = 'DeployError'
    this.place = place
  }

  /** The single line shown to people: where, what, then the hint. */
  line(): string {
    const { input, file, line, column, resource, hint } = this.place
    const where = input
      ? `input '${input}'`
      : file
        ? [file, line, column].filter(v => v !== undefined).join(':')
        : resource
    const text = where ? `${where}: ${this.message}` : this.message
    return oneLine(hint ? `${text} (${hint})` : text)
  }
}

/** Collapses whitespace so multi-line tool output cannot break the one-line rule. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' | ').replace(/\s+/g, ' ').trim()
}

/** The one line for any thrown value; non-DeployErrors keep only their message. */
export function describeError(err: unknown): string {
  if (err instanceof DeployError) return err.line()
  if (err instanceof Error) return oneLine(err.message)
  return oneLine(String(err))
}

/** The job was cancelled (the runner's SIGINT/SIGTERM): the run's signal aborts with this. */
export class CancelledError extends DeployError {}

/** The run's `timeout` passed: the run's signal aborts with this, naming the stage it was in. */
export class DeadlineError extends DeployError {}
