// The operator's probe (/healthz, /readyz) and metrics (/metrics) listeners.
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import express from 'express';
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

export async function serveProbes(
  address: { host: string; port: number },
  notReady: Readiness,
): Promise<{ server: Server; port: number }> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const why = notReady();
    if (why === undefined) res.type('text/plain').send('ok');
    else res.status(503).type('text/plain').send(`not ready: ${why}`);
  });
  const server = http.createServer(app);
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
  const app = express();
  app.disable('x-powered-by');
  const { authorizer, tls } = serving;
  if (authorizer) {
    app.use((req, res, next) => {
      authorizer
        .check(
          req.headers.authorization,
          req.path,
          req.method === 'HEAD' ? 'get' : req.method.toLowerCase(),
        )
        .then(({ status, reason }) => {
          if (status === 200) next();
          else res.status(status).type('text/plain').send(`${reason}\n`);
        }, next);
    });
  }
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
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
