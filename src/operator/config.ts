// The operator's settings: 1Password's environment variables and flags, validated once at start-up.
import { ConfigError } from '../cli/errors.ts';
import { defineFlag, ignoredFlagsGiven, readFlags, type ParsedFlags } from '../cli/flags.ts';
import { parseGoAtoi, parseGoBool, parseGoInt } from '../cli/go-values.ts';
import { DEFAULT_KUBE_API_BURST, DEFAULT_KUBE_API_QPS } from '../kube/client/limits.ts';
import { VAULT_POLICIES, type VaultPolicy } from './vault-policy-names.ts';

const ZAP_LEVELS = ['debug', 'info', 'error', 'panic', 'warn', 'dpanic', 'fatal'] as const;

/** Every flag 1Password's operator Deployment may pass, plus op-kube's own. */
export const operatorFlags = {
  metricsBindAddress: defineFlag({
    name: 'metrics-bind-address',
    kind: 'string',
    usage: 'address for /metrics ("0" turns it off)',
    default: ':8080',
  }),
  healthProbeBindAddress: defineFlag({
    name: 'health-probe-bind-address',
    kind: 'string',
    usage: 'address for /healthz and /readyz',
    default: ':8081',
  }),
  leaderElect: defineFlag({
    name: 'leader-elect',
    kind: 'bool',
    usage: 'elect a leader so only one replica writes (Lease c26807fd.onepassword.com)',
    default: false,
  }),
  leaderElectionNamespace: defineFlag({
    name: 'leader-election-namespace',
    kind: 'string',
    usage: 'namespace of the Lease when running outside a cluster (default: the pod namespace)',
  }),
  metricsSecure: defineFlag({
    name: 'metrics-secure',
    kind: 'bool',
    usage:
      "serve /metrics over HTTPS (--metrics-cert-path's certificate, else a self-signed one) to callers whose token the apiserver allows get /metrics; --metrics-secure=false: plain HTTP to anyone",
    default: true,
  }),
  metricsCertPath: defineFlag({
    name: 'metrics-cert-path',
    kind: 'string',
    usage: 'directory holding the metrics serving certificate',
  }),
  metricsCertName: defineFlag({
    name: 'metrics-cert-name',
    kind: 'string',
    usage: 'certificate file name in --metrics-cert-path',
    default: 'tls.crt',
  }),
  metricsCertKey: defineFlag({
    name: 'metrics-cert-key',
    kind: 'string',
    usage: 'key file name in --metrics-cert-path',
    default: 'tls.key',
  }),
  enableHttp2: defineFlag({
    name: 'enable-http2',
    kind: 'bool',
    usage: 'accepted for compatibility; op-kube serves HTTP/1.1',
    default: false,
    ignored: 'op-kube serves metrics and probes over HTTP/1.1 only',
  }),
  enableAnnotations: defineFlag({
    name: 'enable-annotations',
    kind: 'bool',
    usage: "copy the OnePasswordItem's annotations onto its Secret",
    default: false,
  }),
  allowEmptyValues: defineFlag({
    name: 'allow-empty-values',
    kind: 'bool',
    usage: 'keep fields whose value is empty',
    default: false,
  }),
  zapLogLevel: defineFlag({
    name: 'zap-log-level',
    kind: 'string',
    usage: 'debug, info or error (or a number: 1 info, 2+ debug)',
    default: 'info',
  }),
  zapDevel: defineFlag({
    name: 'zap-devel',
    kind: 'bool',
    usage: 'development logging: debug level',
    default: false,
  }),
  zapEncoder: defineFlag({
    name: 'zap-encoder',
    kind: 'string',
    usage: 'json or console',
    default: 'json',
  }),
  zapStacktraceLevel: defineFlag({
    name: 'zap-stacktrace-level',
    kind: 'string',
    usage: 'accepted for compatibility',
    ignored: 'op-kube logs an error with its stack whatever the level',
  }),
  zapTimeEncoding: defineFlag({
    name: 'zap-time-encoding',
    kind: 'string',
    usage: 'accepted for compatibility',
    ignored: 'op-kube logs the time as milliseconds since the epoch',
  }),
  kubeconfig: defineFlag({
    name: 'kubeconfig',
    kind: 'string',
    usage: 'kubeconfig file when running outside a cluster (default: in-cluster, then KUBECONFIG)',
  }),
  maxConcurrentReconciles: defineFlag({
    name: 'max-concurrent-reconciles',
    kind: 'int',
    usage: 'OnePasswordItems reconciled at once',
    default: 4,
  }),
  kubeApiQps: defineFlag({
    name: 'kube-api-qps',
    kind: 'string',
    usage: 'requests per second to the apiserver, watches aside (0: no client-side limit)',
    default: String(DEFAULT_KUBE_API_QPS),
  }),
  kubeApiBurst: defineFlag({
    name: 'kube-api-burst',
    kind: 'int',
    usage: 'requests to the apiserver allowed at once above --kube-api-qps',
    default: DEFAULT_KUBE_API_BURST,
  }),
  fullCheckEvery: defineFlag({
    name: 'full-check-every',
    kind: 'int',
    usage: "every Nth poll also compares every watched item's version (safety net)",
    default: 10,
  }),
  vaultPolicy: defineFlag({
    name: 'vault-policy',
    kind: 'string',
    usage:
      'vaults of a namespace without the op-kube.io/allowed-vaults annotation: allow-unlisted (every vault the token reaches) or deny-unlisted (none)',
    default: 'allow-unlisted',
  }),
  tokenSource: defineFlag({
    name: 'token-source',
    kind: 'string',
    usage:
      "where the Connect token comes from: env (OP_CONNECT_TOKEN, one for every namespace) or namespace (the Secret --token-secret-name in each item's own namespace)",
    default: 'env',
  }),
  tokenSecretName: defineFlag({
    name: 'token-secret-name',
    kind: 'string',
    usage:
      'with --token-source=namespace: the Secret in each namespace that holds its Connect token',
    default: 'onepassword-token',
  }),
  tokenSecretKey: defineFlag({
    name: 'token-secret-key',
    kind: 'string',
    usage: 'with --token-source=namespace: the key of the token in that Secret',
    default: 'token',
  }),
  tokenDistributionSelector: defineFlag({
    name: 'token-distribution-selector',
    kind: 'string',
    usage:
      'label selector of namespaces that get a copy of --token-distribution-source as --token-secret-name/--token-secret-key (empty: no copies)',
    default: '',
  }),
  tokenDistributionSource: defineFlag({
    name: 'token-distribution-source',
    kind: 'string',
    usage: "namespace/name of the token Secret copied (the operator's own namespace)",
  }),
  tokenDistributionSourceKey: defineFlag({
    name: 'token-distribution-source-key',
    kind: 'string',
    usage: 'key of the token in --token-distribution-source',
    default: 'token',
  }),
} as const;

