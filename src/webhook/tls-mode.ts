// The webhook's TLS modes, each a Manager and a TlsSource: files on disk, a Secret kept by the leader's controller, or 1Password's in-memory CA.
import type { V1MutatingWebhookConfiguration, V1Secret } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Informer } from '../kube/cache/informer.ts';
import { KubeClient } from '../kube/client/client.ts';
import { loadKubeConfig } from '../kube/client/kubeconfig.ts';
import { controllerFor, type EventSource, type KeyLister } from '../kube/runtime/builder.ts';
import { keyOf } from '../kube/runtime/controller.ts';
import { LeaderElector } from '../kube/runtime/leader-election.ts';
import { Manager } from '../kube/runtime/manager.ts';
import { WebhookSettingError, type WebhookConfig, type WebhookTlsConfig } from './config.ts';
import { servingNames } from './tls/certificates.ts';
import type { Mode } from './tls-files-mode.ts';
import { OnePasswordTls } from './tls/onepassword.ts';
import { SecretTls } from './tls/secret-source.ts';
import { TlsBundleReconciler, unregister } from './tls/self-managed.ts';

export { filesMode, type Mode } from './tls-files-mode.ts';

/** How long a stopping webhook serves after removing its `--register-url` configuration. */
const REGISTRATION_DRAIN_MS = 500;

/**
 * `--tls-mode=self-managed`: every replica serves the TLS Secret's certificate; the Lease leader
 * runs the controller that keeps the Secret and the caBundle current (decision 007).
 */
