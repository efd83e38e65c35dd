// The injector's settings: op-kube's flags plus 1Password's injector arguments, validated once at start-up.
import { ConfigError } from '../cli/errors.ts';
import {
  defineFlag,
  ignoredFlagsGiven,
  readFlags,
  type FlagValues,
  type ParsedFlags,
} from '../cli/flags.ts';
import { OpKubeError } from '../kube/errors.ts';
import {
  DEFAULT_CA_PROPAGATION_MS,
  DEFAULT_CERT_VALIDITY_MS,
  DEFAULT_ROTATE_BEFORE_MS,
  RotationSettingError,
  checkRotationOptions,
  type RotationOptions,
} from './tls/rotation-settings.ts';
import {
  DEFAULT_COPY_CONTAINER_RESOURCES,
  defaultInjectionOptions,
  type InjectionOptions,
} from './mutate.ts';
import { parsePlatform, type Platform } from './registry/manifest.ts';
import {
  ONEPASSWORD_DEFAULT_SERVICE_NAME,
  ONEPASSWORD_WEBHOOK_CONFIG_NAME,
} from './tls/onepassword-spec.ts';

/**
 * The flags 1Password's injector binary defines (its main.go: port, service-name; glog's). Given
 * first with no subcommand, as its Deployments do, they select `op-kube webhook`.
 */
export const ONEPASSWORD_INJECTOR_FLAGS: readonly string[] = [
  'port',
  'service-name',
  'v',
  'logtostderr',
  'alsologtostderr',
  'stderrthreshold',
  'vmodule',
  'log_backtrace_at',
  'log_dir',
  'log_link',
];

