// Kubernetes name rules the inputs are checked against before any request.
import { DeployError } from '../errors.js'

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** Throws a DeployError naming `input` unless `name` is a valid namespace (RFC 1123 label). */
export function checkNamespace(name: string, input: string, template?: string): string {
  const from = template && template !== name ? ` (from '${template}')` : ''
  if (name.length > 63) throw new DeployError(`namespace '${name}'${from} is ${name.length} characters; the limit is 63`, { input })
  if (!DNS_LABEL.test(name))
    throw new DeployError(`namespace '${name}'${from} is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit`, {
      input
    })
  return name
}
