// HTTP to Connect: keep-alive, bearer auth, per-attempt timeouts, retries with backoff, coalesced GETs.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { Agent } from '../../util/undici.ts';
import { proxyAgent, throughProxy } from '../../util/proxy-agent.ts';
import { proxyFor, type ProxyConfig } from '../../util/proxy-env.ts';
import { ConnectError, type ConnectErrorInit } from '../errors.ts';
import { CONNECT_VERSION_HEADER } from '../models.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import type { Endpoint } from './endpoints.ts';
import { versionShortfall } from './server-version.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One HTTP attempt, reported for metrics; status 0 when no response came. */
export interface CallInfo {
  readonly method: HttpMethod;
  readonly endpoint: Endpoint;
  readonly status: number;
  readonly durationMs: number;
  /** 1 for the first try, 2 for the first retry, … */
  readonly attempt: number;
}

export interface TransportOptions {
  /** `http(s)://host:port`, optionally with a path prefix for a proxy. */
  readonly host: string;
  readonly token: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoff: BackoffOptions;
  /** PEM bundle trusted instead of the system roots, for a Connect behind a private CA. */
  readonly ca?: string;
  readonly userAgent: string;
  /** Must not throw; an exception is swallowed so metrics cannot fail a call. */
  readonly onCall?: (call: CallInfo) => void;
  /** Source of jitter; tests pass a fixed one. */
  readonly random?: () => number;
  /**
   * HTTPS_PROXY/HTTP_PROXY/NO_PROXY as read from the environment (`proxyConfigFromEnv`); the
   * host goes through the proxy they name for it, as Go's net/http decides. Default: direct.
   */
  readonly proxy?: ProxyConfig;
}

export interface HttpRequest {
  readonly method: HttpMethod;
  readonly endpoint: Endpoint;
  /** Path and query, already encoded. */
  readonly path: string;
  readonly body?: unknown;
  /** Raw bytes are expected rather than JSON (file content). */
  readonly binary?: boolean;
  /** Refuse the answer unless the server reports at least this version. */
  readonly minServerVersion?: string;
  /** Overrides the transport's retry count. */
  readonly retries?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

type Outcome = { response: HttpResponse } | { error: ConnectError; retryable: boolean };

// Methods whose repetition has the effect of a single call, so a retry after an ambiguous failure
// (5xx, timeout, reset connection) cannot duplicate work. POST would create a second item and
// PATCH `add` would append twice, so those are retried only when the request provably never
// left this process.
const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'PUT', 'DELETE']);
// Failures before a connection existed: the server cannot have seen the request.
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const MAX_SERVER_MESSAGE = 300;
const VERSION_HEADER = CONNECT_VERSION_HEADER.toLowerCase();
// Visible ASCII only: a CR or LF would split the header, and header errors could quote the value.
const TOKEN_SYNTAX = /^[\x21-\x7e]+$/;

export class Transport {
  readonly #base: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoff: BackoffOptions;
  readonly #userAgent: string;
  readonly #onCall: ((call: CallInfo) => void) | undefined;
  readonly #random: (() => number) | undefined;
  readonly #agent: Dispatcher;
  /** The proxy every call goes through, if any: named in errors, never with its credentials. */
  readonly #proxy: URL | undefined;
  readonly #closing = new AbortController();
  readonly #inflight = new Map<string, Promise<HttpResponse>>();
  #serverVersion: string | undefined;

