// The injector's HTTPS server: POST /inject for AdmissionReviews, probes and metrics, with a serving certificate that can be swapped while it runs.
// A bare node:https request handler, not express: express and body-parser (with qs, whose
// dependencies touch the node binary's Intl data) cost the webhook ~14 MB of RSS and ~8% of its
// CPU for four routes and one JSON body (docs/decisions/028-webhook-without-express.md). What
// express and body-parser did that the apiserver or a test relies on is kept here: the routes
// matched case-insensitively with or without a trailing slash, GET answering HEAD, 404 for any
// other method, gzip/deflate/br/zstd bodies, the 8 MB limit counted after inflating, UTF-8 with an
// optional byte order mark, strict JSON (an object or an array), and the same Status answers.
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as Https from 'node:https';
import type { Readable, Transform } from 'node:stream';
import type * as Zlib from 'node:zlib';
import type { Logger } from 'pino';
import { closeServer, listen } from '../util/http-server.ts';
import { reviewReply, type AdmissionReviewResponse, type ImageResolution } from './admission.ts';
import { MAX_REVIEW_CONTAINERS, MAX_REVIEW_DEPTH, jsonShape } from './json-depth.ts';
import type { AdmissionOutcome, WebhookMetrics } from './metrics.ts';
import type { InjectionOptions } from './mutate.ts';
import { MAX_QUOTED_LENGTH, quoted } from './quote.ts';
import type { PemKeyPair } from './tls/certificates.ts';
import { OpKubeError } from '../kube/errors.ts';

// require(), not an ES import: see src/util/node-http.ts (an ES import of node:http's namespace
// loads Node's bundled undici, ~14 MB). zlib only for a compressed body.
const require = createRequire(import.meta.url);
const https = require('node:https') as typeof Https;

/** Kubernetes objects are limited to about 1.5 MB in etcd; a review carries the object (and on UPDATE the old one too). */
const BODY_LIMIT_BYTES = 8 * 1024 * 1024;
const BODY_LIMIT = '8mb';
/**
 * The apiserver keeps idle webhook connections for about 90 s. Node's default keep-alive timeout
 * (5 s) closes them under it, and a request the apiserver sends on a connection Node is closing
 * fails: admission errors at random. Headers must be allowed longer than keep-alive.
 */
const KEEP_ALIVE_TIMEOUT_MS = 125_000;
const HEADERS_TIMEOUT_MS = 130_000;
/**
 * How long a request's body may take to arrive, from its headers to its last byte. The apiserver
 * sends a review at once and gives up on a webhook after at most 30 s (timeoutSeconds); a body
 * still arriving after that is a stalled or hostile client, whose connection is answered 408 and
 * closed. Before (express), only Node's 300 s request timeout ended it.
 */
const BODY_TIMEOUT_MS = 30_000;

export interface WebhookServerOptions {
  readonly host: string;
  readonly port: number;
  readonly injection: InjectionOptions;
  readonly metrics: WebhookMetrics;
  readonly logger: Logger;
  /** The certificate to start with; `setCertificate` replaces it. */
  readonly certificate: PemKeyPair;
  /** --resolve-entrypoints: reads images' ENTRYPOINT and CMD before the (pure) admission. */
  readonly entrypoints?: { resolve(body: unknown): Promise<ImageResolution | undefined> };
  /** Undefined when ready to admit pods, else why not (the /readyz body). */
  readonly notReady: () => string | undefined;
  /** How long a request body may take to arrive (BODY_TIMEOUT_MS unless a test says otherwise). */
  readonly bodyTimeoutMs?: number;
}

interface StatusBody {
  apiVersion: 'v1';
  kind: 'Status';
  status: 'Failure';
  code: number;
  reason: string;
  message: string;
}

function status(code: number, reason: string, message: string): StatusBody {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, reason, message };
}

type RefusalReason =
  | 'BadRequest'
  | 'NestingTooDeep'
  | 'TooManyValues'
  | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge';

/** A body refused before it is parsed, or that does not parse: answered with `status` and a Status. */
class BodyRefusedError extends OpKubeError<RefusalReason> {
  override readonly name = 'BodyRefusedError';
  readonly status: 400 | 413 | 415;

  constructor(status: 400 | 413 | 415, reason: RefusalReason, message: string) {
    super(reason, message);
    this.status = status;
  }
}

