// Starts the injector: the TLS source its mode names, the HTTPS server, the leader's certificate controller (self-managed), or 1Password's in-memory CA, on one Manager.
import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { WebhookConfig } from './config.ts';
import { createWebhookMetrics } from './metrics.ts';
import { WebhookServer } from './server.ts';
import { filesMode } from './tls-files-mode.ts';

export interface RunningWebhook {
  readonly port: number;
  /** Resolves once stopped. */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
}

export async function runWebhook(
  config: WebhookConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<RunningWebhook> {
  const metrics = createWebhookMetrics();
  const resolving = config.entrypoints;
  // Before the TLS mode starts anything: a bad --registry-ca-file fails here, holding nothing.
  // Its own client: the files TLS mode has none, and pull Secret reads should not queue behind TLS work.
  // What a mode or option needs is loaded only with it: the Kubernetes client, the registry client
  // and the certificate authority are most of the module graph, and a webhook serving files
  // without --resolve-entrypoints needs none of them: 7.5 MB less RSS at start (docs/benchmarks.md).
  const pullSecretsClient = resolving?.pullSecrets
    ? await import('../kube/client/client.ts').then(
        async ({ KubeClient }) =>
          new KubeClient(
            (await import('../kube/client/kubeconfig.ts')).loadKubeConfig({
              kubeconfig: config.kubeconfig,
              env,
            }),
            { userAgent: 'op-kube-webhook' },
          ),
      )
    : undefined;
  const entrypoints = resolving
    ? (await import('./registry/setup.ts')).entrypointResolution({
        config: resolving,
        kube: pullSecretsClient,
        metrics,
        logger,
        userAgent: 'op-kube-webhook',
      })
    : undefined;
  const { manager, tls, beforeServerStops } =
    config.tls.mode === 'files'
      ? await filesMode(config.tls, logger)
      : config.tls.mode === 'onepassword'
        ? await (await import('./tls-mode.ts')).onePasswordMode(config, env, logger)
        : await (await import('./tls-mode.ts')).selfManagedMode(config, config.tls, env, logger);
  let shuttingDown = false;
  if (pullSecretsClient) manager.addCloser(() => pullSecretsClient.close());
  if (resolving) {
    logger.info(
      {
        timeout: `${resolving.timeoutMs}ms`,
        pullSecrets: resolving.pullSecrets,
        onFailure: resolving.onFailure,
        ...(resolving.caFile ? { caFile: resolving.caFile } : {}),
      },
      'containers without a command get their image entrypoint from its registry',
    );
  }
  const server = new WebhookServer({
    host: config.host,
    port: config.port,
    injection: config.injection,
    ...(entrypoints ? { entrypoints } : {}),
    metrics,
    logger,
    certificate: tls.initial,
    notReady: () => (shuttingDown ? 'shutting down' : (tls.notReady() ?? manager.notReady())),
  });
  tls.onCertificate((pair, source) => {
    server.setCertificate(pair);
    // The first certificate of the chain, as tls/certificates.ts describeCertificate reads it.
    const certificate = new X509Certificate(pair.cert);
    const notAfter = certificate.validToDate;
    const fingerprint = certificate.fingerprint256;
    metrics.certificate(notAfter);
    metrics.tlsReload('success');
    logger.info(
      { source, notAfter: notAfter.toISOString(), fingerprint },
      'serving certificate loaded',
    );
  });
  tls.onReloadFailed(() => metrics.tlsReload('failure'));
  manager.add(tls, { leaderOnly: false });

  // Listening first: /healthz answers while the caches sync (self-managed: the TLS Secret).
  const port = await server.start();
  manager.start().catch((error: unknown) => {
    // Only a stop before the caches synced ends a start early.
    if (!shuttingDown) logger.error({ err: error }, 'the webhook could not start');
  });
  logger.info({ port, tlsMode: config.tls.mode }, 'webhook listening');

  let stopping: Promise<void> | undefined;
  return {
    port,
    stopped: manager.stopped,
    stop: () =>
      (stopping ??= (async () => {
        // With failurePolicy Fail a request routed here after close would fail a pod: report not
        // ready and keep serving until the endpoints have dropped this pod, closing each kept-alive
        // connection after its next reply; a configuration this process registered is removed
        // first, so the apiserver stops calling before the server closes (a pod created in that
        // gap was refused: CI saw it). Then stop accepting; requests in flight finish. Then the
        // manager: controller, Lease, watches, clients.
        shuttingDown = true;
        logger.info({ shutdownDelayMs: config.shutdownDelayMs }, 'shutting down: not ready');
        server.drain();
        await beforeServerStops?.();
        if (config.shutdownDelayMs > 0) await sleep(config.shutdownDelayMs);
        logger.debug('shutting down: closing the server');
        await server.stop();
        logger.debug('shutting down: stopping the manager');
        await manager.stop();
      })()),
  };
}
