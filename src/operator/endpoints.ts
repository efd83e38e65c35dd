// The operator's probe (/healthz, /readyz) and metrics (/metrics) listeners.
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import express from 'express';
import type { Registry } from 'prom-client';
import type { Manager } from '../kube/runtime/manager.ts';
import { closeServer, listen } from '../util/http-server.ts';
import type { OperatorConfig } from './config.ts';

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
  const server = createHttpServer(app);
  return { server, port: (await listen(server, address.host, address.port)).port };
}

export async function serveMetrics(
  address: { host: string; port: number },
  registry: Registry,
  tls?: { certFile: string; keyFile: string },
): Promise<{ server: Server; port: number }> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  const server = tls
    ? createHttpsServer(
        {
          cert: await readFile(tls.certFile),
          key: await readFile(tls.keyFile),
          minVersion: 'TLSv1.2',
        },
        app,
      )
    : createHttpServer(app);
  return { server, port: (await listen(server, address.host, address.port)).port };
}

export interface Endpoints {
  readonly probePort?: number;
  readonly metricsPort?: number;
}

/** The listeners the configuration asks for, each closed by the manager when it stops. */
export async function serveEndpoints(
  manager: Manager,
  config: Pick<OperatorConfig, 'probeAddress' | 'metrics'>,
  registry: Registry,
): Promise<Endpoints> {
  const probes = config.probeAddress
    ? await serveProbes(config.probeAddress, () => manager.notReady())
    : undefined;
  const metrics = config.metrics.address
    ? await serveMetrics(config.metrics.address, registry, config.metrics.tls)
    : undefined;
  if (metrics) manager.addCloser(() => closeServer(metrics.server));
  if (probes) manager.addCloser(() => closeServer(probes.server));
  return {
    ...(probes ? { probePort: probes.port } : {}),
    ...(metrics ? { metricsPort: metrics.port } : {}),
  };
}
