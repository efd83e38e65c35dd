// The operator's probe (/healthz, /readyz) and metrics (/metrics) listeners: bare node:http
// handlers. express (with body-parser → qs → side-channel/get-intrinsic/object-inspect, which touch
// the node binary's Intl data) cost about 16 MB of RSS for three GET routes
// (docs/benchmarks.md, "Operator memory").
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Manager } from '../kube/runtime/manager.ts';
import { closeServer, listen } from '../util/http-server.ts';
import { http } from '../util/node-http.ts';
import { loadKeyPair, watchCertificateFiles } from '../util/tls-files.ts';
import type { OperatorConfig } from './config.ts';
import {
  MetricsAuthorizer,
  selfSignedMetricsCertificate,
  type ReviewClient,
} from './metrics-auth.ts';

export interface Readiness {
  /** Undefined when ready, else why not (shown in the /readyz body). */
  (): string | undefined;
}

type Send = (res: ServerResponse, status: number, type: string, body: string) => void;

/**
 * The body with its length (HEAD: the headers only, as for GET). No route reads a request body: if
 * the caller announced one, the connection closes after the answer instead of reading it.
 */
const send: Send = (res, status, type, body) => {
  const { headers, method } = res.req;
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    ...(headers['content-length'] || headers['transfer-encoding'] ? { connection: 'close' } : {}),
  });
  res.end(method === 'HEAD' ? undefined : body);
};

const TEXT = 'text/plain; charset=utf-8';

/**
 * The request's path without its query, as express's `req.path` (the raw, undecoded pathname);
 * undefined for a target that is no path (`*`, or an absolute URL that does not parse).
 */
function pathOf(target: string): string | undefined {
  if (target.startsWith('/')) {
    const end = target.search(/[?#]/);
    return end === -1 ? target : target.slice(0, end);
  }
  try {
    return new URL(target).pathname;
  } catch {
    return undefined;
  }
}

/**
 * One route per path, GET and HEAD only, matched as express matched them: case-insensitive, one
 * trailing slash allowed. OPTIONS answers the allowed methods; anything else is 404 at once
 * (express waited for the whole request body before its 404, so a trickled "1 GB" body held the
 * connection). The 404 body names
 * nothing the caller sent (express echoed the path into an HTML page).
 */
function route(
  routes: Readonly<Record<string, (res: ServerResponse) => void>>,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = pathOf(req.url ?? '');
    const key = path?.toLowerCase().replace(/(.)\/$/, '$1');
    const handler = key === undefined ? undefined : routes[key];
    if (handler && (req.method === 'GET' || req.method === 'HEAD')) return handler(res);
    if (handler && req.method === 'OPTIONS') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 200, 'text/plain', 'GET, HEAD');
    }
    send(res, 404, TEXT, '404 page not found\n');
  };
}

export async function serveProbes(
  address: { host: string; port: number },
  notReady: Readiness,
): Promise<{ server: Server; port: number }> {
  const server = http.createServer(
    route({
      '/healthz': (res) => send(res, 200, TEXT, 'ok'),
      '/readyz': (res) => {
        const why = notReady();
        if (why === undefined) send(res, 200, TEXT, 'ok');
        else send(res, 503, TEXT, `not ready: ${why}`);
      },
    }),
  );
  return { server, port: (await listen(server, address.host, address.port)).port };
}

export interface MetricsServing {
  /**
   * Certificate files (--metrics-cert-path), reloaded when they change (cert-manager renewing
   * them), as 1Password's operator reloads them; with `secure` and none, a self-signed one.
   */
  readonly tls?: { certFile: string; keyFile: string };
  /** Told of each reload, and of files that cannot be read or hold an unusable pair (kept serving the last good one). */
  readonly logger?: Pick<Logger, 'info' | 'warn'>;
  /**
   * --metrics-secure (1Password's default): HTTPS, and each caller's bearer token reviewed by the
   * apiserver (TokenReview) and allowed `get` on the path (SubjectAccessReview).
   */
  readonly authorizer?: MetricsAuthorizer;
}