export const webhookFlags = {
  port: defineFlag({ name: 'port', kind: 'int', usage: 'HTTPS port', default: 8443 }),
  bindAddress: defineFlag({
    name: 'bind-address',
    kind: 'string',
    usage: 'address to listen on',
    default: '0.0.0.0',
  }),
  serviceName: defineFlag({
    name: 'service-name',
    kind: 'string',
    usage: 'the Service in front of the webhook (names in the serving certificate)',
    default: 'op-kube-webhook',
  }),
  namespace: defineFlag({
    name: 'namespace',
    kind: 'string',
    usage:
      "namespace of the Service, the TLS Secret and the Lease (default: POD_NAMESPACE, or the kubeconfig context's)",
  }),
  webhookConfigName: defineFlag({
    name: 'webhook-config-name',
    kind: 'string',
    usage: 'the MutatingWebhookConfiguration whose caBundle the leader keeps current',
    default: 'op-kube-webhook',
  }),
  connectHost: defineFlag({
    name: 'connect-host',
    kind: 'string',
    usage: 'OP_CONNECT_HOST given to injected containers (default: OP_CONNECT_HOST)',
  }),
  tokenSecretName: defineFlag({
    name: 'token-secret-name',
    kind: 'string',
    usage: "Secret in each pod's namespace that holds the Connect token",
    default: 'onepassword-token',
  }),
  tokenSecretKey: defineFlag({
    name: 'token-secret-key',
    kind: 'string',
    usage: 'key of the token in that Secret',
    default: 'token',
  }),
  injectToken: defineFlag({
    name: 'inject-token',
    kind: 'string',
    usage:
      'auto: give containers without Connect settings OP_CONNECT_HOST and the token Secret; never: leave env alone',
    default: 'auto',
  }),
  tlsMode: defineFlag({
    name: 'tls-mode',
    kind: 'string',
    usage:
      "self-managed: CA and certificate kept in --tls-secret-name; files: --tls-cert-file and --tls-key-file (cert-manager); onepassword: 1Password's injector's (in memory, one replica only). Default: onepassword when every flag given is one of 1Password's injector (-port, -service-name, glog's), else self-managed",
  }),
  tlsCertFile: defineFlag({
    name: 'tls-cert-file',
    kind: 'string',
    usage: 'serving certificate (PEM) with --tls-mode=files; reloaded when it changes',
  }),
  tlsKeyFile: defineFlag({
    name: 'tls-key-file',
    kind: 'string',
    usage: 'its private key (PEM)',
  }),
  tlsSecretName: defineFlag({
    name: 'tls-secret-name',
    kind: 'string',
    usage: 'Secret holding the self-managed CA and serving certificate',
    default: 'op-kube-webhook-tls',
  }),
  leaseName: defineFlag({
    name: 'lease-name',
    kind: 'string',
    usage: 'Lease electing the replica that writes the TLS Secret and the caBundle',
    default: 'op-kube-webhook',
  }),
  certValidity: defineFlag({
    name: 'cert-validity',
    kind: 'duration',
    usage: 'validity of a self-managed serving certificate (its CA lives 5 times as long)',
    default: DEFAULT_CERT_VALIDITY_MS,
  }),
  certRotateBefore: defineFlag({
    name: 'cert-rotate-before',
    kind: 'duration',
    usage: 'replace a self-managed certificate or CA this long before it expires',
    default: DEFAULT_ROTATE_BEFORE_MS,
  }),
  caPropagation: defineFlag({
    name: 'ca-propagation',
    kind: 'duration',
    usage:
      'during a CA rotation, how long the new CA is published before certificates from it are served',
    default: DEFAULT_CA_PROPAGATION_MS,
  }),
  registerUrl: defineFlag({
    name: 'register-url',
    kind: 'string',
    usage:
      'outside a cluster: create a MutatingWebhookConfiguration calling this https URL, removed on exit',
  }),
  failurePolicy: defineFlag({
    name: 'failure-policy',
    kind: 'string',
    usage: 'failurePolicy of the configuration --register-url creates (Fail or Ignore)',
    default: 'Fail',
  }),
  opImage: defineFlag({
    name: 'op-image',
    kind: 'string',
    usage: 'image repository of the op CLI; the tag comes from operator.1password.io/version',
    default: '1password/op',
  }),
  copyRunAsUser: defineFlag({
    name: 'copy-run-as-user',
    kind: 'int',
    usage: 'numeric user the copy-op-bin init container runs as',
    default: 65532,
  }),
  copyCpuRequest: defineFlag({
    name: 'copy-cpu-request',
    kind: 'string',
    usage: 'CPU request of copy-op-bin',
    default: String(DEFAULT_COPY_CONTAINER_RESOURCES.requests?.cpu ?? ''),
  }),
  copyCpuLimit: defineFlag({
    name: 'copy-cpu-limit',
    kind: 'string',
    usage: 'CPU limit of copy-op-bin',
    default: String(DEFAULT_COPY_CONTAINER_RESOURCES.limits?.cpu ?? ''),
  }),
  copyMemory: defineFlag({
    name: 'copy-memory',
    kind: 'string',
    usage:
      'memory request and limit of copy-op-bin (at least 64Mi: the op binary it copies into memory counts against it)',
    default: String(DEFAULT_COPY_CONTAINER_RESOURCES.limits?.memory ?? ''),
  }),
  resolveEntrypoints: defineFlag({
    name: 'resolve-entrypoints',
    kind: 'bool',
    usage:
      "for listed containers without a command, read the image's ENTRYPOINT and CMD from its registry and wrap them (off: such pods are denied, as 1Password's injector cannot wrap them either)",
    default: false,
  }),
  registryTimeout: defineFlag({
    name: 'registry-timeout',
    kind: 'duration',
    usage:
      'with --resolve-entrypoints: longest an admission waits for pull Secrets and registries (keep it well under the webhook timeoutSeconds)',
    default: 2_000,
  }),
  registryPlatform: defineFlag({
    name: 'registry-platform',
    kind: 'string',
    usage:
      "with --resolve-entrypoints: the node platform (os/arch[/variant]) chosen from a multi-platform image when the pod's nodeSelector names no kubernetes.io/os or kubernetes.io/arch",
    default: 'linux/amd64',
  }),
  registryFailure: defineFlag({
    name: 'registry-failure',
    kind: 'string',
    usage:
      'with --resolve-entrypoints, when an image cannot be read: deny the pod (saying why), or admit it unmutated with a warning (its op:// references stay unresolved)',
    default: 'deny',
  }),
  registryPullSecrets: defineFlag({
    name: 'registry-pull-secrets',
    kind: 'bool',
    usage:
      "with --resolve-entrypoints: read the pod's imagePullSecrets (or its ServiceAccount's) for registry credentials; needs get on serviceaccounts and secrets in every injected namespace (off: anonymous access only)",
    default: false,
  }),
  registryInsecure: defineFlag({
    name: 'registry-insecure',
    kind: 'string',
    usage:
      'with --resolve-entrypoints: registries (host[:port], comma-separated) reached over plain http',
    default: '',
  }),
  registryAllowInternal: defineFlag({
    name: 'registry-allow-internal',
    kind: 'string',
    usage:
      'with --resolve-entrypoints: registries (host[:port], comma-separated) that may be on a loopback or link-local address; others (and their redirects) are refused there, as are cloud metadata addresses',
    default: '',
  }),
  registryCaFile: defineFlag({
    name: 'registry-ca-file',
    kind: 'string',
    usage:
      'with --resolve-entrypoints: PEM file of CA certificates trusted for https registries, besides the default ones (read at start)',
  }),
  registryCacheSize: defineFlag({
    name: 'registry-cache-size',
    kind: 'int',
    usage: 'with --resolve-entrypoints: entries kept in each of the tag and digest caches',
    default: 1_000,
  }),
  registryTagTtl: defineFlag({
    name: 'registry-tag-ttl',
    kind: 'duration',
    usage:
      'with --resolve-entrypoints: how long a tag is taken to point at the digest last read for it (0: ask the registry every time)',
    default: 60_000,
  }),
  shutdownDelay: defineFlag({
    name: 'shutdown-delay',
    kind: 'duration',
    usage:
      'on SIGTERM, keep serving (not ready) this long so endpoints drop the pod before it stops',
    default: 5_000,
  }),
  logLevel: defineFlag({
    name: 'log-level',
    kind: 'string',
    usage: 'debug, info, warn or error',
    default: 'info',
  }),
  kubeconfig: defineFlag({
    name: 'kubeconfig',
    kind: 'string',
    usage: 'kubeconfig file when running outside a cluster (default: in-cluster, then KUBECONFIG)',
  }),
  // 1Password's injector (glog) arguments, accepted so its Deployment starts unchanged.
  v: defineFlag({
    name: 'v',
    kind: 'int',
    usage: 'glog verbosity: 4 or more logs at debug',
    default: 0,
  }),
  logtostderr: defineFlag({
    name: 'logtostderr',
    kind: 'bool',
    usage: 'accepted for compatibility; op-kube always logs to stderr',
    default: false,
    ignored: 'op-kube always logs JSON to stdout',
  }),
  alsologtostderr: defineFlag({
    name: 'alsologtostderr',
    kind: 'bool',
    usage: 'accepted for compatibility',
    default: false,
    ignored: 'op-kube always logs JSON to stdout',
  }),
  // The rest of glog's flags (github.com/golang/glog, which 1Password's injector links): Go's flag
  // package would refuse the injector's Deployment if they were unknown, so they are accepted too.
  stderrthreshold: defineFlag({
    name: 'stderrthreshold',
    kind: 'string',
    usage: 'accepted for compatibility',
    ignored: 'op-kube always logs JSON to stdout',
  }),
  vmodule: defineFlag({
    name: 'vmodule',
    kind: 'string',
    usage: 'accepted for compatibility',
    ignored: 'op-kube has no per-file verbosity; use -v or --log-level',
  }),
  logBacktraceAt: defineFlag({
    name: 'log_backtrace_at',
    kind: 'string',
    usage: 'accepted for compatibility',
    ignored: 'op-kube logs an error with its stack',
  }),
  logDir: defineFlag({
    name: 'log_dir',
    kind: 'string',
    usage: 'accepted for compatibility',
    ignored: 'op-kube writes no log files',
  }),
  logLink: defineFlag({
    name: 'log_link',
    kind: 'string',
    usage: 'accepted for compatibility',
    ignored: 'op-kube writes no log files',
  }),
} as const;

