// op-kube's apiserver client: JSON requests and watch streams over pooled keep-alive connections, with the kubeconfig user's credentials and client-side QPS/burst.
//
// HTTP/1.1, with watches on a pool of their own, and a pool whose connections keep failing
// replaced: one refused or broken call must never stall the others (decision 011).
//
// Why not @kubernetes/client-node's generated clients: loading them costs about 80 MB of resident
// memory per process, and they open a new connection (TLS handshake included) for every call.
// Everything op-kube sends is a handful of REST verbs on known paths; see
// docs/decisions/008-own-apiserver-client.md.
import { DEFAULT_KUBE_API_BURST, DEFAULT_KUBE_API_QPS } from './limits.ts';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { errorFromStatus, KubeApiError, parseJson, toKubeApiError } from './api-error.ts';
import { ConnectionPool, type Lease, type PoolReplaced, type PoolTls } from './connection-pool.ts';
import { CredentialSource, type ClientCertificate } from './credentials.ts';
import { KubeConfigError, type KubeConnectionConfig } from './kubeconfig.ts';
import { proxyRefusal, throughProxy, unsupportedProxy } from '../../util/proxy-agent.ts';
import { proxyFor } from '../../util/proxy-env.ts';
import { TokenBucketLimiter } from '../runtime/rate-limiter.ts';
import { MAX_RETRY_AFTER_WAITS, retryAfterMs } from './retry-after.ts';
import {
  classifyTransportFailure,
  isIdempotent,
  isRetryableTransportFailure,
} from './transport-failure.ts';

export type { PoolReplaced };

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
  /** Ends the call, its wait for a rate token included. */
  readonly signal?: AbortSignal;
  /**
   * Without a signal: how long the call may take once it has its rate token (resends included);
   * default the client's timeoutMs.
   */
  readonly timeoutMs?: number;
  /** Names the call in errors, e.g. `apply v1 Secret a/b`. */
  readonly operation?: string;
  /**
   * The client-side rate budget the request spends. Each name has a token bucket of its own at
   * the client's QPS/burst, as client-go gives its event recorder a clientset of its own: Events
   * never slow the writes they report on. Default: the shared budget.
   */
  readonly budget?: string;
}

export interface KubeClientOptions {
  /**
   * Client-side request rate, as client-go's --kube-api-qps; 0 or less turns client-side limits
   * off and leaves protection to the apiserver's priority and fairness. Watches are not limited.
   */
  readonly qps?: number;
  /** Requests allowed at once after a quiet spell, as --kube-api-burst. */
  readonly burst?: number;
  /**
   * Limit on one request when the caller gives no signal, and on the apiserver accepting a watch;
   * default 30 s.
   */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
  /**
   * Connections kept per apiserver for requests; default 16. Watches have a pool of their own
   * without a cap, so open watches never queue requests (decision 011).
   */
  readonly connections?: number;
  /**
   * Negotiate HTTP/2 with the apiserver. Default false: HTTP/1.1, because one HTTP/2 session
   * carries every call, and Node poisons it for good after a few refused large bodies
   * (docs/decisions/011-apiserver-http-version.md).
   */
  readonly http2?: boolean;
  /** Told when a pool whose connections kept failing was replaced (for logs and metrics); must not throw. */
  readonly onPoolReplaced?: (event: PoolReplaced) => void;
}

export { DEFAULT_KUBE_API_BURST, DEFAULT_KUBE_API_QPS } from './limits.ts';
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECTIONS = 16;
/** Connection or timeout failures in a row, with no answer between, that replace a pool. */
const POOL_FAILURE_THRESHOLD = 3;
const KEEP_ALIVE_TIMEOUT_MS = 30_000;

function readCa(config: KubeConnectionConfig): string | undefined {
  const { cluster } = config;
  if (cluster.caData !== undefined) return cluster.caData;
  return cluster.caFile === undefined ? undefined : readFileSync(cluster.caFile, 'utf8');
}