/**
 * The flags 1Password's operator binary (`/manager`) defines: its own, controller-runtime's zap
 * options and `kubeconfig`. Given first with no subcommand they select `op-kube operator`.
 */
export const ONEPASSWORD_OPERATOR_FLAGS: readonly string[] = [
  'metrics-bind-address',
  'health-probe-bind-address',
  'leader-elect',
  'metrics-secure',
  'metrics-cert-path',
  'metrics-cert-name',
  'metrics-cert-key',
  'enable-http2',
  'enable-annotations',
  'allow-empty-values',
  'zap-devel',
  'zap-encoder',
  'zap-log-level',
  'zap-stacktrace-level',
  'zap-time-encoding',
  'kubeconfig',
];

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface OperatorConfig {
  /** Connect mode (OP_CONNECT_HOST, OP_CONNECT_TOKEN); exactly one of `connect` and `serviceAccount` is set. */
  readonly connect?: { readonly host: string; readonly token: string; readonly caFile?: string };
  /** Service-account mode (OP_SERVICE_ACCOUNT_TOKEN): items through 1Password's SDK, no Connect. */
  readonly serviceAccount?: { readonly token: string };
  /** Namespaces to watch; empty means all. */
  readonly watchNamespaces: readonly string[];
  readonly pollingIntervalMs: number;
  readonly autoRestart: boolean;
  readonly metrics: {
    readonly address?: { host: string; port: number };
    /**
     * HTTPS, and callers reviewed by the apiserver (TokenReview, SubjectAccessReview `get` on the
     * path), as 1Password's operator (controller-runtime's secure serving) by default.
     */
    readonly secure: boolean;
    /** With `secure`, the certificate files; else a self-signed certificate made at start. */
    readonly tls?: { certFile: string; keyFile: string };
  };
  readonly probeAddress?: { host: string; port: number };
  readonly leaderElection: { readonly enabled: boolean; readonly namespace?: string };
  readonly enableAnnotations: boolean;
  readonly allowEmptyValues: boolean;
  readonly log: { readonly level: LogLevel; readonly pretty: boolean };
  readonly kubeconfig?: string;
  readonly concurrency: number;
  /** Client-side apiserver request limits (client-go's --kube-api-qps/--kube-api-burst). */
  readonly kubeApi: { readonly qps: number; readonly burst: number };
  readonly fullCheckEvery: number;
  /** What a namespace without the op-kube.io/allowed-vaults annotation may read. */
  readonly vaultPolicy: VaultPolicy;
  /**
   * Where the Connect token comes from: `env` (OP_CONNECT_TOKEN, as 1Password's operator), or
   * `namespace` (a Secret in each namespace; decision 023).
   */
  readonly tokenSource: TokenSourceConfig;
  /** Copies of one token Secret into the namespaces a label selector picks (decision 023). */
  readonly tokenDistribution?: TokenDistributionConfig;
  /** Flags that were given but have no effect here, for one log line each at start-up. */
  readonly ignoredFlags: readonly { flag: string; why: string }[];
  /**
   * Settings 1Password's operator accepts by falling back silently (POLLING_INTERVAL "10s"), taken
   * the same way here but with a warning each at start-up.
   */
  readonly warnings: readonly ConfigWarning[];
}