/** The client went away, or the body timed out: nothing is owed, or the 408 is already sent. */
class RequestGoneError extends Error {
  override readonly name = 'RequestGoneError';
}

const tooLarge = (): BodyRefusedError =>
  new BodyRefusedError(413, 'RequestEntityTooLarge', `body larger than ${BODY_LIMIT}`);

/** A header value for a message: as sent, cut short. */
function shown(value: string): string {
  return value.length <= MAX_QUOTED_LENGTH ? value : `${value.slice(0, MAX_QUOTED_LENGTH)}…`;
}

/**
 * The media type and charset of a Content-Type, read as express read them (type-is and
 * content-type): the type is what comes before the first `;`, trimmed and lowercased; parameters
 * that do not parse are skipped, and the first charset wins.
 */
export function contentType(header: string): { type: string; charset: string | undefined } {
  const [type = '', ...parameters] = header.split(';');
  let charset: string | undefined;
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=');
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    let value = parameter.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    if (value !== '') {
      charset = value.toLowerCase();
      break;
    }
  }
  return { type: type.trim().toLowerCase(), charset };
}

let zlib: typeof Zlib | undefined;

/** The stream that undoes the body's Content-Encoding, as body-parser's; none for identity. */
function inflaterFor(request: IncomingMessage): Transform | undefined {
  const encoding = (request.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding === 'identity') return undefined;
  zlib ??= require('node:zlib') as typeof Zlib;
  const inflater =
    encoding === 'gzip'
      ? zlib.createGunzip()
      : encoding === 'deflate'
        ? zlib.createInflate()
        : encoding === 'br'
          ? zlib.createBrotliDecompress()
          : encoding === 'zstd' && 'createZstdDecompress' in zlib
            ? zlib.createZstdDecompress()
            : undefined;
  if (inflater === undefined) {
    throw new BodyRefusedError(
      415,
      'UnsupportedMediaType',
      `unsupported content encoding ${quoted(encoding)}`,
    );
  }
  return inflater;
}

/**
 * The request's body, inflated, at most BODY_LIMIT_BYTES. Refuses a Content-Length over the limit
 * before reading anything. On a refusal the rest of the body is read and dropped (bounded by the
 * body timeout), so a kept-alive connection can carry the next review.
 */
function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = request.headers['content-length'];
    if (declared !== undefined && Number(declared) > BODY_LIMIT_BYTES) {
      request.resume();
      reject(tooLarge());
      return;
    }
    let inflater: Transform | undefined;
    try {
      inflater = inflaterFor(request);
    } catch (error) {
      request.resume();
      reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    const source: Readable = inflater ?? request;
    if (inflater) request.pipe(inflater);
    const chunks: Buffer[] = [];
    let length = 0;
    const stop = (error: Error): void => {
      source.off('data', onData);
      source.off('end', onEnd);
      if (inflater) {
        request.unpipe(inflater);
        inflater.on('error', () => {});
        inflater.destroy();
      }
      request.resume();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > BODY_LIMIT_BYTES) stop(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = (): void => {
      // After an inflated body, bytes the client sent past the compressed stream are dropped.
      if (inflater) request.resume();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length));
    };
    source.on('data', onData);
    source.once('end', onEnd);
    if (inflater) {
      inflater.once('error', (error: Error) =>
        stop(new BodyRefusedError(400, 'BadRequest', `malformed JSON: ${error.message}`)),
      );
    }
    request.once('error', () => stop(new RequestGoneError('the client went away')));
    request.once('aborted', () => stop(new RequestGoneError('the client went away')));
  });
}

/**
 * Refuses what JSON.parse should not see (a body of nested brackets takes ~230 MB to parse at
 * 8 MB and overflows the stack of whatever walks it after), then parses: strict (an object or an
 * array), UTF-8 with an optional byte order mark. An empty body reads as `{}`, as body-parser
 * read it.
 */