  constructor(options: TransportOptions) {
    const url = parseHost(options.host);
    if (!TOKEN_SYNTAX.test(options.token)) {
      throw new TypeError(
        'Connect token is empty or contains characters invalid in an HTTP header',
      );
    }
    this.#base = url.origin + url.pathname.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs;
    this.#retries = options.retries;
    this.#backoff = options.backoff;
    this.#userAgent = options.userAgent;
    this.#onCall = options.onCall;
    this.#random = options.random;
    const tls = options.ca === undefined ? {} : { ca: options.ca };
    const decision = options.proxy === undefined ? undefined : proxyFor(options.proxy, url);
    if (decision?.kind === 'refused') throw new TypeError(`Connect host: ${decision.reason}`);
    this.#proxy = decision?.kind === 'proxy' ? decision.proxy : undefined;
    this.#agent =
      this.#proxy === undefined
        ? new Agent({ connect: tls })
        : proxyAgent(this.#proxy, { requestTls: tls });
  }

  /** The `1Password-Connect-Version` of the latest answer that carried one. */
  get serverVersion(): string | undefined {
    return this.#serverVersion;
  }

  /**
   * Resolves with a 2xx answer; rejects with a ConnectError otherwise. Concurrent GETs of the same
   * path share one request (and its retries): callers each get their own copy of the body.
   */
  send(req: HttpRequest): Promise<HttpResponse> {
    if (req.method !== 'GET') return this.#sendWithRetries(req);
    const shared = this.#inflight.get(req.path);
    if (shared)
      return shared.then((response) => ({ ...response, body: Buffer.from(response.body) }));
    const pending = this.#sendWithRetries(req).finally(() => this.#inflight.delete(req.path));
    this.#inflight.set(req.path, pending);
    return pending;
  }

  /** Aborts calls in flight and closes the kept-alive connections. */
  async close(): Promise<void> {
    this.#closing.abort();
    await this.#agent.destroy();
  }

  async #sendWithRetries(req: HttpRequest): Promise<HttpResponse> {
    const retries = req.retries ?? this.#retries;
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await this.#attempt(req, attempt);
      if ('response' in outcome) return outcome.response;
      if (!outcome.retryable || attempt > retries) throw outcome.error;
      const delay = backoffDelay(attempt, this.#backoff, this.#random);
      try {
        await sleep(delay, undefined, { signal: this.#closing.signal });
      } catch {
        throw outcome.error;
      }
    }
  }

  async #attempt(req: HttpRequest, attempt: number): Promise<Outcome> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const started = performance.now();
    let answer: Dispatcher.ResponseData;
    try {
      // As undici's request(url): the URL split into origin and path, on this client's dispatcher.
      const url = new URL(this.#base + req.path);
      answer = await this.#agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers: this.#headers(req),
        body: req.body === undefined ? null : JSON.stringify(req.body),
        signal: AbortSignal.any([timeout, this.#closing.signal]),
      });
    } catch (error) {
      this.#report(req, 0, started, attempt);
      return this.#failure(req, error, attempt, timeout.aborted);
    }
    let response: HttpResponse;
    try {
      // Read under the same signal: a body that stalls times out like a missing answer.
      const body = Buffer.from(await answer.body.arrayBuffer());
      response = { status: answer.statusCode, headers: answer.headers, body };
    } catch (error) {
      this.#report(req, 0, started, attempt);
      return this.#bodyFailure(req, answer, error, attempt, timeout.aborted);
    }
    this.#report(req, response.status, started, attempt);
    return this.#judge(req, response, attempt);
  }

  #headers(req: HttpRequest): Record<string, string> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      accept: req.binary ? '*/*' : 'application/json',
      'user-agent': this.#userAgent,
    };
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    return headers;
  }

  #judge(req: HttpRequest, response: HttpResponse, attempt: number): Outcome {
    const version = headerValue(response.headers, VERSION_HEADER);
    if (version !== undefined) this.#serverVersion = version;
    // A 5xx may come from a proxy that never reached Connect, so only Connect's own answers are
    // held to the version requirement (checked before the status, as the Go SDK does).
    if (req.minServerVersion !== undefined && response.status < 500) {
      const shortfall = versionShortfall(version, req.minServerVersion);
      if (shortfall !== undefined) {
        const init: ConnectErrorInit = {
          ...this.#context(req, response.status, attempt),
          reason: 'Unexpected',
        };
        const error = new ConnectError(init, this.#message(req, shortfall, attempt));
        return { error, retryable: false };
      }
    }
    if (response.status >= 200 && response.status < 300) return { response };
    const error = new ConnectError(
      this.#context(req, response.status, attempt),
      this.#message(req, describeAnswer(response), attempt),
    );
    return { error, retryable: response.status >= 500 && IDEMPOTENT.has(req.method) };
  }

  #failure(req: HttpRequest, cause: unknown, attempt: number, timedOut: boolean): Outcome {
    const closed = this.#closing.signal.aborted;
    const detail = closed
      ? 'client closed'
      : timedOut
        ? `no response within ${this.#timeoutMs} ms`
        : `network error: ${describeCause(cause)}`;
    const retryable =
      !closed &&
      (IDEMPOTENT.has(req.method) || (!timedOut && NEVER_SENT.has(errorCode(cause) ?? '')));
    return {
      error: new ConnectError(this.#context(req, 0, attempt), this.#message(req, detail, attempt)),
      retryable,
    };
  }

