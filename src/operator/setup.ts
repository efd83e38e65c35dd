// Starts the operator: what it watches, what each controller reconciles on, and the manager that runs it all.
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client/client.ts';
import { EventRecorder } from '../kube/events.ts';
import { controllerFor, ownersOf, ownKey } from '../kube/runtime/builder.ts';
import { LeaderElector, ONEPASSWORD_LEADER_ELECTION_ID } from '../kube/runtime/leader-election.ts';
import { Manager, type ElectionFactory } from '../kube/runtime/manager.ts';
import { closeServer } from '../util/http-server.ts';
import { ALLOWED_VAULTS_ANNOTATION } from './annotations.ts';
import { OPI_GROUP, OPI_PLURAL, OPI_VERSION } from './api.ts';
import { operatorCaches } from './caches.ts';
import { operatorClients } from './clients.ts';
import type { OperatorConfig } from './config.ts';
import { ConnectHealth } from './connect-health.ts';
import { DeploymentReconciler } from './deployment-reconciler.ts';
import { serveMetrics, serveProbes } from './endpoints.ts';
import { OnePasswordItemReconciler } from './item-reconciler.ts';
import { ItemSource } from './item-source.ts';
import { kubeItemStatusWriter, kubeSecretStore } from './kube-secret-store.ts';
import { createOperatorMetrics } from './metrics.ts';
import { reconcileReporter } from './observe.ts';
import { Poller } from './poller.ts';
import { WorkloadRestarter } from './restarter.ts';
import { DEPLOYMENT_KIND, OPI_KIND } from './secret-ownership.ts';
import { VaultGate } from './vault-gate.ts';
import {
  asksForSecret,
  deploymentRequestChanged,
  itemChanged,
  itemOfSameName,
  secretChanged,
} from './watches.ts';

/** After a failure that cannot heal by retrying alone (a Secret held by another), look again. */
const BLOCKED_RECHECK_MS = 5 * 60_000;
const never = (): boolean => false;

export interface RunningOperator {
  /** Resolves once the operator has stopped (after stop(), or when leadership was lost). */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
  readonly probePort?: number;
  readonly metricsPort?: number;
}

