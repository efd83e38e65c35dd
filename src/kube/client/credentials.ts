// The credentials a kubeconfig user sends: a bearer token (static, from a rotating file, or from an exec plugin), basic auth, or a client certificate.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import {
  KubeConfigError,
  type ClusterConfig,
  type ExecConfig,
  type UserConfig,
} from './kubeconfig.ts';
import { OpKubeError } from '../errors.ts';

export interface ClientCertificate {
  readonly cert: string;
  readonly key: string;
}

export interface Credentials {
  /** The Authorization header value, when the user authenticates with one. */
  readonly authorization?: string;
  /** The TLS client certificate, when the user authenticates with one. */
  readonly certificate?: ClientCertificate;
}

/** client-go re-reads a token file once a minute; the kubelet refreshes projected tokens well before they expire. */
const TOKEN_FILE_REFRESH_MS = 60_000;
/** Renew an exec credential this long before it expires, so no request carries an expired one. */
const EXEC_EXPIRY_MARGIN_MS = 10_000;
const EXEC_TIMEOUT_MS = 60_000;

function readPem(data: string | undefined, file: string | undefined): string | undefined {
  if (data !== undefined) return data;
  return file === undefined ? undefined : readFileSync(file, 'utf8');
}

/** An exec plugin that failed or printed no usable ExecCredential. */
export class CredentialError extends OpKubeError<'CredentialUnavailable'> {
  override readonly name = 'CredentialError';

  constructor(message: string, options?: ErrorOptions) {
    super('CredentialUnavailable', message, options);
  }
}

/**
 * Produces the current credentials of one kubeconfig user. Cheap to call per request: tokens from
 * files and exec plugins are cached until they are due for renewal, and `invalidate()` (after a
 * 401) forces the next call to fetch anew.
 */
export class CredentialSource {
  readonly #user: UserConfig;
  readonly #cluster: ClusterConfig;
  readonly #static: Credentials;
  #cached: { credentials: Credentials; until: number } | undefined;
  #pending: Promise<Credentials> | undefined;

  constructor(cluster: ClusterConfig, user: UserConfig) {
    this.#cluster = cluster;
    this.#user = user;
    const cert = readPem(user.clientCertificateData, user.clientCertificateFile);
    const key = readPem(user.clientKeyData, user.clientKeyFile);
    if ((cert === undefined) !== (key === undefined)) {
      throw new KubeConfigError(
        'Invalid',
        `user ${user.name}: a client certificate needs both certificate and key`,
      );
    }
    const authorization =
      user.token !== undefined
        ? `Bearer ${user.token}`
        : user.username !== undefined
          ? `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`
          : undefined;
    this.#static = {
      ...(authorization !== undefined ? { authorization } : {}),
      ...(cert !== undefined && key !== undefined ? { certificate: { cert, key } } : {}),
    };
  }

  /** True when credentials can change while running (token file, exec plugin). */
  get dynamic(): boolean {
    return this.#user.exec !== undefined || this.#user.tokenFile !== undefined;
  }

  async current(now = Date.now()): Promise<Credentials> {
    if (!this.dynamic) return this.#static;
    if (this.#cached !== undefined && now < this.#cached.until) return this.#cached.credentials;
    this.#pending ??= this.#fetch(now).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  invalidate(): void {
    this.#cached = undefined;
  }

  async #fetch(now: number): Promise<Credentials> {
    const { exec, tokenFile } = this.#user;
    if (exec !== undefined) {
      const { credentials, expiresAt } = await runExecPlugin(exec, this.#cluster);
      const merged = { ...this.#static, ...credentials };
      this.#cached = {
        credentials: merged,
        until:
          expiresAt === undefined ? Number.POSITIVE_INFINITY : expiresAt - EXEC_EXPIRY_MARGIN_MS,
      };
      return merged;
    }
    const token = (await readFile(tokenFile ?? '', 'utf8')).trim();
    const credentials = { ...this.#static, authorization: `Bearer ${token}` };
    this.#cached = { credentials, until: now + TOKEN_FILE_REFRESH_MS };
    return credentials;
  }
}

function execInfo(exec: ExecConfig, cluster: ClusterConfig): string {
  const spec: Record<string, unknown> = { interactive: false };
  if (exec.provideClusterInfo) {
    spec.cluster = {
      server: cluster.server,
      ...(cluster.tlsServerName !== undefined ? { 'tls-server-name': cluster.tlsServerName } : {}),
      'insecure-skip-tls-verify': cluster.insecureSkipTlsVerify ?? false,
      ...(cluster.caData !== undefined
        ? { 'certificate-authority-data': Buffer.from(cluster.caData).toString('base64') }
        : {}),
    };
  }
  return JSON.stringify({ apiVersion: exec.apiVersion, kind: 'ExecCredential', spec });
}

/** Runs a client.authentication.k8s.io exec plugin and reads the ExecCredential it prints. */
export async function runExecPlugin(
  exec: ExecConfig,
  cluster: ClusterConfig,
): Promise<{ credentials: Credentials; expiresAt: number | undefined }> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      exec.command,
      [...exec.args],
      {
        env: {
          ...process.env,
          ...Object.fromEntries(exec.env.map((variable) => [variable.name, variable.value])),
          KUBERNETES_EXEC_INFO: execInfo(exec, cluster),
        },
        timeout: EXEC_TIMEOUT_MS,
        maxBuffer: 1 << 20,
      },
      (error, out) => {
        if (error) {
          const hint = exec.installHint ? ` (${exec.installHint})` : '';
          // stderr of a credential plugin may echo credentials; only the exit is reported.
          reject(
            new CredentialError(
              `exec plugin ${exec.command} failed: ${error.message.split('\n')[0]}${hint}`,
            ),
          );
        } else {
          resolve(out);
        }
      },
    );
  });
  let status: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(stdout) as { status?: Record<string, unknown> };
    status = parsed.status ?? {};
  } catch {
    throw new CredentialError(`exec plugin ${exec.command} printed no ExecCredential JSON`);
  }
  const token = typeof status.token === 'string' ? status.token : undefined;
  const cert =
    typeof status.clientCertificateData === 'string' ? status.clientCertificateData : undefined;
  const key = typeof status.clientKeyData === 'string' ? status.clientKeyData : undefined;
  if (token === undefined && (cert === undefined || key === undefined)) {
    throw new CredentialError(
      `exec plugin ${exec.command} returned neither a token nor a client certificate and key`,
    );
  }
  const expiry =
    typeof status.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : NaN;
  return {
    credentials: {
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...(cert !== undefined && key !== undefined ? { certificate: { cert, key } } : {}),
    },
    expiresAt: Number.isNaN(expiry) ? undefined : expiry,
  };
}
