// Finds the configuration to talk to the apiserver with: --kubeconfig, then KUBECONFIG, then in-cluster, then ~/.kube/config.
//
// op-kube reads kubeconfig files itself rather than through @kubernetes/client-node's KubeConfig:
// importing that class loads the library's whole generated API (about 80 MB of resident memory
// per process, docs/decisions/008-own-apiserver-client.md), and op-kube needs only what is here.
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { unsupportedProxy } from '../../util/proxy-agent.ts';
import { proxyConfigFromEnv, type ProxyConfig } from '../../util/proxy-env.ts';
import { OpKubeError } from '../errors.ts';

/** Where the kubelet mounts a pod's ServiceAccount token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type KubeConfigSource = 'flag' | 'KUBECONFIG' | 'in-cluster' | 'home';

export interface ClusterConfig {
  readonly name: string;
  readonly server: string;
  /** PEM, from certificate-authority-data. */
  readonly caData?: string;
  /** Absolute path, from certificate-authority. */
  readonly caFile?: string;
  readonly insecureSkipTlsVerify?: boolean;
  readonly tlsServerName?: string;
  /**
   * `proxy-url`: every request to this cluster goes through it, whatever HTTPS_PROXY and
   * NO_PROXY say (client-go's rule); http, https or socks5.
   */
  readonly proxyUrl?: string;
}

/** An exec credential plugin (client.authentication.k8s.io), as EKS, GKE and AKS configure. */
export interface ExecConfig {
  readonly apiVersion: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly installHint?: string;
  readonly provideClusterInfo: boolean;
}

export interface UserConfig {
  readonly name: string;
  readonly token?: string;
  /** Re-read as it rotates (the kubelet rotates projected ServiceAccount tokens). */
  readonly tokenFile?: string;
  readonly clientCertificateData?: string;
  readonly clientCertificateFile?: string;
  readonly clientKeyData?: string;
  readonly clientKeyFile?: string;
  readonly username?: string;
  readonly password?: string;
  readonly exec?: ExecConfig;
}

export interface ContextConfig {
  readonly name: string;
  readonly cluster: string;
  readonly user: string;
  readonly namespace?: string;
}

/** A kubeconfig file, or several merged. */
export interface KubeConfigDocument {
  readonly clusters: readonly ClusterConfig[];
  readonly users: readonly UserConfig[];
  readonly contexts: readonly ContextConfig[];
  readonly currentContext: string;
}

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

/** Everything needed to reach one apiserver as one user. */
export interface KubeConnectionConfig {
  readonly cluster: ClusterConfig;
  readonly user: UserConfig;
  /**
   * HTTPS_PROXY/HTTP_PROXY/NO_PROXY of the environment the configuration was loaded from: the
   * apiserver is reached through the proxy they name for it (Go's rule, as client-go) unless the
   * cluster has a `proxy-url`. Absent: direct.
   */
  readonly proxy?: ProxyConfig;
}

export interface LoadedKubeConfig extends KubeConnectionConfig {
  readonly source: KubeConfigSource;
  readonly context: ContextConfig;
  readonly document: KubeConfigDocument;
  /** The files read; in-cluster, the ServiceAccount token file. */
  readonly files: readonly string[];
  /** The context's namespace or, in-cluster, the pod's own; undefined when neither is known. */
  readonly namespace: string | undefined;
}

export type KubeConfigErrorReason = 'NotFound' | 'Invalid';

export class KubeConfigError extends OpKubeError<KubeConfigErrorReason> {
  override readonly name = 'KubeConfigError';
}

type Fields = Record<string, unknown>;

function record(value: unknown): Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Fields)
    : {};
}