/**
 * A setting found unusable only when the webhook starts (certificate files that do not load, no
 * namespace outside a pod). `op-kube webhook` reports it as it reports a flag parsing refused.
 */
export class WebhookSettingError extends OpKubeError<'InvalidSetting'> {
  override readonly name = 'WebhookSettingError';
  /** The flag at fault, `--name`. */
  readonly setting: string;
  /** What is wrong with it, without its name. */
  readonly detail: string;

  constructor(setting: string, detail: string, options?: ErrorOptions) {
    super('InvalidSetting', `${setting}: ${detail}`, options);
    this.setting = setting;
    this.detail = detail;
  }
}

export type WebhookTlsConfig =
  | { readonly mode: 'files'; readonly certFile: string; readonly keyFile: string }
  /** 1Password's injector's TLS (tls/onepassword.ts): in memory, its configuration and RBAC. */
  | { readonly mode: 'onepassword' }
  | {
      readonly mode: 'self-managed';
      readonly secretName: string;
      readonly leaseName: string;
      readonly validityMs: number;
      readonly rotateBeforeMs: number;
      readonly caPropagationMs: number;
    };

/** --resolve-entrypoints and its settings. */
export interface EntrypointConfig {
  readonly timeoutMs: number;
  readonly platform: Platform;
  readonly onFailure: 'deny' | 'admit';
  readonly pullSecrets: boolean;
  readonly insecure: ReadonlySet<string>;
  readonly allowInternal: ReadonlySet<string>;
  /** --registry-ca-file: read when the webhook starts. */
  readonly caFile?: string;
  readonly cacheSize: number;
  readonly tagTtlMs: number;
}

