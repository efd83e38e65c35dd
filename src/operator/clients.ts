// The operator's clients: the apiserver's, and two for Connect (item reads, and change detection with a short budget).
import { readFileSync } from 'node:fs';
import { getCACertificates } from 'node:tls';
import { ConnectClient, type CallInfo } from '../connect/index.ts';
import { KubeClient } from '../kube/client/client.ts';
import type { PoolReplaced } from '../kube/client/connection-pool.ts';
import { loadKubeConfig } from '../kube/client/kubeconfig.ts';
import { proxyConfigFromEnv } from '../util/proxy-env.ts';
import type { OperatorConfig } from './config.ts';

/** Per attempt of a change-detection poll (which gets one retry). */
const POLL_TIMEOUT_MS = 5000;
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
}

/** Connect over HTTPS with a private CA: SSL_CERT_FILE adds to the CAs Node already trusts. */
function connectCa(caFile: string): string {
  return [...getCACertificates('default'), readFileSync(caFile, 'utf8')].join('\n');
}

export function operatorClients(
  config: OperatorConfig,
  env: NodeJS.ProcessEnv,
  hooks: ClientHooks,
): OperatorClients {
  const loaded = loadKubeConfig({ kubeconfig: config.kubeconfig, env });
  const kube = new KubeClient(loaded, {
    qps: config.kubeApi.qps,
    burst: config.kubeApi.burst,
    userAgent: USER_AGENT,
    onPoolReplaced: hooks.onPoolReplaced,
  });
  const common = {
    host: config.connect.host,
    token: config.connect.token,
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
  return {
    kube,
    kubeconfigNamespace: loaded.namespace,
    connect,
    poll,
    async close() {
      await Promise.all([connect.close(), poll.close()]);
      await kube.close();
    },
  };
}