export async function serveMetrics(
  address: { host: string; port: number },
  registry: Registry,
  serving: MetricsServing = {},
): Promise<{ server: Server; port: number }> {
  const { authorizer, tls } = serving;
  const metrics = route({
    '/metrics': (res) => {
      registry.metrics().then(
        (text) => send(res, 200, registry.contentType, text),
        (error: unknown) => {
          // The collector's error goes to the log, not to the caller (express answered it
          // with the message and a stack trace).
          serving.logger?.warn({ err: error }, 'metrics collection failed');
          send(res, 500, TEXT, 'Internal Server Error\n');
        },
      );
    },
  });
  // --metrics-secure: every request is reviewed before routing (controller-runtime's filter
  // wraps the whole handler), with the path as express's req.path and HEAD reviewed as get.
  const app = !authorizer
    ? metrics
    : (req: IncomingMessage, res: ServerResponse): void => {
        const method = req.method ?? 'GET';
        authorizer
          .check(
            req.headers.authorization,
            pathOf(req.url ?? '') ?? req.url ?? '',
            method === 'HEAD' ? 'get' : method.toLowerCase(),
          )
          .then(({ status, reason }) => {
            if (status === 200) metrics(req, res);
            else send(res, status, TEXT, `${reason}\n`);
          })
          .catch((error: unknown) => {
            serving.logger?.warn({ err: error }, 'metrics request failed');
            if (!res.headersSent) send(res, 500, TEXT, 'Internal Server Error\n');
          });
      };
  const pair = tls
    ? await loadKeyPair(tls.certFile, tls.keyFile)
    : authorizer
      ? await selfSignedMetricsCertificate()
      : undefined;
  if (!pair) {
    const server = http.createServer(app);
    return { server, port: (await listen(server, address.host, address.port)).port };
  }
  const server = createHttpsServer({ ...pair, minVersion: 'TLSv1.2' }, app);
  if (tls) {
    const watch = watchCertificateFiles({
      ...tls,
      current: pair,
      onChange: (next) => {
        server.setSecureContext({ ...next, minVersion: 'TLSv1.2' });
        serving.logger?.info({ certFile: tls.certFile }, 'metrics certificate reloaded');
      },
      onError: (error) =>
        serving.logger?.warn(
          { err: error, certFile: tls.certFile },
          'metrics certificate not reloaded: serving the last good one',
        ),
    });
    server.once('close', () => watch.close());
  }
  return { server, port: (await listen(server, address.host, address.port)).port };
}

export interface Endpoints {
  readonly probePort?: number;
  readonly metricsPort?: number;
}

/**
 * The listeners the configuration asks for, each closed by the manager when it stops. `reviews`
 * (the apiserver client) checks the callers of /metrics when it is secure.
 */
export async function serveEndpoints(
  manager: Manager,
  config: Pick<OperatorConfig, 'probeAddress' | 'metrics'>,
  registry: Registry,
  reviews: ReviewClient,
  logger: Pick<Logger, 'info' | 'warn'>,
): Promise<Endpoints> {
  const probes = config.probeAddress
    ? await serveProbes(config.probeAddress, () => manager.notReady())
    : undefined;
  const metrics = config.metrics.address
    ? await serveMetrics(config.metrics.address, registry, {
        ...(config.metrics.tls ? { tls: config.metrics.tls } : {}),
        logger,
        ...(config.metrics.secure
          ? { authorizer: new MetricsAuthorizer({ client: reviews }) }
          : {}),
      })
    : undefined;
  if (metrics) manager.addCloser(() => closeServer(metrics.server));
  if (probes) manager.addCloser(() => closeServer(probes.server));
  return {
    ...(probes ? { probePort: probes.port } : {}),
    ...(metrics ? { metricsPort: metrics.port } : {}),
  };
}
