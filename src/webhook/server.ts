// The injector's HTTPS server: POST /inject for AdmissionReviews, probes and metrics, with a serving certificate that can be swapped while it runs.
import { createServer, type Server } from 'node:https';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { closeServer, listen } from '../util/http-server.ts';
import { reviewReply, type AdmissionReviewResponse, type ImageResolution } from './admission.ts';
import { MAX_REVIEW_CONTAINERS, MAX_REVIEW_DEPTH, jsonShape } from './json-depth.ts';
import type { AdmissionOutcome, WebhookMetrics } from './metrics.ts';
import type { InjectionOptions } from './mutate.ts';
import { quoted } from './quote.ts';
import type { PemKeyPair } from './tls/certificates.ts';
import { OpKubeError } from '../kube/errors.ts';

/** Kubernetes objects are limited to about 1.5 MB in etcd; a review carries the object (and on UPDATE the old one too). */
const BODY_LIMIT = '8mb';
/**
 * The apiserver keeps idle webhook connections for about 90 s. Node's default keep-alive timeout
 * (5 s) closes them under it, and a request the apiserver sends on a connection Node is closing
 * fails: admission errors at random. Headers must be allowed longer than keep-alive.
 */
const KEEP_ALIVE_TIMEOUT_MS = 125_000;
const HEADERS_TIMEOUT_MS = 130_000;

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

/** A body refused before it is parsed; body-parser passes it on with `status` as the code. */
class BodyRefusedError extends OpKubeError<
  'NestingTooDeep' | 'TooManyValues' | 'UnsupportedMediaType'
> {
  override readonly name = 'BodyRefusedError';
  readonly status: 400 | 415;

  constructor(status: 400 | 415, reason: BodyRefusedError['reason'], message: string) {
    super(reason, message);
    this.status = status;
  }
}

/**
 * Runs on the raw (inflated) bytes before JSON.parse builds them: a body of nested brackets takes
 * ~230 MB to parse at 8 MB and overflows the stack of whatever walks it after. UTF-8 only, as RFC
 * 8259 asks and the apiserver sends, since the depth scan reads UTF-8 bytes.
 */
function refuseUnreadable(
  _request: unknown,
  _response: unknown,
  body: Buffer,
  charset: string,
): void {
  if (charset !== 'utf-8') {
    throw new BodyRefusedError(
      415,
      'UnsupportedMediaType',
      `charset must be UTF-8, got ${quoted(charset)}`,
    );
  }
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
  readonly #server: Server;
  #closing: Promise<void> | undefined;
  #draining = false;

  constructor(options: WebhookServerOptions) {
    this.#options = options;
    this.#server = createServer(
      {
        cert: options.certificate.cert,
        key: options.certificate.key,
        minVersion: 'TLSv1.2',
      },
      this.#app(),
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

  #app(): express.Express {
    const { metrics, logger, injection, entrypoints } = this.#options;
    const app = express();
    app.disable('x-powered-by');
    app.disable('etag');
    app.use((request: Request, response: Response, next: NextFunction) => {
      if (this.#draining) response.setHeader('Connection', 'close');
      const started = process.hrtime.bigint();
      response.once('finish', () => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        metrics.request(request.path, response.statusCode, seconds);
      });
      next();
    });
    app.get('/healthz', (_request, response) => {
      response.type('text/plain').send('ok');
    });
    app.get('/readyz', (_request, response) => {
      const why = this.#options.notReady();
      if (why === undefined) response.type('text/plain').send('ok');
      else response.status(503).type('text/plain').send(`not ready: ${why}`);
    });
    app.get('/metrics', async (_request, response) => {
      response.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
    app.post(
      '/inject',
      (request: Request, response: Response, next: NextFunction) => {
        if (!request.is('application/json')) {
          response
            .status(415)
            .json(
              status(
                415,
                'UnsupportedMediaType',
                `Content-Type must be application/json, got ${request.get('content-type') ?? 'none'}`,
              ),
            );
          return;
        }
        next();
      },
      express.json({ limit: BODY_LIMIT, strict: true, verify: refuseUnreadable }),
      async (request: Request, response: Response) => {
        const body: unknown = request.body;
        if (
          body === undefined ||
          (typeof body === 'object' && body !== null && Object.keys(body).length === 0)
        ) {
          response
            .status(400)
            .json(status(400, 'BadRequest', 'empty body: expected an AdmissionReview'));
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
          response
            .status(500)
            .json(status(500, 'InternalError', 'the injector failed to process the review'));
          return;
        }
        if (reply.status === 400) {
          metrics.admission(namespace, 'invalid');
          logger.info({ namespace, reason: reply.body.reason }, reply.body.message);
          response.status(400).json(reply.body);
          return;
        }
        const outcome = outcomeOf(reply.body);
        metrics.admission(namespace, outcome);
        const uid = reply.body.response.uid;
        if (outcome === 'denied') {
          logger.info(
            { uid, namespace, message: reply.body.response.status?.message },
            'pod denied',
          );
        } else if (reply.body.response.warnings) {
          logger.warn(
            { uid, namespace, warnings: reply.body.response.warnings },
            'pod admitted unmutated',
          );
        } else {
          logger.debug({ uid, namespace, outcome }, 'pod admitted');
        }
        response.json(reply.body);
      },
    );
    // body-parser's errors carry the status to answer with: 400 for JSON that does not parse, 413 above the limit.
    app.use((error: unknown, _request: Request, response: Response, next: NextFunction) => {
      if (response.headersSent) {
        next(error);
        return;
      }
      if (error instanceof BodyRefusedError) {
        response.status(error.status).json(status(error.status, error.reason, error.message));
        return;
      }
      const code =
        typeof error === 'object' &&
        error !== null &&
        'status' in error &&
        typeof error.status === 'number'
          ? error.status
          : 500;
      const reason =
        code === 413 ? 'RequestEntityTooLarge' : code < 500 ? 'BadRequest' : 'InternalError';
      const message =
        code === 413
          ? `body larger than ${BODY_LIMIT}`
          : code < 500
            ? `malformed JSON: ${error instanceof Error ? error.message : String(error)}`
            : 'internal error';
      if (code >= 500) logger.error({ err: error }, 'request failed');
      response.status(code).json(status(code, reason, message));
    });
    return app;
  }
}