export type TokenSourceConfig =
  | { readonly mode: 'env' }
  | { readonly mode: 'namespace'; readonly secretName: string; readonly secretKey: string };

export interface TokenDistributionConfig {
  /** A label selector, checked by the apiserver at start-up. */
  readonly selector: string;
  readonly source: { readonly namespace: string; readonly name: string; readonly key: string };
  readonly target: { readonly name: string; readonly key: string };
}

export interface ConfigWarning {
  /** The variable or flag, as ConfigError names it. */
  readonly setting: string;
  readonly message: string;
}

/** 1Password's defaultPollingInterval, in seconds. */
const DEFAULT_POLLING_INTERVAL_S = 600;
/** The longest delay setTimeout keeps (2^31-1 ms); a longer one fires at once, with a warning. */
const MAX_POLLING_INTERVAL_S = Math.floor((2 ** 31 - 1) / 1000);

/**
 * POLLING_INTERVAL as 1Password's operator reads it: strconv.Atoi, and on an error its default of
 * 600 s (1Password logs "Invalid value set for polling interval"; here a warning says what was
 * ignored). 0 or less is refused: 1Password's time.NewTicker panics on it, so neither starts.
 */
function pollingIntervalSeconds(env: NodeJS.ProcessEnv, warnings: ConfigWarning[]): number {
  const raw = env.POLLING_INTERVAL;
  if (raw === undefined) return DEFAULT_POLLING_INTERVAL_S;
  const seconds = parseGoAtoi(raw);
  if (seconds === undefined) {
    warnings.push({
      setting: 'POLLING_INTERVAL',
      message: `${JSON.stringify(raw.slice(0, 32))} is not a whole number of seconds; using the default of ${DEFAULT_POLLING_INTERVAL_S} seconds, as 1Password's operator does`,
    });
    return DEFAULT_POLLING_INTERVAL_S;
  }
  if (seconds < 1) {
    throw new ConfigError(
      'POLLING_INTERVAL',
      `invalid value ${JSON.stringify(raw)}: expected whole seconds, at least 1`,
    );
  }
  if (seconds > MAX_POLLING_INTERVAL_S) {
    warnings.push({
      setting: 'POLLING_INTERVAL',
      message: `${seconds} seconds is longer than a Node timer can wait; polling every ${MAX_POLLING_INTERVAL_S} seconds (about 24.8 days)`,
    });
    return MAX_POLLING_INTERVAL_S;
  }
  return seconds;
}