export async function runOperator(
  config: OperatorConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<RunningOperator> {
  const identity = env.POD_NAME ?? `op-kube-operator-${process.pid}`;
  const clients = operatorClients(config, env, {
    onPoolReplaced: (event) => {
      metrics.apiserverPoolReplaced(event.pool);
      logger.warn(
        { pool: event.pool, reason: event.reason, consecutive: event.consecutive },
        'apiserver connections kept failing; replaced the pool',
      );
    },
    onConnectCall: (call) => metrics.connectCall(call),
  });
  const { kube } = clients;
  const source = new ItemSource({ client: clients.connect, pollClient: clients.poll });
  const manager = new Manager({
    ...(config.leaderElection.enabled
      ? {
          election: leaderElection(
            config,
            env,
            clients.kubeconfigNamespace,
            kube,
            identity,
            logger,
          ),
        }
      : {}),
    onLeadership: (event) =>
      event === 'started'
        ? logger.info({ identity }, 'became leader')
        : // As controller-runtime does: a replica that lost its lease exits and is restarted fresh.
          logger.warn('lost leadership; stopping'),
  });
  const {
    items,
    secrets,
    deployments,
    namespaces: namespaceWatch,
  } = operatorCaches(manager, kube, config.watchNamespaces, logger);
  const metrics = createOperatorMetrics(() => {
    const counts = new Map<string, number>();
    for (const item of items.list()) {
      const reason = OnePasswordItemReconciler.readyOf(item)?.reason ?? 'Unknown';
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
    }
    return counts;
  });
  const events = new EventRecorder(kube, {
    component: 'onepassword.com/op-kube',
    instance: identity,
    onError: (error, event) => logger.warn({ err: error, event }, 'could not record an Event'),
  });
  const restarter = new WorkloadRestarter({
    client: kube,
    events,
    logger,
    autoRestart: config.autoRestart,
  });
  const vaultGate = new VaultGate({
    policy: config.vaultPolicy,
    namespaces: namespaceWatch,
    source,
  });
  const health = new ConnectHealth({ pollingIntervalMs: config.pollingIntervalMs });
  const poller = new Poller({
    source,
    health,
    fullCheckEvery: config.fullCheckEvery,
    metrics,
    logger,
  });
  const itemUsers = poller.tracker();
  const deploymentUsers = poller.tracker();
  const shared = { store: kubeSecretStore(kube), secrets, source, vaultGate, events, logger };
  const reconciler = new OnePasswordItemReconciler({
    ...shared,
    status: kubeItemStatusWriter(kube, {
      group: OPI_GROUP,
      version: OPI_VERSION,
      plural: OPI_PLURAL,
    }),
    items,
    users: itemUsers,
    enableAnnotations: config.enableAnnotations,
    allowEmptyValues: config.allowEmptyValues,
    onSecretChanged: (namespace, secretName, item) =>
      restarter.secretChanged(namespace, secretName, item),
    blockedRecheckMs: BLOCKED_RECHECK_MS,
  });
  const deploymentReconciler = new DeploymentReconciler({
    ...shared,
    deployments,
    users: deploymentUsers,
    allowEmptyValues: config.allowEmptyValues,
    onSecretChanged: (namespace, secretName) => restarter.secretChanged(namespace, secretName, {}),
    blockedRecheckMs: BLOCKED_RECHECK_MS,
  });
  const reported = reconcileReporter(logger);

  controllerFor(manager, {
    name: 'onepassworditem',
    reconciler,
    concurrency: config.concurrency,
    queue: { metrics: metrics.queue },
    onResult: (key, outcome, durationMs, error) =>
      metrics.reconciled(outcome, reported(key, outcome, error), durationMs),
  })
    .for(items, { update: itemChanged })
    // A managed Secret edited or deleted by hand is restored at once, from the cached item.
    .watches(secrets, ownersOf(OPI_KIND), { add: never, update: secretChanged })
    // A Secret name freed: the item refused it because another claimant held it may take it.
    .watches(secrets, itemOfSameName, { add: never, update: never })
    .watchesKeys((enqueue) =>
      namespaceWatch.onAnnotationChange(ALLOWED_VAULTS_ANNOTATION, (namespace) =>
        enqueue(items.list(namespace).flatMap(ownKey)),
      ),
    )
    .watchesKeys(poller.keysFor(itemUsers, () => items.keys()))
    .complete();
  controllerFor(manager, {
    name: 'deployment',
    reconciler: deploymentReconciler,
    concurrency: config.concurrency,
    onResult: (key, outcome, _durationMs, error) => void reported(key, outcome, error),
  })
    .for(deployments, {
      add: asksForSecret,
      update: deploymentRequestChanged,
      delete: asksForSecret,
    })
    .watches(secrets, ownersOf(DEPLOYMENT_KIND), { add: never, update: secretChanged })
    .watches(
      secrets,
      (secret) =>
        deploymentReconciler.keysRequesting(
          secret.metadata?.namespace ?? '',
          secret.metadata?.name ?? '',
        ),
      { add: never, update: never },
    )
    .watchesKeys((enqueue) =>
      namespaceWatch.onAnnotationChange(ALLOWED_VAULTS_ANNOTATION, (namespace) =>
        enqueue(deployments.list(namespace).filter(asksForSecret).flatMap(ownKey)),
      ),
    )
    .watchesKeys(poller.keysFor(deploymentUsers, () => deployments.keys()))
    .complete();
  // After the controllers it feeds: the first poll's changes find them running.
  manager.add(poller, { leaderOnly: true });
  manager.addReadiness(() => health.notReady());

  const probes = config.probeAddress
    ? await serveProbes(config.probeAddress, () => manager.notReady())
    : undefined;
  const metricsServer = config.metrics.address
    ? await serveMetrics(config.metrics.address, metrics.registry, config.metrics.tls)
    : undefined;
  // Closed last to first: the Events flushed, then the listeners, then the clients.
  manager.addCloser(() => clients.close());
  if (metricsServer) manager.addCloser(() => closeServer(metricsServer.server));
  if (probes) manager.addCloser(() => closeServer(probes.server));
  manager.addCloser(() => events.flush());

  await manager.start();
  logger.info(
    {
      namespaces: config.watchNamespaces.length ? config.watchNamespaces : 'all',
      items: items.keys().length,
    },
    'caches synced',
  );
  return {
    stopped: manager.stopped,
    stop: () => manager.stop(),
    ...(probes ? { probePort: probes.port } : {}),
    ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
  };
}

/** --leader-elect: 1Password's Lease, in the pod's namespace unless told otherwise. */
function leaderElection(
  config: OperatorConfig,
  env: NodeJS.ProcessEnv,
  kubeconfigNamespace: string | undefined,
  kube: KubeClient,
  identity: string,
  logger: Logger,
): ElectionFactory {
  const namespace = config.leaderElection.namespace ?? env.POD_NAMESPACE ?? kubeconfigNamespace;
  if (!namespace) {
    throw new Error(
      '--leader-elect needs a namespace for its Lease: set --leader-election-namespace or POD_NAMESPACE',
    );
  }
  return (callbacks) =>
    new LeaderElector(kube, {
      namespace,
      name: ONEPASSWORD_LEADER_ELECTION_ID,
      identity,
      callbacks,
      onError: (error, phase) =>
        logger.warn(
          { phase, err: error instanceof Error ? { message: error.message } : undefined },
          'leader election',
        ),
    });
}
