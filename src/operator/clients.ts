// The operator's clients: the apiserver's, and two for items (reads, and change detection with a
// short budget): Connect's, or 1Password's SDK in service-account mode.
import { readFileSync } from 'node:fs';
import { getCACertificates } from 'node:tls';
import { ConnectClient, type CallInfo } from '../connect/index.ts';
import { KubeClient } from '../kube/client/client.ts';
import type { PoolReplaced } from '../kube/client/connection-pool.ts';
import { packageVersion } from '../cli/version.ts';
import { loadKubeConfig } from '../kube/client/kubeconfig.ts';
import { proxyConfigFromEnv } from '../util/proxy-env.ts';
import type { OperatorConfig } from './config.ts';
import type { ItemBackend } from './item-source.ts';
import { loadServiceAccountClient, SdkItemBackend, type SdkCallInfo } from './sdk-items.ts';
import type { TokenClients } from './token-sources.ts';

/** Per attempt of a change-detection poll (which gets one retry). */
const POLL_TIMEOUT_MS = 5000;
/** Per SDK call of a poll (the SDK retries inside; it has no timeout of its own). */
const SDK_POLL_TIMEOUT_MS = 10_000;
const USER_AGENT = 'op-kube-operator';

export interface OperatorClients {
  readonly kube: KubeClient;
  /** The namespace the kubeconfig names (a Lease's home outside a pod). */
  readonly kubeconfigNamespace: string | undefined;
  /** Item reads. */
  readonly connect: ConnectClient;
  /** Change detection. */
  readonly poll: ConnectClient;
  close(): Promise<void>;
}

export interface ClientHooks {
  readonly onPoolReplaced: (event: PoolReplaced) => void;
  readonly onConnectCall: (call: CallInfo) => void;
  readonly onSdkCall: (call: SdkCallInfo) => void;
}

/** Connect over HTTPS with a private CA: SSL_CERT_FILE adds to the CAs Node already trusts. */
function connectCa(caFile: string): string {
  return [...getCACertificates('default'), readFileSync(caFile, 'utf8')].join('\n');
}

export interface ItemClients {
  readonly kube: KubeClient;
  readonly kubeconfigNamespace: string | undefined;
  /** Item reads (undefined with --token-source=namespace: see forToken). */
  readonly items?: ItemBackend;
  /** Change detection (undefined with --token-source=namespace). */
  readonly pollItems?: ItemBackend;
  /** With --token-source=namespace: Connect's clients for one namespace's token. */
  readonly forToken?: (token: string) => TokenClients;
  /** Which backend: for logs. */
  readonly mode: 'connect' | 'service-account';
  close(): Promise<void>;
}

function kubeClient(
  config: OperatorConfig,
  env: NodeJS.ProcessEnv,
  hooks: ClientHooks,
): { kube: KubeClient; kubeconfigNamespace: string | undefined } {
  const loaded = loadKubeConfig({ kubeconfig: config.kubeconfig, env });
  const kube = new KubeClient(loaded, {
    qps: config.kubeApi.qps,
    burst: config.kubeApi.burst,
    userAgent: USER_AGENT,
    onPoolReplaced: hooks.onPoolReplaced,
  });
  return { kube, kubeconfigNamespace: loaded.namespace };
}

/**
 * The clients for the mode the configuration names. Service-account mode imports the SDK (and
 * signs in) here, so Connect mode never loads it.
 */
export async function itemClients(
  config: OperatorConfig,
  env: NodeJS.ProcessEnv,
  hooks: ClientHooks,
): Promise<ItemClients> {
  if (config.tokenSource.mode === 'namespace') {
    const { kube, kubeconfigNamespace } = kubeClient(config, env, hooks);
    return {
      kube,
      kubeconfigNamespace,
      forToken: (token) => {
        const { connect, poll } = connectPair(config, env, hooks, token);
        return {
          items: connect,
          pollItems: poll,
          close: () => Promise.all([connect.close(), poll.close()]).then(() => undefined),
        };
      },
      mode: 'connect',
      close: () => kube.close(),
    };
  }
  if (!config.serviceAccount) {
    const clients = operatorClients(config, env, hooks);
    return {
      kube: clients.kube,
      kubeconfigNamespace: clients.kubeconfigNamespace,
      items: clients.connect,
      pollItems: clients.poll,
      mode: 'connect',
      close: () => clients.close(),
    };
  }
  const { kube, kubeconfigNamespace } = kubeClient(config, env, hooks);
  // The SDK calls the global fetch: HTTPS_PROXY/HTTP_PROXY/NO_PROXY as 1Password's (Go) operator.
  // Loaded here: the whole of undici, which GoProxyDispatcher extends, only in service-account mode.
  const { routeGlobalFetch } = await import('./sdk-proxy.ts');
  routeGlobalFetch(proxyConfigFromEnv(env));
  try {
    const sdk = await loadServiceAccountClient(
      config.serviceAccount.token,
      packageVersion() ?? 'unknown',
    );
    const items = new SdkItemBackend(sdk, { onCall: hooks.onSdkCall });
    return {
      kube,
      kubeconfigNamespace,
      items,
      pollItems: items.withTimeout(SDK_POLL_TIMEOUT_MS),
      mode: 'service-account',
      close: () => kube.close(),
    };
  } catch (error) {
    await kube.close();
    throw error;
  }
}

/** Connect mode's clients. */
export function operatorClients(
  config: OperatorConfig,
  env: NodeJS.ProcessEnv,
  hooks: ClientHooks,
): OperatorClients {
  if (!config.connect) throw new Error('operatorClients: Connect mode needs config.connect');
  const { kube, kubeconfigNamespace } = kubeClient(config, env, hooks);
  const { connect, poll } = connectPair(config, env, hooks, config.connect.token);
  return {
    kube,
    kubeconfigNamespace,
    connect,
    poll,
    async close() {
      await Promise.all([connect.close(), poll.close()]);
      await kube.close();
    },
  };
}

/** Connect's two clients (item reads, change detection) for one token. */
function connectPair(
  config: OperatorConfig,
  env: NodeJS.ProcessEnv,
  hooks: ClientHooks,
  token: string,
): { connect: ConnectClient; poll: ConnectClient } {
  if (!config.connect) throw new Error('connectPair: Connect mode needs config.connect');
  const common = {
    host: config.connect.host,
    token,
    ...(config.connect.caFile ? { ca: connectCa(config.connect.caFile) } : {}),
    onCall: hooks.onConnectCall,
    userAgent: USER_AGENT,
    // HTTP_PROXY/HTTPS_PROXY/NO_PROXY, as 1Password's operator (Go's net/http) honours them.
    proxy: proxyConfigFromEnv(env),
  };
  // Item reads: one retry rides out a blip; the work queue's backoff retries after that, so more
  // retries here only keep a hung Connect hidden behind Synced (10 s per attempt).
  const connect = new ConnectClient({ ...common, retries: 1 });
  // Change detection: a failed poll is repeated within seconds anyway, and a hung Connect must
  // show on the items at once, not after every retry timed out (decision 014).
  const poll = new ConnectClient({ ...common, timeoutMs: POLL_TIMEOUT_MS, retries: 1 });
  return { connect, poll };
}