/** `:8080`, `0.0.0.0:8080`, `[::]:8080`, `8080`; `0` turns the listener off (undefined). */
export function parseBindAddress(
  setting: string,
  value: string,
): { host: string; port: number } | undefined {
  if (value === '0' || value === '') return undefined;
  const colon = value.lastIndexOf(':');
  const rawHost = colon === -1 ? '' : value.slice(0, colon);
  const rawPort = colon === -1 ? value : value.slice(colon + 1);
  const port = /^\d+$/.test(rawPort) ? Number(rawPort) : NaN;
  const bracketed = /^\[([^\]]+)\]$/.exec(rawHost);
  const host = bracketed?.[1] ?? rawHost;
  if (!(port >= 1 && port <= 65_535) || (!bracketed && host.includes(':'))) {
    throw new ConfigError(
      setting,
      `invalid address ${JSON.stringify(value)}: expected [host]:port, or 0 to disable`,
    );
  }
  return { host: host || '0.0.0.0', port };
}

/**
 * 1Password's strconv.ParseBool(strings.ToLower(value)): true/false/t/f/1/0 in any case; anything
 * else is refused, as 1Password's operator exits on it. Empty counts as unset (1Password exits).
 */
function envBool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = parseGoBool(raw.toLowerCase());
  if (value === undefined)
    throw new ConfigError(name, `invalid value ${JSON.stringify(raw)}: expected true or false`);
  return value;
}

function logLevel(raw: string, devel: boolean): LogLevel {
  if (devel) return 'debug';
  const numeric = parseGoInt(raw);
  if (numeric !== undefined) {
    // zap levels as controller-runtime maps numbers: 1 info, higher is more verbose.
    if (numeric < 0) throw new ConfigError('--zap-log-level', 'numeric levels are 0 or more');
    return numeric >= 2 ? 'debug' : 'info';
  }
  if (!(ZAP_LEVELS as readonly string[]).includes(raw)) {
    throw new ConfigError(
      '--zap-log-level',
      `unknown level ${JSON.stringify(raw)}: use debug, info or error`,
    );
  }
  return raw === 'debug' ? 'debug' : raw === 'info' ? 'info' : raw === 'warn' ? 'warn' : 'error';
}

function positive(flag: string, value: number): number {
  if (value < 1) throw new ConfigError(flag, 'must be at least 1');
  return value;
}

function nonNegativeNumber(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new ConfigError(flag, `must be a number ≥ 0, got ${JSON.stringify(text)}`);
  }
  return value;
}

function vaultPolicy(value: string): VaultPolicy {
  const policy = VAULT_POLICIES.find((candidate) => candidate === value);
  if (policy === undefined) {
    throw new ConfigError(
      '--vault-policy',
      `unknown policy ${JSON.stringify(value)}: use ${VAULT_POLICIES.join(' or ')}`,
    );
  }
  return policy;
}

/** A Secret name (DNS subdomain) and a data key, as the apiserver accepts them. */
const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

function tokenSource(
  flags: ParsedFlags,
  mode: string,
  name: string,
  key: string,
  distributing: boolean,
): TokenSourceConfig {
  if (mode === 'env') {
    // Accepted but doing nothing would hide a mistake: the Secret flags need the namespace mode
    // (or name the copies of the token distribution).
    for (const flag of ['token-secret-name', 'token-secret-key']) {
      if (flags.given.has(flag) && !distributing)
        throw new ConfigError(
          `--${flag}`,
          'takes effect only with --token-source=namespace or --token-distribution-selector',
        );
    }
    secretRef(name, key);
    return { mode: 'env' };
  }
  if (mode !== 'namespace') {
    throw new ConfigError(
      '--token-source',
      `unknown source ${JSON.stringify(mode)}: use env or namespace`,
    );
  }
  secretRef(name, key);
  return { mode: 'namespace', secretName: name, secretKey: key };
}

