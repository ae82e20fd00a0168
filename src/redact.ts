// Secret values this run has seen (credentials, Secret data, build secrets, URL passwords). Each is
// masked in the job log with core.setSecret, one value at a time, and replaced in whatever the
// run writes outside the log (job summary, PR comment, outputs): the runner masks only its log.
import * as core from '@actions/core'

export const MASK = '***'

const known = new Set<string>()

/**
 * Pure: whether a value is worth masking. The runner masks any registered string wherever it
 * appears, so a one- or two-character value would blank out ordinary words of every log line.
 */
export function maskable(value: string): boolean {
  return value.trim().length >= 3
}

/** Registers a secret: masked in the log from now on and removed from report text. */
export function registerSecret(value: string | undefined): void {
  if (value === undefined || !maskable(value) || known.has(value)) return
  known.add(value)
  // The runner masks a multi-line value line by line; each line of a secret is secret too.
  for (const line of value.split(/\r?\n/)) if (maskable(line)) core.setSecret(line.trim())
}

/** Pure: text with every given secret (longest first, so no part of one survives) replaced. */
export function redactValues(text: string, secrets: Iterable<string>): string {
  let out = text
  const parts = new Set<string>()
  for (const s of secrets) for (const line of s.split(/\r?\n/)) if (maskable(line)) parts.add(line.trim())
  for (const s of [...parts].sort((a, b) => b.length - a.length)) out = out.split(s).join(MASK)
  return out
}

/** Text with every registered secret replaced by the mask. */
export function redact(text: string): string {
  return known.size ? redactValues(text, known) : text
}

/** Query parameters whose value is a credential by their name (token=, api_key=, sig=, …). */
const CREDENTIAL_PARAM = /token|key|secret|passw(or)?d|pwd|auth|sig(nature)?|credential|session|code/i

/**
 * Pure: the URL without credentials for reports and logs: `user:password@` becomes `***@`, the
 * value of a token-like query parameter becomes ***. Text that is no URL is returned as is.
 */
export function redactUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return text
  }
  const params = [...new Set(url.searchParams.keys())].filter(name => CREDENTIAL_PARAM.test(name))
  if (!url.username && !url.password && !params.length) return text
  if (url.username || url.password) {
    url.username = MASK
    url.password = ''
  }
  for (const name of params) url.searchParams.set(name, MASK)
  // URL would percent-encode the mask; people should read ***.
  return url.href.replace(/%2A%2A%2A/g, MASK)
}

/** The credentials inside a URL (password, token-like query values), for registerSecret. */
export function urlSecrets(text: string): string[] {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return []
  }
  const values = [url.password && decodeURIComponent(url.password)]
  for (const [name, value] of url.searchParams) if (CREDENTIAL_PARAM.test(name)) values.push(value)
  return values.filter((v): v is string => Boolean(v))
}
