// Wires the injector together: configuration → TLS (files or self-managed with leader election) → HTTPS server.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ConfigError } from '../cli/errors.ts';
import { KubeClient } from '../kube/client.ts';
import { loadKubeConfig } from '../kube/kubeconfig.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import type { WebhookConfig } from './config.ts';
import { createWebhookMetrics } from './metrics.ts';
import { WebhookServer } from './server.ts';
import {
  describeCertificate,
  generateCertificateAuthority,
  issueServingCertificate,
  servingNames,
  type PemKeyPair,
} from './tls/certificates.ts';
import { loadKeyPair, watchCertificateFiles } from './tls/file-watcher.ts';
import { SelfManagedTls } from './tls/self-managed.ts';

export interface RunningWebhook {
  readonly port: number;
  /** Resolves once stopped. */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
}

/**
 * A certificate nobody trusts, so the listener (and its /healthz, which the kubelet probes without
 * verifying) is up while a replica waits for the leader's first certificate; /readyz says not ready
 * until then, so no Service routes admission requests to it.
 */
async function placeholderCertificate(): Promise<PemKeyPair> {
  const now = new Date();
  const ca = await generateCertificateAuthority({
    now,
    validityMs: 86_400_000,
    commonName: 'op-kube-placeholder',
  });
  return issueServingCertificate(ca, {
    dnsNames: ['op-kube-placeholder'],
    now,
    validityMs: 86_400_000,
  });
}

export async function runWebhook(
  config: WebhookConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<RunningWebhook> {
  const metrics = createWebhookMetrics();
  let waitingFor: string | undefined;
  // Created once the first certificate is known; certificates arrive only after it is listening.
  const current: { server?: WebhookServer } = {};
  const useCertificate = (pair: PemKeyPair, source: string): void => {
    current.server?.setCertificate(pair);
    const { notAfter, fingerprint } = describeCertificate(pair.cert);
    metrics.certificate(notAfter);
    metrics.tlsReload('success');
    waitingFor = undefined;
    logger.info(
      { source, notAfter: notAfter.toISOString(), fingerprint },
      'serving certificate loaded',
    );
  };

  const cleanups: (() => Promise<void> | void)[] = [];
  let initial: PemKeyPair;
  let start: () => void = () => {};
  if (config.tls.mode === 'files') {
    const { certFile, keyFile } = config.tls;
    initial = await loadKeyPair(certFile, keyFile).catch((error: unknown) => {
      throw new ConfigError(
        '--tls-cert-file',
        error instanceof Error ? error.message : String(error),
      );
    });
    start = () => {
      const watch = watchCertificateFiles({
        certFile,
        keyFile,
        current: initial,
        onChange: (pair) => useCertificate(pair, `${certFile} and ${keyFile}`),
        onError: (error) => {
          metrics.tlsReload('failure');
          logger.warn(
            { err: error },
            'certificate files changed but cannot be used; serving the previous certificate',
          );
        },
      });
      cleanups.push(() => watch.close());
    };
  } else {
    const tlsConfig = config.tls;
    const loaded = loadKubeConfig({ kubeconfig: config.kubeconfig, env });
    const namespace = config.namespace ?? loaded.namespace;
    if (namespace === undefined) {
      throw new ConfigError('--namespace', 'is required outside a pod (or set POD_NAMESPACE)');
    }
    const kube = new KubeClient(loaded, { userAgent: 'op-kube-webhook' });
    const names = servingNames({
      service: config.serviceName,
      namespace,
      ...(config.register ? { registerUrl: config.register.url.toString() } : {}),
    });
    const tls = new SelfManagedTls({
      client: kube,
      namespace,
      secretName: tlsConfig.secretName,
      webhookConfigName: config.webhookConfigName,
      rotation: {
        serviceNames: names.dnsNames,
        ipAddresses: names.ipAddresses,
        validityMs: tlsConfig.validityMs,
        rotateBeforeMs: tlsConfig.rotateBeforeMs,
        caPropagationMs: tlsConfig.caPropagationMs,
      },
      ...(config.register ? { register: config.register } : {}),
      logger,
      onCertificate: (pair) => useCertificate(pair, `Secret ${namespace}/${tlsConfig.secretName}`),
    });
    waitingFor = `waiting for the serving certificate in Secret ${namespace}/${tlsConfig.secretName}`;
    initial = await placeholderCertificate();
    let leading = false;
    const elector = new LeaderElector(kube, {
      namespace,
      name: tlsConfig.leaseName,
      identity: env.POD_NAME ? `${env.POD_NAME}_${process.pid}` : undefined,
      callbacks: {
        onStartedLeading: (signal) => {
          leading = true;
          logger.info(
            { lease: `${namespace}/${tlsConfig.leaseName}` },
            'leading: keeping the webhook TLS current',
          );
          return tls.lead(signal);
        },
        onStoppedLeading: () => {
          leading = false;
        },
      },
      onError: (error, phase) => logger.warn({ err: error, phase }, 'leader election'),
    });
    start = () => {
      tls.start();
      elector.start();
    };
    cleanups.push(async () => {
      const wasLeading = leading;
      await elector.release();
      // Local runs only: the configuration points at this machine and must not outlive it.
      if (config.register && wasLeading) {
        await tls
          .unregister()
          .catch((error: unknown) =>
            logger.warn({ err: error }, 'could not remove the webhook configuration'),
          );
      }
      await tls.stop();
      await kube.close();
    });
  }

  const server = new WebhookServer({
    host: config.host,
    port: config.port,
    injection: config.injection,
    metrics,
    logger,
    certificate: initial,
    notReady: () => waitingFor,
  });
  current.server = server;
  if (config.tls.mode === 'files') useCertificate(initial, 'files');
  const port = await server.start();
  start();
  logger.info({ port, tlsMode: config.tls.mode }, 'webhook listening');

  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });
  let stopping: Promise<void> | undefined;
  return {
    port,
    stopped,
    stop: () =>
      (stopping ??= (async () => {
        // With failurePolicy Fail a request routed here after close would fail a pod: report not
        // ready and keep serving until the endpoints have dropped this pod, then stop accepting;
        // requests in flight finish.
        waitingFor = 'shutting down';
        if (config.shutdownDelayMs > 0) await sleep(config.shutdownDelayMs);
        await server.stop();
        for (const cleanup of cleanups.reverse()) await cleanup();
        resolveStopped();
      })()),
  };
}