function secretRef(
  name: string,
  key: string,
  flags: readonly [string, string] = ['--token-secret-name', '--token-secret-key'],
): void {
  if (name.length > 253 || !SECRET_NAME.test(name))
    throw new ConfigError(flags[0], `${JSON.stringify(name)} is not a Secret name`);
  if (key.length > 253 || !SECRET_KEY.test(key))
    throw new ConfigError(flags[1], `${JSON.stringify(key)} is not a Secret key`);
}

function tokenDistribution(
  flags: ParsedFlags,
  selector: string,
  source: string | undefined,
  sourceKey: string,
  target: { readonly name: string; readonly key: string },
): TokenDistributionConfig | undefined {
  if (selector.trim() === '') {
    for (const flag of ['token-distribution-source', 'token-distribution-source-key']) {
      if (flags.given.has(flag))
        throw new ConfigError(`--${flag}`, 'takes effect only with --token-distribution-selector');
    }
    return undefined;
  }
  const [namespace, name, ...rest] = (source ?? '').split('/');
  if (!namespace || !name || rest.length > 0) {
    throw new ConfigError(
      '--token-distribution-source',
      `${source === undefined ? 'is required with --token-distribution-selector' : `${JSON.stringify(source)} is not namespace/name`}: the token Secret to copy`,
    );
  }
  secretRef(name, sourceKey, ['--token-distribution-source', '--token-distribution-source-key']);
  return { selector: selector.trim(), source: { namespace, name, key: sourceKey }, target };
}

function connectSettings(host: string, token: string, tokenRequired = true): void {
  if (!host)
    throw new ConfigError(
      'OP_CONNECT_HOST',
      'is required (e.g. http://onepassword-connect:8080), or set OP_SERVICE_ACCOUNT_TOKEN',
    );
  if (!token && tokenRequired) throw new ConfigError('OP_CONNECT_TOKEN', 'is required');
  try {
    const url = new URL(host);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new ConfigError(
      'OP_CONNECT_HOST',
      `invalid URL ${JSON.stringify(host)}: expected http(s)://host:port`,
    );
  }
}

/**
 * Validates the environment and flags into the operator's configuration.
 * @throws ConfigError naming the variable or flag at fault
 */
