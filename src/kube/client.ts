// op-kube's apiserver client: JSON requests and watch streams over pooled keep-alive connections, with the kubeconfig user's credentials and client-side QPS/burst.
//
// Why not @kubernetes/client-node's generated clients: loading them costs about 80 MB of resident
// memory per process, and they open a new connection (TLS handshake included) for every call.
// Everything op-kube sends is a handful of REST verbs on known paths; see
// docs/decisions/008-own-apiserver-client.md.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import { errorFromStatus, KubeApiError, parseJson, toKubeApiError } from './api-error.ts';
import { CredentialSource, type ClientCertificate } from './credentials.ts';
import type { KubeConnectionConfig } from './kubeconfig.ts';
import { TokenBucketLimiter } from './rate-limiter.ts';

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export const CONTENT_TYPE = {
  json: 'application/json',
  mergePatch: 'application/merge-patch+json',
  jsonPatch: 'application/json-patch+json',
  strategicMergePatch: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface KubeRequest {
  readonly method: HttpMethod;
  /** Starts with `/`, e.g. `/api/v1/namespaces/a/secrets/b`; path segments already encoded. */
  readonly path: string;
  readonly query?: Query;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Default application/json. */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Names the call in errors, e.g. `apply v1 Secret a/b`. */
  readonly operation?: string;
}

export interface KubeClientOptions {
  /**
   * Client-side request rate, as client-go's --kube-api-qps; 0 or less turns client-side limits
   * off and leaves protection to the apiserver's priority and fairness. Watches are not limited.
   */
  readonly qps?: number;
  /** Requests allowed at once after a quiet spell, as --kube-api-burst. */
  readonly burst?: number;
  /** Limit on one request when the caller gives no signal; default 30 s. */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
  /** Connections kept per apiserver; default 16. */
  readonly connections?: number;
}

export const DEFAULT_KUBE_API_QPS = 500;
export const DEFAULT_KUBE_API_BURST = 1000;
const DEFAULT_TIMEOUT_MS = 30_000;

function readCa(config: KubeConnectionConfig): string | undefined {
  const { cluster } = config;
  if (cluster.caData !== undefined) return cluster.caData;
  return cluster.caFile === undefined ? undefined : readFileSync(cluster.caFile, 'utf8');
}

function encodeQuery(query: Query | undefined): string {
  if (query === undefined) return '';
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) search.set(key, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** The body of a streamed answer: chunks until the server closes it. */
export type ResponseStream = AsyncIterable<Uint8Array>;

export class KubeClient {
  readonly server: URL;
  readonly #basePath: string;
  readonly #credentials: CredentialSource;
  readonly #ca: string | undefined;
  readonly #config: KubeConnectionConfig;
  readonly #options: KubeClientOptions;
  readonly #limiter: TokenBucketLimiter | undefined;
  /** One pool per client certificate: exec plugins may hand out a new one as the old expires. */
  #agent: { certificate: ClientCertificate | undefined; agent: Agent } | undefined;
  #closed = false;

  constructor(config: KubeConnectionConfig, options: KubeClientOptions = {}) {
    this.#config = config;
    this.#options = options;
    this.server = new URL(config.cluster.server);
    this.#basePath = this.server.pathname.replace(/\/+$/, '');
    this.#ca = readCa(config);
    this.#credentials = new CredentialSource(config.cluster, config.user);
    const qps = options.qps ?? DEFAULT_KUBE_API_QPS;
    this.#limiter =
      qps > 0
        ? new TokenBucketLimiter({
            qps,
            burst: Math.max(1, options.burst ?? DEFAULT_KUBE_API_BURST),
          })
        : undefined;
  }

  #dispatcher(certificate: ClientCertificate | undefined): Agent {
    if (this.#agent !== undefined && this.#agent.certificate === certificate) {
      return this.#agent.agent;
    }
    const previous = this.#agent?.agent;
    const { cluster } = this.#config;
    const agent = new Agent({
      connections: this.#options.connections ?? 16,
      keepAliveTimeout: 30_000,
      connect: {
        ...(this.#ca !== undefined ? { ca: this.#ca } : {}),
        ...(certificate !== undefined ? { cert: certificate.cert, key: certificate.key } : {}),
        rejectUnauthorized: !(cluster.insecureSkipTlsVerify ?? false),
        ...(cluster.tlsServerName !== undefined ? { servername: cluster.tlsServerName } : {}),
      },
    });
    this.#agent = { certificate, agent };
    // In-flight requests on the old pool finish; close() waits for them.
    void previous?.close().catch(() => undefined);
    return agent;
  }

  async #send(
    request: KubeRequest,
    signal: AbortSignal | undefined,
  ): Promise<Dispatcher.ResponseData> {
    const credentials = await this.#credentials.current();
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.#options.userAgent ?? 'op-kube',
    };
    if (credentials.authorization !== undefined) headers.authorization = credentials.authorization;
    let body: string | undefined;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['content-type'] = request.contentType ?? CONTENT_TYPE.json;
    }
    return this.#dispatcher(credentials.certificate).request({
      origin: this.server.origin,
      path: this.#basePath + request.path + encodeQuery(request.query),
      method: request.method,
      headers,
      body,
      ...(signal !== undefined ? { signal } : {}),
    });
  }

  async #answer(request: KubeRequest, streaming: boolean): Promise<Dispatcher.ResponseData> {
    if (this.#closed) {
      throw new KubeApiError(
        { status: 0, reason: 'Unavailable', operation: request.operation },
        'the apiserver client is closed',
      );
    }
    const operation = request.operation ?? `${request.method} ${request.path}`;
    const signal =
      request.signal ??
      (streaming ? undefined : AbortSignal.timeout(this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
    for (let attempt = 0; ; attempt += 1) {
      if (!streaming && this.#limiter !== undefined) {
        const delay = this.#limiter.when('');
        if (delay > 0) {
          try {
            await sleep(delay, undefined, signal ? { signal } : {});
          } catch (error) {
            throw toKubeApiError(error, operation);
          }
        }
      }
      let response: Dispatcher.ResponseData;
      try {
        response = await this.#send(request, signal);
      } catch (error) {
        throw toKubeApiError(error, operation);
      }
      if (response.statusCode >= 200 && response.statusCode < 300) return response;
      const text = await response.body.text().catch(() => '');
      // A rotated token or an expired exec credential: fetch new credentials once and retry.
      if (response.statusCode === 401 && attempt === 0 && this.#credentials.dynamic) {
        this.#credentials.invalidate();
        continue;
      }
      throw errorFromStatus(parseJson(text), response.statusCode, operation);
    }
  }

  /** Sends one request and returns its parsed JSON answer; fails with a KubeApiError. */
  async request<T>(request: KubeRequest): Promise<T> {
    const response = await this.#answer(request, false);
    const operation = request.operation ?? `${request.method} ${request.path}`;
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw toKubeApiError(error, operation);
    }
    const parsed = text === '' ? undefined : parseJson(text);
    if (text !== '' && parsed === undefined) {
      throw new KubeApiError(
        { status: response.statusCode, reason: 'InvalidResponse', operation },
        `${operation}: the apiserver answered with something other than JSON`,
      );
    }
    return parsed as T;
  }

  /** Opens a streaming GET (a watch); resolves once the apiserver has answered 2xx. */
  async stream(request: Omit<KubeRequest, 'method' | 'body'>): Promise<ResponseStream> {
    const response = await this.#answer({ ...request, method: 'GET' }, true);
    return response.body;
  }

  /** Closes pooled connections; requests made afterwards fail. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#agent?.agent.close().catch(() => undefined);
  }
}