/** The longest --registry-timeout: the apiserver gives a webhook at most 30 s. */
export const MAX_REGISTRY_TIMEOUT_MS = 25_000;

const REGISTRY_FLAGS = [
  'registry-timeout',
  'registry-platform',
  'registry-failure',
  'registry-pull-secrets',
  'registry-insecure',
  'registry-allow-internal',
  'registry-ca-file',
  'registry-cache-size',
  'registry-tag-ttl',
];

function hostList(flag: string, value: string): ReadonlySet<string> {
  const hosts = value
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '');
  for (const host of hosts) {
    if (!/^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/.test(host)) {
      throw new ConfigError(flag, `${JSON.stringify(host)} is not host[:port]`);
    }
  }
  return new Set(hosts);
}

function entrypointConfig(
  flag: FlagValues<typeof webhookFlags>,
  given: ReadonlySet<string>,
): EntrypointConfig | undefined {
  if (!flag.resolveEntrypoints) {
    const stray = REGISTRY_FLAGS.find((name) => given.has(name));
    if (stray) throw new ConfigError(`--${stray}`, 'has no effect without --resolve-entrypoints');
    return undefined;
  }
  const timeoutMs = flag.registryTimeout;
  if (!(timeoutMs >= 100 && timeoutMs <= MAX_REGISTRY_TIMEOUT_MS)) {
    throw new ConfigError(
      '--registry-timeout',
      'must be between 100ms and 25s (the apiserver waits at most 30s for a webhook)',
    );
  }
  const platform = parsePlatform(flag.registryPlatform);
  if (!platform) {
    throw new ConfigError(
      '--registry-platform',
      `${JSON.stringify(flag.registryPlatform)} is not os/arch[/variant], e.g. linux/amd64`,
    );
  }
  if (!(Number.isInteger(flag.registryCacheSize) && flag.registryCacheSize >= 0)) {
    throw new ConfigError('--registry-cache-size', 'must be 0 or more');
  }
  if (flag.registryTagTtl < 0) throw new ConfigError('--registry-tag-ttl', 'must not be negative');
  return {
    timeoutMs,
    platform,
    onFailure: oneOf('--registry-failure', flag.registryFailure, ['deny', 'admit']),
    pullSecrets: flag.registryPullSecrets,
    insecure: hostList('--registry-insecure', flag.registryInsecure),
    allowInternal: hostList('--registry-allow-internal', flag.registryAllowInternal),
    ...(flag.registryCaFile ? { caFile: flag.registryCaFile } : {}),
    cacheSize: flag.registryCacheSize,
    tagTtlMs: flag.registryTagTtl,
  };
}

export type WebhookLogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface WebhookConfig {
  readonly host: string;
  readonly port: number;
  readonly serviceName: string;
  /** Undefined when neither --namespace nor POD_NAMESPACE says; the kubeconfig context may. */
  readonly namespace: string | undefined;
  readonly webhookConfigName: string;
  readonly injection: InjectionOptions;
  /** --resolve-entrypoints: undefined when off (containers without a command are denied). */
  readonly entrypoints?: EntrypointConfig;
  readonly tls: WebhookTlsConfig;
  readonly register?: { readonly url: URL; readonly failurePolicy: 'Fail' | 'Ignore' };
  readonly logLevel: WebhookLogLevel;
  /** How long to keep serving after SIGTERM, reporting not ready. */
  readonly shutdownDelayMs: number;
  readonly kubeconfig?: string;
  /** Arguments given that have no effect here, for one log line each at start-up. */
  readonly ignored: readonly { readonly argument: string; readonly why: string }[];
}