export function parseOperatorConfig(flags: ParsedFlags, env: NodeJS.ProcessEnv): OperatorConfig {
  if (envBool(env, 'MANAGE_CONNECT', false)) {
    throw new ConfigError(
      'MANAGE_CONNECT',
      'op-kube does not deploy Connect itself; deploy it with the Helm chart (connect.create=true) and unset MANAGE_CONNECT',
    );
  }
  const host = env.OP_CONNECT_HOST ?? '';
  const token = env.OP_CONNECT_TOKEN ?? '';
  const serviceAccount = env.OP_SERVICE_ACCOUNT_TOKEN ?? '';
  const warnings: ConfigWarning[] = [];
  const flag = readFlags(flags, operatorFlags);
  const distributing = flag.tokenDistributionSelector.trim() !== '';
  const tokens = tokenSource(
    flags,
    flag.tokenSource,
    flag.tokenSecretName,
    flag.tokenSecretKey,
    distributing,
  );
  const distribution = tokenDistribution(
    flags,
    flag.tokenDistributionSelector,
    flag.tokenDistributionSource,
    flag.tokenDistributionSourceKey,
    { name: flag.tokenSecretName, key: flag.tokenSecretKey },
  );
  if (tokens.mode === 'namespace' && serviceAccount) {
    throw new ConfigError(
      '--token-source',
      'namespace takes Connect tokens; it cannot be used with OP_SERVICE_ACCOUNT_TOKEN (service-account mode)',
    );
  }
  if (tokens.mode === 'namespace' && token) {
    warnings.push({
      setting: 'OP_CONNECT_TOKEN',
      message: `OP_CONNECT_TOKEN is ignored: --token-source=namespace reads each namespace's token from its Secret ${tokens.secretName}`,
    });
  }
  // 1Password's rule (client.NewFromEnvironment): all three set is refused; the token alone, or
  // with only one of the Connect variables, is service-account mode.
  if (serviceAccount && host && token) {
    throw new ConfigError(
      'OP_SERVICE_ACCOUNT_TOKEN',
      "Either Connect or Service Account credentials should be set, not both (1Password's rule): unset OP_CONNECT_HOST and OP_CONNECT_TOKEN, or OP_SERVICE_ACCOUNT_TOKEN",
    );
  }
  if (serviceAccount) {
    for (const setting of ['OP_CONNECT_HOST', 'OP_CONNECT_TOKEN'] as const) {
      if (env[setting]) {
        warnings.push({
          setting,
          message: `${setting} is ignored: OP_SERVICE_ACCOUNT_TOKEN is set (service-account mode), as 1Password's operator ignores it`,
        });
      }
    }
  } else {
    connectSettings(host, token, tokens.mode === 'env');
  }

  const seconds = pollingIntervalSeconds(env, warnings);

  const metricsAddress = parseBindAddress('--metrics-bind-address', flag.metricsBindAddress);
  const certPath = flag.metricsCertPath;
  const encoder = flag.zapEncoder;
  if (encoder !== 'json' && encoder !== 'console') {
    throw new ConfigError(
      '--zap-encoder',
      `unknown encoder ${JSON.stringify(encoder)}: use json or console`,
    );
  }
  const autoRestart = envBool(env, 'AUTO_RESTART', false);
  const probeAddress = parseBindAddress('--health-probe-bind-address', flag.healthProbeBindAddress);
  const ignoredFlags = ignoredFlagsGiven(flags, Object.values(operatorFlags)).map(
    ({ name, why }) => ({ flag: `--${name}`, why }),
  );
  const leaderNamespace = flag.leaderElectionNamespace;
  const kubeconfig = flag.kubeconfig;
  const caFile = env.SSL_CERT_FILE;

  return {
    ...(serviceAccount
      ? { serviceAccount: { token: serviceAccount } }
      : {
          connect: {
            host: host.replace(/\/+$/, ''),
            token: tokens.mode === 'env' ? token : '',
            ...(caFile ? { caFile } : {}),
          },
        }),
    watchNamespaces: (env.WATCH_NAMESPACE ?? '')
      .split(',')
      .map((namespace) => namespace.trim())
      .filter(Boolean),
    pollingIntervalMs: seconds * 1000,
    autoRestart,
    metrics: {
      ...(metricsAddress ? { address: metricsAddress } : {}),
      secure: flag.metricsSecure,
      ...(flag.metricsSecure && certPath
        ? {
            tls: {
              certFile: `${certPath}/${flag.metricsCertName}`,
              keyFile: `${certPath}/${flag.metricsCertKey}`,
            },
          }
        : {}),
    },
    ...(probeAddress ? { probeAddress } : {}),
    leaderElection: {
      enabled: flag.leaderElect,
      ...(leaderNamespace ? { namespace: leaderNamespace } : {}),
    },
    enableAnnotations: flag.enableAnnotations,
    allowEmptyValues: flag.allowEmptyValues,
    log: { level: logLevel(flag.zapLogLevel, flag.zapDevel), pretty: encoder === 'console' },
    ...(kubeconfig ? { kubeconfig } : {}),
    concurrency: positive('--max-concurrent-reconciles', flag.maxConcurrentReconciles),
    kubeApi: {
      qps: nonNegativeNumber('--kube-api-qps', flag.kubeApiQps),
      burst: positive('--kube-api-burst', flag.kubeApiBurst),
    },
    fullCheckEvery: positive('--full-check-every', flag.fullCheckEvery),
    vaultPolicy: vaultPolicy(flag.vaultPolicy),
    tokenSource: tokens,
    ...(distribution ? { tokenDistribution: distribution } : {}),
    ignoredFlags,
    warnings,
  };
}