function parseBody(body: Buffer): unknown {
  const shape = jsonShape(body, { depth: MAX_REVIEW_DEPTH, containers: MAX_REVIEW_CONTAINERS });
  if (shape.depth > MAX_REVIEW_DEPTH) {
    throw new BodyRefusedError(
      400,
      'NestingTooDeep',
      `JSON nested deeper than ${MAX_REVIEW_DEPTH} levels; no AdmissionReview is`,
    );
  }
  if (shape.containers > MAX_REVIEW_CONTAINERS) {
    throw new BodyRefusedError(
      400,
      'TooManyValues',
      `JSON with more than ${MAX_REVIEW_CONTAINERS} objects and arrays; no AdmissionReview has that many`,
    );
  }
  let text = body.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) return {};
  const first = /[^ \t\n\r]/.exec(text)?.[0];
  if (first !== '{' && first !== '[') {
    throw new BodyRefusedError(
      400,
      'BadRequest',
      `malformed JSON: ${first === undefined ? 'only whitespace' : `unexpected ${quoted(first)} at the start`}: an AdmissionReview is a JSON object`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new BodyRefusedError(
      400,
      'BadRequest',
      `malformed JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function outcomeOf(response: AdmissionReviewResponse): AdmissionOutcome {
  if (!response.response.allowed) return 'denied';
  return response.response.patch === undefined ? 'skipped' : 'injected';
}

const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The namespace a review names, read defensively: the body may be anything. Only a valid
 * namespace name becomes a metric label, so a caller cannot make one of any size.
 */
function reviewNamespace(body: unknown): string {
  const request = (body as { request?: { namespace?: unknown } } | undefined)?.request;
  return typeof request?.namespace === 'string' && NAMESPACE_NAME.test(request.namespace)
    ? request.namespace
    : '';
}

export class WebhookServer {
  readonly #options: WebhookServerOptions;
  readonly #server: Https.Server;
  readonly #bodyTimeoutMs: number;
  #closing: Promise<void> | undefined;
  #draining = false;

  constructor(options: WebhookServerOptions) {
    this.#options = options;
    this.#bodyTimeoutMs = options.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
    this.#server = https.createServer(
      {
        cert: options.certificate.cert,
        key: options.certificate.key,
        minVersion: 'TLSv1.2',
      },
      (request, response) => this.#handle(request, response),
    );
    this.#server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.#server.headersTimeout = HEADERS_TIMEOUT_MS;
  }

  /** Listens; resolves to the bound port. */
  async start(): Promise<number> {
    const { host, port } = this.#options;
    return (await listen(this.#server, host, port)).port;
  }

  /** New connections use `pair`; established ones keep theirs, as TLS sessions must. */
  setCertificate(pair: PemKeyPair): void {
    this.#server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
  }

  /**
   * From now on every reply asks its client to close the connection (`Connection: close`), as Go's
   * server does once shutting down. The apiserver keeps a kept-alive connection pinned to this pod
   * through the Service after the endpoints dropped it; retired after a reply, it reconnects to a
   * ready replica. Left open until `stop`, it would be closed under a review the apiserver may be
   * sending at that moment: a POST that Go's client does not retry, so a refused pod.
   */
  drain(): void {
    this.#draining = true;
  }

  /** Stops accepting connections and waits for requests in flight. */
  stop(): Promise<void> {
    this.#closing ??= closeServer(this.#server);
    return this.#closing;
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const { metrics } = this.#options;
    const started = process.hrtime.bigint();
    if (this.#draining) response.setHeader('Connection', 'close');
    // The path as express's req.path: without the query, not decoded.
    const path = /^(?:[a-z][a-z0-9+.-]*:\/\/[^/?#]*)?([^?#]*)/i.exec(request.url ?? '')?.[1] ?? '';
    response.once('finish', () => {
      metrics.request(path, response.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    });
    // The whole body must arrive within the body timeout, whatever the route (Node reads and drops
    // a body no handler reads); the timer ends with the request.
    const timer = setTimeout(() => this.#timedOut(request, response), this.#bodyTimeoutMs);
    request.once('end', () => clearTimeout(timer));
    // Routes as express matched them: case-insensitive, one trailing slash allowed; GET answers
    // HEAD; another method on a known path is a 404, as it was.
    const route = (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).toLowerCase();
    const method = request.method;
    const get = method === 'GET' || method === 'HEAD';
    try {
      if (route === '/inject' && method === 'POST') {
        this.#inject(request, response).catch((error: unknown) =>
          this.#failed(request, response, error),
        );
      } else if (route === '/healthz' && get) {
        text(response, 200, 'ok');
      } else if (route === '/readyz' && get) {
        const why = this.#options.notReady();
        if (why === undefined) text(response, 200, 'ok');
        else text(response, 503, `not ready: ${why}`);
      } else if (route === '/metrics' && get) {
        metrics.registry.metrics().then(
          (body) => send(response, 200, metrics.registry.contentType, body),
          (error: unknown) => this.#failed(request, response, error),
        );
      } else {
        response.setHeader('X-Content-Type-Options', 'nosniff');
        text(response, 404, '404 page not found\n');
      }
    } catch (error) {
      this.#failed(request, response, error);
    }
  }

  /** The body did not arrive in time: 408 and the connection closed, or closed if answered already. */
  #timedOut(request: IncomingMessage, response: ServerResponse): void {
    // Received whole (its 'end' not read yet): the connection may carry the next review.
    if (request.complete) return;
    if (response.headersSent) {
      request.socket.destroy();
      return;
    }
    response.setHeader('Connection', 'close');
    json(
      response,
      408,
      status(
        408,
        'RequestTimeout',
        `the request body did not arrive within ${this.#bodyTimeoutMs / 1000}s`,
      ),
    );
  }

  /** Anything unexpected: a 500 with nothing of the cause, logged. */
  #failed(request: IncomingMessage, response: ServerResponse, error: unknown): void {
    if (error instanceof RequestGoneError) return;
    this.#options.logger.error({ err: error }, 'request failed');
    if (response.headersSent) {
      request.socket.destroy();
      return;
    }
    json(response, 500, status(500, 'InternalError', 'internal error'));
  }

  async #inject(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { metrics, logger, injection, entrypoints } = this.#options;
    const header = request.headers['content-type'];
    const type = contentType(header ?? '');
    if (type.type !== 'application/json') {
      request.resume();
      json(
        response,
        415,
        status(
          415,
          'UnsupportedMediaType',
          `Content-Type must be application/json, got ${header ? shown(header) : 'none'}`,
        ),
      );
      return;
    }
    let body: unknown;
    try {
      // UTF-8 only, as RFC 8259 asks and the apiserver sends: the depth scan reads UTF-8 bytes.
      if (type.charset !== undefined && type.charset !== 'utf-8') {
        request.resume();
        throw new BodyRefusedError(
          415,
          'UnsupportedMediaType',
          `charset must be UTF-8, got ${quoted(type.charset)}`,
        );
      }
      body = parseBody(await readBody(request));
    } catch (error) {
      if (!(error instanceof BodyRefusedError)) throw error;
      // The body timer may have answered already.
      if (!response.headersSent) {
        json(response, error.status, status(error.status, error.reason, error.message));
      }
      return;
    }
    if (response.headersSent) return;
    if (typeof body === 'object' && body !== null && Object.keys(body).length === 0) {
      json(response, 400, status(400, 'BadRequest', 'empty body: expected an AdmissionReview'));
      return;
    }
    const namespace = reviewNamespace(body);
    let reply;
    try {
      // I/O first (registries, pull Secrets; bounded by --registry-timeout), then the pure part.
      const resolution = await entrypoints?.resolve(body);
      reply = reviewReply(body, injection, resolution);
    } catch (error) {
      metrics.admission(namespace, 'error');
      logger.error({ err: error, namespace }, 'admission failed');
      json(
        response,
        500,
        status(500, 'InternalError', 'the injector failed to process the review'),
      );
      return;
    }
    if (reply.status === 400) {
      metrics.admission(namespace, 'invalid');
      logger.info({ namespace, reason: reply.body.reason }, reply.body.message);
      json(response, 400, reply.body);
      return;
    }
    const outcome = outcomeOf(reply.body);
    metrics.admission(namespace, outcome);
    const uid = reply.body.response.uid;
    if (outcome === 'denied') {
      logger.info({ uid, namespace, message: reply.body.response.status?.message }, 'pod denied');
    } else if (reply.body.response.warnings) {
      logger.warn(
        { uid, namespace, warnings: reply.body.response.warnings },
        'pod admitted unmutated',
      );
    } else {
      logger.debug({ uid, namespace, outcome }, 'pod admitted');
    }
    json(response, 200, reply.body);
  }
}

/** A complete answer with its length; a HEAD request gets the headers only (Node drops the body). */
function send(response: ServerResponse, code: number, type: string, body: string): void {
  if (response.headersSent) return;
  response.writeHead(code, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
  });
  response.end(body);
}

function text(response: ServerResponse, code: number, body: string): void {
  send(response, code, 'text/plain; charset=utf-8', body);
}

function json(response: ServerResponse, code: number, body: unknown): void {
  send(response, code, 'application/json; charset=utf-8', JSON.stringify(body));
}