  // The status line and headers came, the body did not. Stalled past the timeout, it is a missing
  // answer (Unavailable). Cut short (the connection closed or reset before Content-Length bytes),
  // a 2xx is an answer that must not be used: InvalidResponse, retried as a 5xx would be, since a
  // cut transfer is usually the network's doing and the next attempt may well be whole.
  #bodyFailure(
    req: HttpRequest,
    answer: { statusCode: number; headers: HttpResponse['headers'] },
    cause: unknown,
    attempt: number,
    timedOut: boolean,
  ): Outcome {
    if (this.#closing.signal.aborted || timedOut) {
      const outcome = this.#failure(req, cause, attempt, timedOut);
      if (!('error' in outcome) || this.#closing.signal.aborted) return outcome;
      const detail = `the ${answer.statusCode} response's body did not arrive within ${this.#timeoutMs} ms`;
      return {
        error: new ConnectError(
          this.#context(req, 0, attempt),
          this.#message(req, detail, attempt),
        ),
        retryable: outcome.retryable,
      };
    }
    const status = answer.statusCode;
    const length = headerValue(answer.headers, 'content-length');
    const declared = length === undefined ? '' : ` of its Content-Length ${length}`;
    const detail = `the ${status} response was cut short${declared}: ${describeCause(cause)}`;
    const init: ConnectErrorInit = {
      ...this.#context(req, status, attempt),
      ...(status >= 200 && status < 300 ? { reason: 'InvalidResponse' } : {}),
    };
    return {
      error: new ConnectError(init, this.#message(req, detail, attempt)),
      retryable: IDEMPOTENT.has(req.method),
    };
  }

  #context(req: HttpRequest, status: number, attempts: number): ConnectErrorInit {
    return { status, method: req.method, endpoint: req.endpoint, attempts };
  }

  // Server and socket messages pass through here: a server echoing the Authorization header back
  // must not put the token into an error.
  #message(req: HttpRequest, detail: string, attempt: number): string {
    const suffix = attempt > 1 ? ` (after ${attempt} attempts)` : '';
    const message = `${req.method} ${req.endpoint}: ${detail.split(this.#token).join('[redacted]')}${suffix}`;
    return throughProxy(message, this.#proxy);
  }

  #report(req: HttpRequest, status: number, started: number, attempt: number): void {
    const durationMs = performance.now() - started;
    try {
      this.#onCall?.({ method: req.method, endpoint: req.endpoint, status, durationMs, attempt });
    } catch {
      // A metrics hook must never turn a good answer into a failure.
    }
  }
}

function parseHost(host: string): URL {
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    throw new TypeError(`Connect host ${JSON.stringify(host)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`Connect host ${JSON.stringify(host)} must be an http or https URL`);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new TypeError('Connect host must not carry credentials, a query or a fragment');
  }
  return url;
}

export function headerValue(
  headers: HttpResponse['headers'],
  lowerCaseName: string,
): string | undefined {
  const value = headers[lowerCaseName];
  return Array.isArray(value) ? value[0] : value;
}

// Connect answers errors as {"status", "message"}; anything else (a proxy's HTML page) is described
// by status and type only, never echoed.
function describeAnswer(response: HttpResponse): string {
  const contentType = headerValue(response.headers, 'content-type');
  if (contentType?.includes('json')) {
    const message = serverMessage(response.body);
    if (message !== undefined) return `${message} (${response.status})`;
  }
  return `unexpected ${response.status} response (${contentType?.split(';')[0]?.trim() || 'no content type'})`;
}

function serverMessage(body: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || !('message' in parsed)) return undefined;
    const { message } = parsed;
    if (typeof message !== 'string' || message.trim() === '') return undefined;
    return message.length > MAX_SERVER_MESSAGE
      ? `${message.slice(0, MAX_SERVER_MESSAGE)}…`
      : message;
  } catch {
    return undefined;
  }
}

function errorCode(error: unknown): string | undefined {
  if (error instanceof AggregateError && error.errors.length > 0) return errorCode(error.errors[0]);
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

function describeCause(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code === undefined || message.includes(code) ? message : `${message} (${code})`;
}