/**
 * The proxy to reach `server` through, as client-go picks it: the cluster's `proxy-url` for every
 * request; else HTTPS_PROXY/HTTP_PROXY/NO_PROXY by Go's rule; else none.
 */
function chooseProxy(config: KubeConnectionConfig, server: URL): URL | undefined {
  const where = `cluster ${config.cluster.name}`;
  let proxy: URL | undefined;
  if (config.cluster.proxyUrl !== undefined) {
    try {
      proxy = new URL(config.cluster.proxyUrl);
    } catch {
      throw new KubeConfigError('Invalid', `${where}: proxy-url is not a URL`);
    }
  } else if (config.proxy !== undefined) {
    const decision = proxyFor(config.proxy, server);
    if (decision.kind === 'refused')
      throw new KubeConfigError('Invalid', `${where}: ${decision.reason}`);
    if (decision.kind === 'proxy') proxy = decision.proxy;
  }
  const unsupported = proxy === undefined ? undefined : unsupportedProxy(proxy);
  if (unsupported !== undefined) throw new KubeConfigError('Invalid', `${where}: ${unsupported}`);
  return proxy;
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

/** A call handed to a pool: where it went, and its answer to come. */
interface Sent {
  readonly pool: ConnectionPool;
  readonly lease: Lease;
  readonly response: Promise<Dispatcher.ResponseData>;
}

interface Pools {
  readonly certificate: ClientCertificate | undefined;
  readonly requests: ConnectionPool;
  readonly watches: ConnectionPool;
}

export class KubeClient {
  readonly server: URL;
  readonly #basePath: string;
  readonly #credentials: CredentialSource;
  readonly #ca: string | undefined;
  readonly #config: KubeConnectionConfig;
  readonly #options: KubeClientOptions;
  readonly #timeoutMs: number;
  /** One token bucket per rate budget; none when client-side limits are off. */
  readonly #limiters = new Map<string, TokenBucketLimiter>();
  readonly #limits: { readonly qps: number; readonly burst: number } | undefined;
  /** Every connection goes through it; named in errors, never with its credentials. */
  readonly #proxy: URL | undefined;
  /** One pair of pools per client certificate: exec plugins may hand out a new one as the old expires. */
  #pools: Pools | undefined;
  #closed = false;

  constructor(config: KubeConnectionConfig, options: KubeClientOptions = {}) {
    this.#config = config;
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.server = new URL(config.cluster.server);
    this.#basePath = this.server.pathname.replace(/\/+$/, '');
    this.#ca = readCa(config);
    this.#proxy = chooseProxy(config, this.server);
    this.#credentials = new CredentialSource(config.cluster, config.user);
    const qps = options.qps ?? DEFAULT_KUBE_API_QPS;
    this.#limits =
      qps > 0 ? { qps, burst: Math.max(1, options.burst ?? DEFAULT_KUBE_API_BURST) } : undefined;
  }

  #limiter(budget: string): TokenBucketLimiter | undefined {
    if (this.#limits === undefined) return undefined;
    let limiter = this.#limiters.get(budget);
    if (limiter === undefined) {
      limiter = new TokenBucketLimiter(this.#limits);
      this.#limiters.set(budget, limiter);
    }
    return limiter;
  }

  /** How often each pool was replaced after its connections kept failing. */
  get poolReplacements(): { readonly requests: number; readonly watches: number } {
    return {
      requests: this.#pools?.requests.replacements ?? 0,
      watches: this.#pools?.watches.replacements ?? 0,
    };
  }

  #pool(certificate: ClientCertificate | undefined, streaming: boolean): ConnectionPool {
    if (this.#pools === undefined || this.#pools.certificate !== certificate) {
      const previous = this.#pools;
      const { cluster } = this.#config;
      const tls: PoolTls = {
        ...(this.#ca !== undefined ? { ca: this.#ca } : {}),
        ...(certificate !== undefined ? { cert: certificate.cert, key: certificate.key } : {}),
        rejectUnauthorized: !(cluster.insecureSkipTlsVerify ?? false),
        ...(cluster.tlsServerName !== undefined ? { servername: cluster.tlsServerName } : {}),
      };
      const common = {
        http2: this.#options.http2 ?? false,
        tls,
        keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
        failureThreshold: POOL_FAILURE_THRESHOLD,
        ...(this.#proxy !== undefined ? { proxy: this.#proxy } : {}),
      };
      const onReplace = (event: PoolReplaced): void => {
        try {
          this.#options.onPoolReplaced?.(event);
        } catch {
          // An observer's failure must not fail the call that noticed the broken pool.
        }
      };
      this.#pools = {
        certificate,
        requests: new ConnectionPool(
          {
            ...common,
            name: 'requests',
            connections: this.#options.connections ?? DEFAULT_CONNECTIONS,
            // A request outlives its timeout only with a caller's own signal; give it as long.
            drainMs: this.#timeoutMs,
          },
          onReplace,
        ),
        // Each open watch holds a connection under HTTP/1.1: no cap, or watches starve requests.
        // A replaced watch pool is cut at once: its watches resume from their resourceVersion.
        watches: new ConnectionPool(
          { ...common, name: 'watches', connections: undefined, drainMs: 0 },
          onReplace,
        ),
      };
      // Requests on the old pools finish (within their timeout); watches on them are cut and
      // resume on the new pools from their resourceVersion.
      void previous?.requests.close();
      void previous?.watches.close();
    }
    return streaming ? this.#pools.watches : this.#pools.requests;
  }

  async #send(
    request: KubeRequest,
    signal: AbortSignal | undefined,
    streaming: boolean,
  ): Promise<Sent> {
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
    const pool = this.#pool(credentials.certificate, streaming);
    const lease = pool.lease();
    const response = lease.dispatcher.request({
      origin: this.server.origin,
      path: this.#basePath + request.path + encodeQuery(request.query),
      method: request.method,
      headers,
      body,
      // A watch has no overall limit, but the apiserver must accept it in time.
      ...(streaming ? { headersTimeout: this.#timeoutMs } : {}),
      ...(signal !== undefined ? { signal } : {}),
    });
    return { lease, pool, response };
  }

  /**
   * Sends `request` until it has an answer: a 2xx is handed to `read`, anything else becomes a
   * KubeApiError. A call that failed because its connection broke is sent once more, on a fresh
   * connection, when repeating it is harmless (`isIdempotent`); a 401 with renewable credentials
   * is retried once with new ones. An answer with Retry-After (a 429, or a 5xx to a repeatable call)
   * is waited out and the call sent again, up to ten times, within the call's timeout.
   */
  async #exchange<T>(
    request: KubeRequest,
    streaming: boolean,
    read: (response: Dispatcher.ResponseData) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) {
      throw new KubeApiError(
        { status: 0, reason: 'Unavailable', operation: request.operation },
        'the apiserver client is closed',
      );
    }
    const operation = request.operation ?? `${request.method} ${request.path}`;
    let signal = request.signal;
    const repeatable = isIdempotent(request.method, request.contentType ?? CONTENT_TYPE.json);
    let renewedCredentials = false;
    let resent = false;
    let waits = 0;
    const limiter = streaming ? undefined : this.#limiter(request.budget ?? '');
    for (;;) {
      if (limiter !== undefined) {
        const delay = limiter.when('');
        if (delay > 0) {
          try {
            await sleep(delay, undefined, signal ? { signal } : {});
          } catch (error) {
            throw toKubeApiError(error, operation);
          }
        }
      }
      // The timeout bounds the request (and its resends), not its wait for a rate token: a caller
      // queueing thousands of calls at once (30,000 creates at 500 QPS wait up to 60 s) would
      // otherwise see them fail before they were ever sent.
      if (signal === undefined && !streaming) {
        signal = AbortSignal.timeout(request.timeoutMs ?? this.#timeoutMs);
      }
      let sent: Sent | undefined;
      let outcome:
        | { ok: true; value: T }
        | { ok: false; status: number; text: string; retryAfter: string | string[] | undefined };
      try {
        sent = await this.#send(request, signal, streaming);
        const response = await sent.response;
        if (response.statusCode >= 200 && response.statusCode < 300) {
          outcome = { ok: true, value: await read(response) };
        } else {
          const text = await response.body.text().catch(() => '');
          outcome = {
            ok: false,
            status: response.statusCode,
            text,
            retryAfter: response.headers['retry-after'],
          };
        }
        sent.pool.answered(sent.lease);
      } catch (error) {
        if (sent === undefined) throw toKubeApiError(error, operation);
        const kind = classifyTransportFailure(error);
        sent.pool.failed(sent.lease, kind);
        // A watch is not sent again here: the informer resumes it, with its own backoff.
        if (!resent && !streaming && repeatable && isRetryableTransportFailure(kind)) {
          resent = true;
          continue;
        }
        throw this.#transportError(error, operation);
      }
      if (outcome.ok) return outcome.value;
      // A rotated token or an expired exec credential: fetch new credentials once and retry.
      if (outcome.status === 401 && !renewedCredentials && this.#credentials.dynamic) {
        renewedCredentials = true;
        this.#credentials.invalidate();
        continue;
      }
      const wait = streaming
        ? undefined
        : retryAfterMs(outcome.status, outcome.retryAfter, repeatable);
      if (wait !== undefined && waits < MAX_RETRY_AFTER_WAITS) {
        waits += 1;
        try {
          await sleep(wait, undefined, signal ? { signal } : {});
        } catch {
          // Out of time while waiting: the apiserver's refusal is the reason, not the timeout.
          throw errorFromStatus(parseJson(outcome.text), outcome.status, operation);
        }
        continue;
      }
      throw errorFromStatus(parseJson(outcome.text), outcome.status, operation);
    }
  }

  /** A call that got no answer; through a proxy, the error names it (a refusal as the proxy's). */
  #transportError(error: unknown, operation: string): KubeApiError {
    const converted = toKubeApiError(error, operation);
    if (this.#proxy === undefined || converted.status !== 0) return converted;
    const refused = proxyRefusal(error);
    if (refused === undefined) {
      return new KubeApiError(
        { status: 0, reason: converted.reason, operation },
        throughProxy(converted.message, this.#proxy),
        { cause: error },
      );
    }
    return new KubeApiError(
      { status: 0, reason: 'Unavailable', operation },
      throughProxy(
        `${operation}: the proxy refused the connection to ${this.server.host} (${refused})`,
        this.#proxy,
      ),
      { cause: error },
    );
  }

  /** Sends one request and returns its parsed JSON answer; fails with a KubeApiError. */
  async request<T>(request: KubeRequest): Promise<T> {
    const operation = request.operation ?? `${request.method} ${request.path}`;
    const { status, text } = await this.#exchange(request, false, async (response) => ({
      status: response.statusCode,
      text: await response.body.text(),
    }));
    const parsed = text === '' ? undefined : parseJson(text);
    if (text !== '' && parsed === undefined) {
      throw new KubeApiError(
        { status, reason: 'InvalidResponse', operation },
        `${operation}: the apiserver answered with something other than JSON`,
      );
    }
    return parsed as T;
  }

  /** Opens a streaming GET (a watch); resolves once the apiserver has answered 2xx. */
  async stream(request: Omit<KubeRequest, 'method' | 'body'>): Promise<ResponseStream> {
    return this.#exchange({ ...request, method: 'GET' }, true, (response) =>
      Promise.resolve(response.body),
    );
  }

  /** Closes pooled connections once the requests in flight are done; requests made afterwards fail. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#pools?.requests.close(), this.#pools?.watches.close()]);
  }
}