function text(fields: Fields, key: string): string | undefined {
  const value = fields[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function decoded(fields: Fields, key: string): string | undefined {
  const value = text(fields, key);
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

function pathIn(base: string, fields: Fields, key: string): string | undefined {
  const value = text(fields, key);
  return value === undefined || isAbsolute(value) ? value : resolve(base, value);
}

function named<T>(list: unknown, parse: (name: string, fields: Fields) => T): T[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry) => {
    const fields = record(entry);
    const name = text(fields, 'name');
    return name === undefined ? [] : [parse(name, fields)];
  });
}

function parseExec(fields: Fields, where: string): ExecConfig {
  const command = text(fields, 'command');
  if (command === undefined) {
    throw new KubeConfigError('Invalid', `${where}: exec needs a command`);
  }
  const args = Array.isArray(fields.args) ? fields.args.map(String) : [];
  const env = Array.isArray(fields.env)
    ? fields.env.map((entry) => {
        const variable = record(entry);
        return { name: text(variable, 'name') ?? '', value: text(variable, 'value') ?? '' };
      })
    : [];
  return {
    apiVersion: text(fields, 'apiVersion') ?? 'client.authentication.k8s.io/v1',
    command,
    args,
    env,
    installHint: text(fields, 'installHint'),
    provideClusterInfo: fields.provideClusterInfo === true,
  };
}

/** client-go's parseProxyURL: http, https or socks5; the error never quotes the URL (it may hold a password). */
function proxyUrl(cluster: Fields, where: string): string | undefined {
  const value = text(cluster, 'proxy-url');
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new KubeConfigError('Invalid', `${where}: proxy-url is not a URL`);
  }
  const unsupported = unsupportedProxy(url);
  if (unsupported !== undefined) throw new KubeConfigError('Invalid', `${where}: ${unsupported}`);
  return value;
}

/** Parses one kubeconfig document; relative file paths are taken relative to `file`'s directory. */
export function parseKubeConfig(source: string, file: string): KubeConfigDocument {
  let doc: unknown;
  try {
    doc = yaml.load(source);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new KubeConfigError('Invalid', `cannot read kubeconfig ${file}: ${why}`, {
      cause: error,
    });
  }
  const fields = record(doc);
  const base = dirname(file);
  const clusters = named(fields.clusters, (name, entry) => {
    const cluster = record(entry.cluster);
    return {
      name,
      server: text(cluster, 'server') ?? '',
      caData: decoded(cluster, 'certificate-authority-data'),
      caFile: pathIn(base, cluster, 'certificate-authority'),
      insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
      tlsServerName: text(cluster, 'tls-server-name'),
      proxyUrl: proxyUrl(cluster, `${file}: cluster ${name}`),
    };
  });
  const users = named(fields.users, (name, entry): UserConfig => {
    const user = record(entry.user);
    const provider = record(user['auth-provider']);
    if (text(provider, 'name') !== undefined) {
      throw new KubeConfigError(
        'Invalid',
        `${file}: user ${name} uses auth-provider ${text(provider, 'name')}, which Kubernetes ` +
          'removed; configure an exec credential plugin instead (e.g. gke-gcloud-auth-plugin, ' +
          'kubelogin)',
      );
    }
    return {
      name,
      token: text(user, 'token'),
      tokenFile: pathIn(base, user, 'tokenFile'),
      clientCertificateData: decoded(user, 'client-certificate-data'),
      clientCertificateFile: pathIn(base, user, 'client-certificate'),
      clientKeyData: decoded(user, 'client-key-data'),
      clientKeyFile: pathIn(base, user, 'client-key'),
      username: text(user, 'username'),
      password: text(user, 'password'),
      ...(user.exec !== undefined && user.exec !== null
        ? { exec: parseExec(record(user.exec), `${file}: user ${name}`) }
        : {}),
    };
  });
  const contexts = named(fields.contexts, (name, entry) => {
    const context = record(entry.context);
    return {
      name,
      cluster: text(context, 'cluster') ?? '',
      user: text(context, 'user') ?? '',
      namespace: text(context, 'namespace'),
    };
  });
  return { clusters, users, contexts, currentContext: text(fields, 'current-context') ?? '' };
}