/** The flag behind each rotation setting the check can refuse (the CA validity follows --cert-validity). */
const ROTATION_FLAGS: Partial<Record<keyof RotationOptions, string>> = {
  validityMs: '--cert-validity',
  caValidityMs: '--cert-validity',
  rotateBeforeMs: '--cert-rotate-before',
  caPropagationMs: '--ca-propagation',
};

const QUANTITY = /^(\d+(\.\d+)?|\.\d+)(m|k|Ki|Mi|Gi|M|G)?$/;

const MEMORY_UNITS: Readonly<Record<string, number>> = {
  // Milli-bytes parse as a quantity; without this unit they compared as NaN and passed the floor.
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
};

function quantity(flag: string, value: string): string {
  if (!QUANTITY.test(value)) {
    throw new ConfigError(flag, `invalid quantity ${JSON.stringify(value)}, e.g. 10m, 64Mi`);
  }
  return value;
}

function memoryBytes(value: string): number {
  const match = QUANTITY.exec(value);
  return Number(match?.[1] ?? 0) * (MEMORY_UNITS[match?.[3] ?? ''] ?? Number.NaN);
}

function required(name: string, value: string | undefined, why = ''): string {
  if (value === undefined || value === '') {
    throw new ConfigError(`--${name}`, `is required${why ? ` ${why}` : ''}`);
  }
  return value;
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(
      flag,
      `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

/**
 * The TLS mode when `--tls-mode` is not given: `onepassword` for a command line 1Password's
 * injector binary would run as it is — at least one flag, and every flag given one of its
 * (ONEPASSWORD_INJECTOR_FLAGS: -port, -service-name, glog's) —, so its Deployments with only the
 * image swapped work with its RBAC; `self-managed` as soon as one op-kube flag is given, and with
 * no flag at all.
 */
export function defaultTlsMode(given: ReadonlySet<string>): 'onepassword' | 'self-managed' {
  const names = [...given];
  return names.length > 0 && names.every((name) => ONEPASSWORD_INJECTOR_FLAGS.includes(name))
    ? 'onepassword'
    : 'self-managed';
}

function registerUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError('--register-url', `not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:') {
    throw new ConfigError(
      '--register-url',
      'must be an https URL: the apiserver calls webhooks over TLS only',
    );
  }
  if (url.username || url.password || url.hash || url.search) {
    throw new ConfigError(
      '--register-url',
      'may not carry user info, a query or a fragment (the apiserver refuses them)',
    );
  }
  return url;
}

/**
 * Validates flags, positional arguments (1Password's chart passes a literal `2>&1`) and the
 * environment into the injector's configuration.
 * @throws ConfigError naming the flag at fault (`setting`)
 */
