// The kubeconfig's credentials, masked one value at a time. Masking the whole file does not work:
// the runner splits a multi-line secret into lines, so `apiVersion: v1` became a mask everywhere
// while a token was masked only as part of its `token: …` line.
import type { Cluster, KubeConfig, User } from '@kubernetes/client-node'
import { registerSecret, urlSecrets } from '../redact.js'

/** auth-provider config keys that hold credentials (oidc, gcp, azure use these names). */
const PROVIDER_SECRET = /token|secret|password|key/i

/**
 * Pure: every credential value in the users (token, also from token-file; client key, as base64
 * and the key's PEM body; password; exec env values; auth-provider tokens and secrets) and in
 * the clusters' proxy URLs. Client certificates are public and stay visible.
 */
export function kubeconfigSecrets(users: readonly User[], clusters: readonly Cluster[] = []): string[] {
  const values: (string | undefined)[] = []
  for (const u of users) {
    values.push(u.token?.trim(), u.password)
    if (u.keyData) {
      values.push(u.keyData)
      const pem = Buffer.from(u.keyData, 'base64').toString('utf8')
      values.push(...pem.split('\n').filter(l => l && !l.startsWith('-----')))
    }
    const env = (u.exec as { env?: { name?: string; value?: unknown }[] } | null | undefined)?.env
    for (const e of Array.isArray(env) ? env : []) if (typeof e?.value === 'string') values.push(e.value)
    const config = (u.authProvider as { config?: Record<string, unknown> } | null | undefined)?.config
    for (const [key, value] of Object.entries(config ?? {})) if (PROVIDER_SECRET.test(key) && typeof value === 'string') values.push(value)
  }
  for (const c of clusters) if (c.proxyUrl) values.push(...urlSecrets(c.proxyUrl))
  return [...new Set(values.filter((v): v is string => typeof v === 'string' && v.length > 0))]
}

/** Masks the credentials of every user and cluster in the loaded kubeconfig. */
export function maskKubeConfig(kc: KubeConfig): void {
  for (const value of kubeconfigSecrets(kc.getUsers(), kc.getClusters())) registerSecret(value)
}
