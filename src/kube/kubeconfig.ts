// Finds the KubeConfig to talk to the apiserver with: --kubeconfig, then KUBECONFIG, then in-cluster, then ~/.kube/config.
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import { KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';

/** Where the kubelet mounts a pod's ServiceAccount token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type KubeConfigSource = 'flag' | 'KUBECONFIG' | 'in-cluster' | 'home';

export interface LoadKubeConfigOptions {
  /** The `--kubeconfig` flag: this file and no other, which must exist. */
  readonly kubeconfig?: string | undefined;
  /** The `--context` flag: a context of the loaded files to use instead of their current one. */
  readonly context?: string | undefined;
  /**
   * The environment to read KUBECONFIG, KUBERNETES_SERVICE_HOST/_PORT and HOME from; passed in
   * because configuration is parsed once at start-up and nothing else reads `process.env`.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Tests point this at a directory of their own. */
  readonly serviceAccountDir?: string;
}

export interface LoadedKubeConfig {
  readonly config: KubeConfig;
  readonly source: KubeConfigSource;
  /** The files read; in-cluster, the ServiceAccount token file. */
  readonly files: readonly string[];
  /** The context's namespace or, in-cluster, the pod's own; undefined when neither is known. */
  readonly namespace: string | undefined;
}

export type KubeConfigErrorReason = 'NotFound' | 'Invalid';

export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
  readonly reason: KubeConfigErrorReason;

  constructor(reason: KubeConfigErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

function readFile(file: string): KubeConfig {
  if (!existsSync(file)) throw new KubeConfigError('NotFound', `no kubeconfig at ${file}`);
  const config = new KubeConfig();
  try {
    config.loadFromFile(file);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new KubeConfigError('Invalid', `cannot read kubeconfig ${file}: ${why}`, {
      cause: error,
    });
  }
  return config;
}

/**
 * Merges kubeconfig files as kubectl does: the first file to name a cluster, user or context wins,
 * and so does the first to set current-context. (client-node's own merge lets later files win the
 * current-context and fails on names that repeat.)
 */
export function mergeKubeConfigs(parts: readonly KubeConfig[]): KubeConfig {
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  let currentContext = '';
  for (const part of parts) {
    for (const cluster of part.clusters)
      if (!clusters.has(cluster.name)) clusters.set(cluster.name, cluster);
    for (const user of part.users) if (!users.has(user.name)) users.set(user.name, user);
    for (const context of part.contexts)
      if (!contexts.has(context.name)) contexts.set(context.name, context);
    if (currentContext === '' && part.currentContext) currentContext = part.currentContext;
  }
  const merged = new KubeConfig();
  merged.loadFromOptions({
    clusters: [...clusters.values()],
    users: [...users.values()],
    contexts: [...contexts.values()],
    currentContext,
  });
  return merged;
}

function inCluster(host: string, port: string, dir: string): KubeConfig {
  // The token file is read again as the kubelet rotates it (client-node's tokenFile provider).
  const config = new KubeConfig();
  // Always https, as client-go's InClusterConfig: the service account CA is there to verify it.
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const namespaceFile = join(dir, 'namespace');
  const namespace = existsSync(namespaceFile)
    ? readFileSync(namespaceFile, 'utf8').trim() || undefined
    : undefined;
  config.loadFromOptions({
    clusters: [{ name: 'in-cluster', server, caFile: join(dir, 'ca.crt'), skipTLSVerify: false }],
    users: [
      {
        name: 'in-cluster',
        authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } },
      },
    ],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster', namespace }],
    currentContext: 'in-cluster',
  });
  return config;
}

function finish(
  config: KubeConfig,
  source: KubeConfigSource,
  files: readonly string[],
  context: string | undefined,
): LoadedKubeConfig {
  if (context !== undefined && context !== '') {
    if (!config.getContextObject(context)) {
      throw new KubeConfigError('Invalid', `no context ${context} in ${files.join(', ')}`);
    }
    config.setCurrentContext(context);
  }
  const current = config.getContextObject(config.getCurrentContext());
  if (!current) {
    throw new KubeConfigError(
      'Invalid',
      `${files.join(', ')}: no current context (set current-context or pass --context)`,
    );
  }
  const cluster = config.getCluster(current.cluster);
  if (!cluster?.server) {
    throw new KubeConfigError(
      'Invalid',
      `${files.join(', ')}: context ${current.name} names no cluster with a server`,
    );
  }
  return { config, source, files, namespace: current.namespace || undefined };
}

/**
 * Loads the configuration as controller-runtime's GetConfig does: an explicit `--kubeconfig`; else
 * the files KUBECONFIG lists (missing ones skipped, as kubectl skips them); else the pod's
 * ServiceAccount when running in a cluster; else `$HOME/.kube/config`. Throws a KubeConfigError
 * saying what was tried when none applies.
 */
export function loadKubeConfig(options: LoadKubeConfigOptions): LoadedKubeConfig {
  const { env, context } = options;
  if (options.kubeconfig) {
    return finish(readFile(options.kubeconfig), 'flag', [options.kubeconfig], context);
  }
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((file) => file !== '');
  if (listed.length > 0) {
    const present = listed.filter((file) => existsSync(file));
    if (present.length === 0) {
      throw new KubeConfigError(
        'NotFound',
        `none of the KUBECONFIG files exist: ${listed.join(', ')}`,
      );
    }
    return finish(mergeKubeConfigs(present.map(readFile)), 'KUBECONFIG', present, context);
  }
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const token = join(dir, 'token');
  if (host && port && existsSync(token)) {
    return finish(inCluster(host, port, dir), 'in-cluster', [token], context);
  }
  const home = env.HOME ?? env.USERPROFILE;
  const homeConfig = home ? join(home, '.kube', 'config') : undefined;
  if (homeConfig && existsSync(homeConfig)) {
    return finish(readFile(homeConfig), 'home', [homeConfig], context);
  }
  throw new KubeConfigError(
    'NotFound',
    'no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run in a pod with a ' +
      `ServiceAccount token at ${token}, or create ${homeConfig ?? '~/.kube/config'}`,
  );
}