export function parseWebhookConfig(
  flags: ParsedFlags,
  env: NodeJS.ProcessEnv,
  version: string,
): WebhookConfig {
  const flag = readFlags(flags, webhookFlags);
  const { port } = flag;
  if (!(port >= 1 && port <= 65_535)) throw new ConfigError('--port', 'must be 1–65535');
  const ignored: { argument: string; why: string }[] = ignoredFlagsGiven(
    flags,
    Object.values(webhookFlags),
  ).map(({ name, why }) => ({ argument: `-${name}`, why }));
  if (flags.rest.length > 0) {
    ignored.push({
      argument: flags.rest.join(' '),
      why: 'arguments after the flags are ignored (1Password\'s chart passes a shell redirection, "2>&1")',
    });
  }

  const injectToken = oneOf('--inject-token', flag.injectToken, ['auto', 'never']);
  const memory = quantity('--copy-memory', flag.copyMemory);
  if (memoryBytes(memory) < 64 * 1024 ** 2) {
    throw new ConfigError(
      '--copy-memory',
      'must be at least 64Mi: copy-op-bin writes the op binary into a memory volume charged to it',
    );
  }
  const runAsUser = flag.copyRunAsUser;
  if (!Number.isInteger(runAsUser) || runAsUser < 1) {
    throw new ConfigError('--copy-run-as-user', 'must be a numeric user id above 0 (non-root)');
  }
  const connectHost = flag.connectHost ?? env.OP_CONNECT_HOST;
  if (connectHost !== undefined && connectHost !== '') {
    let protocol = '';
    try {
      protocol = new URL(connectHost).protocol;
    } catch {
      // reported below
    }
    if (protocol !== 'http:' && protocol !== 'https:') {
      throw new ConfigError(
        '--connect-host',
        `not an http(s) URL: ${JSON.stringify(connectHost)} (e.g. http://onepassword-connect:8080)`,
      );
    }
  }
  const defaults = defaultInjectionOptions(version);
  const injection: InjectionOptions = {
    ...defaults,
    opImage: required('op-image', flag.opImage),
    connectHost: connectHost === '' ? undefined : connectHost,
    injectToken,
    tokenSecretName: required('token-secret-name', flag.tokenSecretName),
    tokenSecretKey: required('token-secret-key', flag.tokenSecretKey),
    copyContainer: {
      runAsUser,
      resources: {
        requests: {
          cpu: quantity('--copy-cpu-request', flag.copyCpuRequest),
          memory,
        },
        limits: {
          cpu: quantity('--copy-cpu-limit', flag.copyCpuLimit),
          memory,
        },
      },
    },
  };

  const mode = oneOf('--tls-mode', flag.tlsMode ?? defaultTlsMode(flags.given), [
    'self-managed',
    'files',
    'onepassword',
  ]);
  let tls: WebhookTlsConfig;
  if (mode === 'onepassword') {
    tls = { mode };
  } else if (mode === 'files') {
    tls = {
      mode,
      certFile: required('tls-cert-file', flag.tlsCertFile, 'with --tls-mode=files'),
      keyFile: required('tls-key-file', flag.tlsKeyFile, 'with --tls-mode=files'),
    };
  } else {
    tls = {
      mode,
      secretName: required('tls-secret-name', flag.tlsSecretName),
      leaseName: required('lease-name', flag.leaseName),
      validityMs: flag.certValidity,
      rotateBeforeMs: flag.certRotateBefore,
      caPropagationMs: flag.caPropagation,
    };
    try {
      checkRotationOptions({
        now: new Date(),
        serviceNames: ['check'],
        validityMs: tls.validityMs,
        rotateBeforeMs: tls.rotateBeforeMs,
        caPropagationMs: tls.caPropagationMs,
      });
    } catch (error) {
      const setting = error instanceof RotationSettingError && ROTATION_FLAGS[error.setting];
      if (!setting) throw error;
      throw new ConfigError(setting, error.message);
    }
  }

  const url = flag.registerUrl;
  if (url !== undefined && url !== '' && tls.mode !== 'self-managed') {
    throw new ConfigError(
      '--register-url',
      'needs --tls-mode=self-managed: the configuration it creates must carry the CA that signed the certificate',
    );
  }
  const logLevel =
    flags.given.has('v') && flag.v >= 4
      ? 'debug'
      : oneOf('--log-level', flag.logLevel, ['debug', 'info', 'warn', 'error']);
  const namespace = flag.namespace ?? env.POD_NAMESPACE;
  const { kubeconfig } = flag;
  const entrypoints = entrypointConfig(flag, flags.given);
  return {
    host: flag.bindAddress,
    port,
    // 1Password mode: 1Password's defaults for what its flags leave unsaid.
    serviceName: required(
      'service-name',
      mode === 'onepassword' && !flags.given.has('service-name')
        ? ONEPASSWORD_DEFAULT_SERVICE_NAME
        : flag.serviceName,
    ),
    namespace: namespace === '' ? undefined : namespace,
    webhookConfigName: required(
      'webhook-config-name',
      mode === 'onepassword' && !flags.given.has('webhook-config-name')
        ? ONEPASSWORD_WEBHOOK_CONFIG_NAME
        : flag.webhookConfigName,
    ),
    injection,
    ...(entrypoints ? { entrypoints } : {}),
    tls,
    ...(url !== undefined && url !== ''
      ? {
          register: {
            url: registerUrl(url),
            failurePolicy: oneOf('--failure-policy', flag.failurePolicy, ['Fail', 'Ignore']),
          },
        }
      : {}),
    logLevel,
    shutdownDelayMs: Math.max(0, flag.shutdownDelay),
    ...(kubeconfig ? { kubeconfig } : {}),
    ignored,
  };
}