function readFile(file: string): KubeConfigDocument {
  if (!existsSync(file)) throw new KubeConfigError('NotFound', `no kubeconfig at ${file}`);
  return parseKubeConfig(readFileSync(file, 'utf8'), resolve(file));
}

/**
 * Merges kubeconfig files as kubectl does: the first file to name a cluster, user or context wins,
 * and so does the first to set current-context.
 */
export function mergeKubeConfigs(parts: readonly KubeConfigDocument[]): KubeConfigDocument {
  const first = <T extends { name: string }>(lists: (part: KubeConfigDocument) => readonly T[]) => {
    const byName = new Map<string, T>();
    for (const part of parts) {
      for (const entry of lists(part)) if (!byName.has(entry.name)) byName.set(entry.name, entry);
    }
    return [...byName.values()];
  };
  return {
    clusters: first((part) => part.clusters),
    users: first((part) => part.users),
    contexts: first((part) => part.contexts),
    currentContext: parts.find((part) => part.currentContext !== '')?.currentContext ?? '',
  };
}

function inCluster(host: string, port: string, dir: string): KubeConfigDocument {
  // Always https, as client-go's InClusterConfig: the service account CA is there to verify it.
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const namespaceFile = join(dir, 'namespace');
  const namespace = existsSync(namespaceFile)
    ? readFileSync(namespaceFile, 'utf8').trim() || undefined
    : undefined;
  return {
    clusters: [{ name: 'in-cluster', server, caFile: join(dir, 'ca.crt') }],
    users: [{ name: 'in-cluster', tokenFile: join(dir, 'token') }],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster', namespace }],
    currentContext: 'in-cluster',
  };
}

function finish(
  document: KubeConfigDocument,
  source: KubeConfigSource,
  files: readonly string[],
  contextName: string | undefined,
  env: LoadKubeConfigOptions['env'],
): LoadedKubeConfig {
  const where = files.join(', ');
  const wanted = contextName !== undefined && contextName !== '' ? contextName : undefined;
  const name = wanted ?? document.currentContext;
  const context = document.contexts.find((entry) => entry.name === name);
  if (!context) {
    throw new KubeConfigError(
      'Invalid',
      wanted !== undefined
        ? `no context ${wanted} in ${where}`
        : `${where}: no current context (set current-context or pass --context)`,
    );
  }
  const cluster = document.clusters.find((entry) => entry.name === context.cluster);
  if (!cluster?.server) {
    throw new KubeConfigError(
      'Invalid',
      `${where}: context ${context.name} names no cluster with a server`,
    );
  }
  // A context may name no user, as kubectl allows: then the requests go unauthenticated.
  const user = document.users.find((entry) => entry.name === context.user) ?? {
    name: context.user,
  };
  return {
    document: { ...document, currentContext: context.name },
    source,
    files,
    context,
    cluster,
    user,
    namespace: context.namespace,
    proxy: proxyConfigFromEnv(env),
  };
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
    return finish(readFile(options.kubeconfig), 'flag', [options.kubeconfig], context, env);
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
    return finish(mergeKubeConfigs(present.map(readFile)), 'KUBECONFIG', present, context, env);
  }
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const token = join(dir, 'token');
  if (host && port && existsSync(token)) {
    return finish(inCluster(host, port, dir), 'in-cluster', [token], context, env);
  }
  const home = env.HOME ?? env.USERPROFILE;
  const homeConfig = home ? join(home, '.kube', 'config') : undefined;
  if (homeConfig && existsSync(homeConfig)) {
    return finish(readFile(homeConfig), 'home', [homeConfig], context, env);
  }
  throw new KubeConfigError(
    'NotFound',
    'no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run in a pod with a ' +
      `ServiceAccount token at ${token}, or create ${homeConfig ?? '~/.kube/config'}`,
  );
}
