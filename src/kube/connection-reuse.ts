// Makes a KubeConfig reuse one HTTP dispatcher (connection pool) instead of one per request.
//
// client-node 2.x builds a new undici Agent for every API call (applySecurityAuthentication →
// createDispatcher), so every call pays a TCP and TLS handshake and leaves a TLS context behind for
// the garbage collector. Measured with 1,000 OnePasswordItems: that alone cost most of a 40 s sync
// and hundreds of MB of native memory. One pool per (cluster, TLS identity) keeps connections alive.
import type { KubeConfig } from '@kubernetes/client-node';

type CreateDispatcher = (cluster: unknown, agentOptions: Record<string, unknown>) => unknown;

function identityKey(cluster: unknown, agentOptions: Record<string, unknown>): string {
  const server = (cluster as { server?: string } | null)?.server ?? '';
  const part = (value: unknown): string =>
    Buffer.isBuffer(value)
      ? value.toString('base64')
      : typeof value === 'string'
        ? value
        : JSON.stringify(value ?? null);
  return [
    server,
    part(agentOptions.ca),
    part(agentOptions.cert),
    part(agentOptions.key),
    String(agentOptions.rejectUnauthorized),
    part(agentOptions.servername),
  ].join('\u0000');
}

/** Patches `config` in place so API clients made from it share pooled connections; returns it. */
export function reuseConnections(config: KubeConfig): KubeConfig {
  const target = config as unknown as { createDispatcher: CreateDispatcher };
  const original = target.createDispatcher.bind(config);
  const pools = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = identityKey(cluster, agentOptions);
    if (!pools.has(key)) pools.set(key, original(cluster, agentOptions));
    return pools.get(key);
  };
  return config;
}