export async function selfManagedMode(
  config: WebhookConfig,
  tlsConfig: Extract<WebhookTlsConfig, { mode: 'self-managed' }>,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<Mode> {
  const { kube, namespace } = webhookClient(
    config,
    env,
    'is required outside a pod (or set POD_NAMESPACE)',
  );
  const { secretName, leaseName } = tlsConfig;
  // Whether this replica leads when it stops; its own release on shutdown does not clear it.
  let leading = false;
  // Set when shutdown begins: the leader no longer registers the configuration it is removing.
  let leaving = false;
  const manager = new Manager({
    election: (callbacks) =>
      new LeaderElector(kube, {
        namespace,
        name: leaseName,
        identity: env.POD_NAME ? `${env.POD_NAME}_${process.pid}` : undefined,
        callbacks,
        onError: (error, phase) => logger.warn({ err: error, phase }, 'leader election'),
      }),
    onLeadership: (event) => {
      leading = event === 'started';
      if (leading) {
        logger.info(
          { lease: `${namespace}/${leaseName}` },
          'leading: keeping the webhook TLS current',
        );
      }
    },
    // Serving goes on without the Lease; the replica campaigns again.
    rejoinAfterLoss: true,
  });
  const secrets = manager.addCache(
    new Informer<V1Secret>({
      client: kube,
      path: '/api/v1/namespaces/{namespace}/secrets',
      namespaces: [namespace],
      fieldSelector: `metadata.name=${secretName}`,
      name: 'webhook TLS secret',
    }),
  );
  // Only a leader watches the configuration (followers never publish); once started, the watch
  // stays for later leadership periods and stops with the clients.
  const configurations = new Informer<V1MutatingWebhookConfiguration>({
    client: kube,
    path: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
    fieldSelector: `metadata.name=${config.webhookConfigName}`,
    name: 'webhook configuration',
  });
  let watching = false;
  const watchConfiguration = (): void => {
    if (watching) return;
    watching = true;
    configurations.start();
  };
  manager.add({ start: watchConfiguration, stop: () => Promise.resolve() }, { leaderOnly: true });

  const key = keyOf(namespace, secretName);
  // The controller's own kind; its one key is listed at every start, before the Secret exists too.
  const tlsSecret: EventSource<V1Secret> & KeyLister = {
    onAdd: (handler) => secrets.onAdd(handler),
    onUpdate: (handler) => secrets.onUpdate(handler),
    onDelete: (handler) => secrets.onDelete(handler),
    keys: () => [key],
  };
  const names = servingNames({
    service: config.serviceName,
    namespace,
    ...(config.register ? { registerUrl: config.register.url.toString() } : {}),
  });
  controllerFor(manager, {
    name: 'webhook-tls',
    concurrency: 1,
    reconciler: new TlsBundleReconciler({
      client: kube,
      secrets,
      namespace,
      secretName,
      webhookConfigName: config.webhookConfigName,
      rotation: {
        serviceNames: names.dnsNames,
        ipAddresses: names.ipAddresses,
        validityMs: tlsConfig.validityMs,
        rotateBeforeMs: tlsConfig.rotateBeforeMs,
        caPropagationMs: tlsConfig.caPropagationMs,
      },
      ...(config.register ? { register: config.register } : {}),
      leaving: () => leaving,
      logger,
    }),
  })
    .for(tlsSecret)
    // A caBundle reset by hand or by a tool makes the leader publish it again.
    .watches(configurations, () => [key])
    .complete();

  // Closed last to first: the registration removed, then the watch, then the client.
  manager.addCloser(() => kube.close());
  manager.addCloser(() => configurations.stop());
  // Local runs only (`--register-url`): the configuration points at this machine and must not
  // outlive it. Removed before the server stops, and once more when the controller has stopped
  // (an apply in flight at the first removal may have put it back).
  const removeRegistration = async (): Promise<boolean> => {
    if (!config.register || !leading) return false;
    return unregister(kube, config.webhookConfigName).then(
      () => true,
      (error: unknown) => {
        logger.warn({ err: error }, 'could not remove the webhook configuration');
        return false;
      },
    );
  };
  if (config.register) manager.addCloser(async () => void (await removeRegistration()));
  const tls = await SecretTls.create({ secrets, namespace, secretName, logger });
  return {
    manager,
    tls,
    beforeServerStops: async () => {
      leaving = true;
      // The apiserver learns of the deletion through its own watch: serve a moment longer.
      if (await removeRegistration()) await sleep(REGISTRATION_DRAIN_MS);
    },
  };
}

/**
 * `--tls-mode=onepassword` (1Password's injector's Deployment run unchanged): a CA and certificate
 * in memory, published in 1Password's configuration; only that configuration is read or written,
 * as 1Password's ClusterRole allows. No election: each replica publishes its own CA (1Password's
 * flaw, see tls/onepassword.ts).
 */
export async function onePasswordMode(
  config: WebhookConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<Mode> {
  const { kube, namespace } = webhookClient(
    config,
    env,
    "is required outside a pod (or set POD_NAMESPACE, as 1Password's Deployment does)",
  );
  const manager = new Manager();
  manager.addCloser(() => kube.close());
  const tls = await OnePasswordTls.create({
    client: kube,
    serviceName: config.serviceName,
    namespace,
    webhookConfigName: config.webhookConfigName,
    logger,
  });
  logger.warn(
    { webhookConfiguration: config.webhookConfigName },
    "1Password's TLS mode: CA and certificate in memory, each replica publishes its own caBundle (last one wins); run one replica, or switch to op-kube's chart (--tls-mode=self-managed)",
  );
  return { manager, tls };
}

/** The apiserver client of the modes that keep their TLS in the cluster, and the namespace they use. */
function webhookClient(
  config: WebhookConfig,
  env: NodeJS.ProcessEnv,
  namespaceMissing: string,
): { kube: KubeClient; namespace: string } {
  const loaded = loadKubeConfig({ kubeconfig: config.kubeconfig, env });
  const namespace = config.namespace ?? loaded.namespace;
  if (namespace === undefined) throw new WebhookSettingError('--namespace', namespaceMissing);
  return { kube: new KubeClient(loaded, { userAgent: 'op-kube-webhook' }), namespace };
}
