// Starts the operator: informers, the OnePasswordItem controller, the Connect poller, probes and
// metrics, all writers gated on leadership when --leader-elect is on.
import { readFileSync } from 'node:fs';
import { getCACertificates } from 'node:tls';
import type { V1Deployment, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ConnectClient } from '../connect/index.ts';
import { Controller, keyOf } from '../kube/controller.ts';
import { terminalCause } from '../kube/errors.ts';
import { EventRecorder } from '../kube/events.ts';
import { Informer, withoutFieldSets, type InformerEvent } from '../kube/informer.ts';
import { KubeClient } from '../kube/client.ts';
import { loadKubeConfig } from '../kube/kubeconfig.ts';
import { LeaderElector, ONEPASSWORD_LEADER_ELECTION_ID } from '../kube/leader-election.ts';
import { closeServer } from '../util/http-server.ts';
import {
  ALLOWED_VAULTS_ANNOTATION,
  ITEM_PATH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  RESYNC_ANNOTATION,
} from './annotations.ts';
import { DeploymentReconciler } from './deployment-reconciler.ts';
import type { OperatorConfig } from './config.ts';
import { serveMetrics, serveProbes } from './endpoints.ts';
import { classifyFailure } from './failure.ts';
import { OnePasswordItemReconciler, type OnePasswordItem } from './item-reconciler.ts';
import { ItemSource, type ItemRef } from './item-source.ts';
import { ConnectHealth } from './connect-health.ts';
import { createOperatorMetrics } from './metrics.ts';
import { NamespaceWatch } from './namespace-watch.ts';
import { VaultGate } from './vault-gate.ts';
import { WorkloadRestarter } from './restarter.ts';

/** Per attempt of a change-detection poll (which gets one retry). */
const POLL_TIMEOUT_MS = 5000;

export interface RunningOperator {
  /** Resolves once the operator has stopped (after stop(), or when leadership was lost). */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
  readonly probePort?: number;
  readonly metricsPort?: number;
}

/** Connect over HTTPS with a private CA: SSL_CERT_FILE adds to the CAs Node already trusts. */
function connectCa(caFile: string | undefined): string[] | undefined {
  if (!caFile) return undefined;
  return [...getCACertificates('default'), readFileSync(caFile, 'utf8')];
}

export async function runOperator(
  config: OperatorConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<RunningOperator> {
  const loaded = loadKubeConfig({ kubeconfig: config.kubeconfig, env });
  const ownNamespace = loaded.namespace;
  const kube = new KubeClient(loaded, {
    qps: config.kubeApi.qps,
    burst: config.kubeApi.burst,
    userAgent: 'op-kube-operator',
    onPoolReplaced: (event) => {
      metrics.apiserverPoolReplaced(event.pool);
      logger.warn(
        { pool: event.pool, reason: event.reason, consecutive: event.consecutive },
        'apiserver connections kept failing; replaced the pool',
      );
    },
  });
  const ca = connectCa(config.connect.caFile);
  const client = new ConnectClient({
    host: config.connect.host,
    token: config.connect.token,
    ...(ca ? { ca: ca.join('\n') } : {}),
    onCall: (call) => metrics.connectCall(call),
    userAgent: 'op-kube-operator',
    // One retry rides out a blip; the work queue's per-item backoff retries after that, so more
    // retries here only keep a hung Connect hidden behind Synced (10 s per attempt).
    retries: 1,
  });
  // Change detection gets one retry and a short timeout: a failed poll is repeated within seconds
  // anyway, and a hung Connect must show on the items at once, not after every retry timed out.
  const pollClient = new ConnectClient({
    host: config.connect.host,
    token: config.connect.token,
    ...(ca ? { ca: ca.join('\n') } : {}),
    onCall: (call) => metrics.connectCall(call),
    userAgent: 'op-kube-operator',
    timeoutMs: POLL_TIMEOUT_MS,
    retries: 1,
  });
  const source = new ItemSource({ client, pollClient });
  const namespaces = config.watchNamespaces;
  // Keep a failing list/watch visible (a missing CRD, missing RBAC) without flooding the log.
  const observeInformer =
    (informer: string) =>
    (event: InformerEvent): void => {
      if (event.type !== 'failure') return;
      if ((event.consecutive & (event.consecutive - 1)) !== 0) return;
      const error = event.error as { status?: number; reason?: string; message?: string };
      logger.warn(
        {
          informer,
          phase: event.phase,
          status: error.status,
          reason: error.reason,
          consecutive: event.consecutive,
        },
        error.status === 404 && informer === 'onepassworditems'
          ? 'cannot list OnePasswordItems: is the CRD installed? (kubectl apply -f crds/)'
          : `cannot ${event.phase} ${informer}`,
      );
    };
  // The vault access policy: each namespace's op-kube.io/allowed-vaults and --vault-policy.
  const namespaceWatch = new NamespaceWatch({
    client: kube,
    namespaces,
    observe: observeInformer('namespaces'),
  });
  const vaultGate = new VaultGate({
    policy: config.vaultPolicy,
    namespaces: namespaceWatch,
    source,
  });
  const items = new Informer<OnePasswordItem>({
    client: kube,
    path: '/apis/onepassword.com/v1/namespaces/{namespace}/onepassworditems',
    decode: withoutFieldSets,
    namespaces,
    name: 'onepassworditems',
    observe: observeInformer('onepassworditems'),
  });
  const secrets = new Informer<V1Secret>({
    client: kube,
    path: '/api/v1/namespaces/{namespace}/secrets',
    decode: withoutFieldSets,
    namespaces,
    labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
    name: 'managed secrets',
    observe: observeInformer('managed secrets'),
  });
  const metrics = createOperatorMetrics(() => {
    const counts = new Map<string, number>();
    for (const key of items.keys()) {
      const [namespace = '', name = ''] = key.split('/');
      const item = items.get(namespace, name);
      const reason = (item && OnePasswordItemReconciler.readyOf(item)?.reason) ?? 'Unknown';
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
    }
    return counts;
  });
  const identity = env.POD_NAME ?? `op-kube-operator-${process.pid}`;
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
  const reconciler = new OnePasswordItemReconciler({
    client: kube,
    items,
    secrets,
    source,
    vaultGate,
    events,
    logger,
    enableAnnotations: config.enableAnnotations,
    allowEmptyValues: config.allowEmptyValues,
    onSecretChanged: (namespace, secretName, item) =>
      restarter.secretChanged(namespace, secretName, item),
    blockedRecheckMs: 5 * 60_000,
  });
  const deployments = new Informer<V1Deployment>({
    client: kube,
    path: '/apis/apps/v1/namespaces/{namespace}/deployments',
    decode: withoutFieldSets,
    namespaces,
    name: 'deployments',
    observe: observeInformer('deployments'),
  });
  const deploymentReconciler = new DeploymentReconciler({
    client: kube,
    deployments,
    secrets,
    source,
    vaultGate,
    events,
    logger,
    allowEmptyValues: config.allowEmptyValues,
    onSecretChanged: (namespace, secretName) => restarter.secretChanged(namespace, secretName, {}),
    blockedRecheckMs: 5 * 60_000,
  });
  const deploymentController = new Controller({
    name: 'deployment',
    reconciler: deploymentReconciler,
    concurrency: config.concurrency,
  });
  const asksForSecret = (deployment: V1Deployment): boolean =>
    [deployment.metadata?.annotations, deployment.spec?.template.metadata?.annotations].some(
      (annotations) => annotations?.[ITEM_PATH_ANNOTATION] !== undefined,
    );
  const enqueueDeployment = (deployment: V1Deployment): void => {
    if (deployment.metadata?.name) {
      deploymentController.enqueue(
        keyOf(deployment.metadata.namespace ?? '', deployment.metadata.name),
      );
    }
  };
  const controller = new Controller({
    name: 'onepassworditem',
    reconciler,
    concurrency: config.concurrency,
    queue: { metrics: metrics.queue },
    onResult: (key, outcome, durationMs, error) => {
      const reason =
        outcome === 'success' || outcome === 'requeue'
          ? 'Synced'
          : (terminalCause(error)?.reason ?? classifyFailure(error).reason);
      metrics.reconciled(outcome, reason, durationMs);
      if (outcome === 'error' || outcome === 'terminal') {
        logger.warn(
          { key, reason, err: error instanceof Error ? { message: error.message } : undefined },
          'reconcile failed',
        );
      }
    },
  });

  const enqueue = (
    object: { metadata?: { namespace?: string; name?: string } },
    priority?: 'normal' | 'low',
  ): void => {
    if (object.metadata?.name)
      controller.enqueue(keyOf(object.metadata.namespace ?? '', object.metadata.name), priority);
  };
  items.onAdd((item) => enqueue(item));
  items.onUpdate((previous, next) => {
    const changed =
      previous !== next &&
      (previous.metadata?.generation !== next.metadata?.generation ||
        previous.metadata?.annotations?.[RESYNC_ANNOTATION] !==
          next.metadata?.annotations?.[RESYNC_ANNOTATION] ||
        previous.type !== next.type ||
        JSON.stringify(previous.metadata?.labels) !== JSON.stringify(next.metadata?.labels) ||
        JSON.stringify(previous.metadata?.annotations) !==
          JSON.stringify(next.metadata?.annotations));
    if (changed) enqueue(next);
  });
  items.onDelete((item) => enqueue(item));
  const enqueueOwner = (secret: V1Secret): void => {
    for (const owner of secret.metadata?.ownerReferences ?? []) {
      const key = keyOf(secret.metadata?.namespace ?? '', owner.name);
      if (owner.kind === 'OnePasswordItem') controller.enqueue(key);
      if (owner.kind === 'Deployment') deploymentController.enqueue(key);
    }
  };
  deployments.onAdd((deployment) => {
    if (asksForSecret(deployment)) enqueueDeployment(deployment);
  });
  deployments.onUpdate((previous, next) => {
    if (previous !== next && (asksForSecret(previous) || asksForSecret(next)))
      enqueueDeployment(next);
  });
  deployments.onDelete((deployment) => {
    if (asksForSecret(deployment)) enqueueDeployment(deployment);
  });
  // A namespace's allowed vaults changed: its items and Deployments are judged again at once.
  namespaceWatch.onAnnotationChange(ALLOWED_VAULTS_ANNOTATION, (namespace) => {
    for (const item of items.list(namespace)) enqueue(item);
    for (const deployment of deployments.list(namespace)) {
      if (asksForSecret(deployment)) enqueueDeployment(deployment);
    }
  });
  // A managed Secret edited or deleted by hand is restored at once, from the cached item.
  secrets.onUpdate((previous, next) => {
    if (previous !== next) enqueueOwner(next);
  });
  secrets.onDelete((secret) => {
    enqueueOwner(secret);
    // A name refused to one claimant because another held it is free now: let the waiting ones in.
    const namespace = secret.metadata?.namespace ?? '';
    const name = secret.metadata?.name ?? '';
    controller.enqueue(keyOf(namespace, name));
    for (const key of deploymentReconciler.keysRequesting(namespace, name)) {
      deploymentController.enqueue(key);
    }
  });

  const health = new ConnectHealth({ pollingIntervalMs: config.pollingIntervalMs });
  let polling: NodeJS.Timeout | undefined;
  const watchedRefs = (): ItemRef[] => [
    ...reconciler.watchedRefs(),
    ...deploymentReconciler.watchedRefs(),
  ];
  const enqueueUsers = (ref: ItemRef): void => {
    for (const key of reconciler.keysUsing(ref)) controller.enqueue(key);
    for (const key of deploymentReconciler.keysUsing(ref)) deploymentController.enqueue(key);
  };
  const enqueueAll = (priority: 'normal' | 'low'): void => {
    for (const key of items.keys()) controller.enqueue(key, priority);
    for (const key of deployments.keys()) deploymentController.enqueue(key, priority);
  };
  const poll = async (): Promise<void> => {
    try {
      const changed = await source.poll(watchedRefs(), config.fullCheckEvery);
      for (const ref of changed) enqueueUsers(ref);
      metrics.poll('success', changed.length);
      // Recovered: every item that reported the failure gets its Synced condition back.
      if (health.succeeded() === 'recovered') {
        logger.info('Connect answers again');
        enqueueAll('low');
      }
    } catch (error) {
      metrics.poll('error', 0);
      const verdict = health.failed();
      logger.warn(
        {
          err: error instanceof Error ? { message: error.message } : undefined,
          retryInMs: health.nextDelayMs(),
        },
        'polling Connect failed',
      );
      // Items whose Secrets may now be stale report the failure through a reconcile.
      if (verdict === 'failed-first') enqueueAll('low');
    }
    metrics.connectUp(health.up);
  };
  // One poll at a time, each scheduled when the last has settled: its delay depends on the result.
  const pollLoop = async (): Promise<void> => {
    await poll();
    if (leading) polling = setTimeout(() => void pollLoop(), health.nextDelayMs());
  };

  let leading = false;
  const startWriters = (): void => {
    leading = true;
    controller.start();
    deploymentController.start();
    enqueueAll('normal');
    void pollLoop();
  };
  const stopWriters = async (): Promise<void> => {
    leading = false;
    if (polling) clearTimeout(polling);
    await Promise.all([controller.stop(), deploymentController.stop()]);
  };

  const notReady = (): string | undefined => {
    if (
      !items.hasSynced() ||
      !secrets.hasSynced() ||
      !deployments.hasSynced() ||
      !namespaceWatch.hasSynced()
    )
      return 'caches not synced';
    return health.notReady();
  };
  const probes = config.probeAddress ? await serveProbes(config.probeAddress, notReady) : undefined;
  const metricsServer = config.metrics.address
    ? await serveMetrics(config.metrics.address, metrics.registry, config.metrics.tls)
    : undefined;

  items.start();
  secrets.start();
  deployments.start();
  namespaceWatch.start();
  await Promise.all([
    items.waitForSync(),
    secrets.waitForSync(),
    deployments.waitForSync(),
    namespaceWatch.waitForSync(),
  ]);
  logger.info(
    { namespaces: namespaces.length ? namespaces : 'all', items: items.keys().length },
    'caches synced',
  );

  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let elector: LeaderElector | undefined;
  let stopping: Promise<void> | undefined;
  if (config.leaderElection.enabled) {
    const leaseNamespace = config.leaderElection.namespace ?? env.POD_NAMESPACE ?? ownNamespace;
    if (!leaseNamespace) {
      throw new Error(
        '--leader-elect needs a namespace for its Lease: set --leader-election-namespace or POD_NAMESPACE',
      );
    }
    elector = new LeaderElector(kube, {
      namespace: leaseNamespace,
      name: ONEPASSWORD_LEADER_ELECTION_ID,
      identity,
      callbacks: {
        onStartedLeading: (signal) => {
          logger.info({ identity }, 'became leader');
          startWriters();
          signal.addEventListener('abort', () => void stopWriters(), { once: true });
        },
        onStoppedLeading: () => {
          if (stopping) return; // our own shutdown released the Lease
          // As controller-runtime does: a replica that lost its lease exits and is restarted fresh.
          logger.warn('lost leadership; stopping');
          resolveStopped();
        },
      },
      onError: (error, phase) =>
        logger.warn(
          { phase, err: error instanceof Error ? { message: error.message } : undefined },
          'leader election',
        ),
    });
    elector.start();
  } else {
    startWriters();
  }

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (leading) await stopWriters();
      await elector?.release();
      await Promise.all([items.stop(), secrets.stop(), deployments.stop(), namespaceWatch.stop()]);
      await events.flush();
      await Promise.all([
        probes && closeServer(probes.server),
        metricsServer && closeServer(metricsServer.server),
      ]);
      await client.close();
      await kube.close();
      resolveStopped();
    })());

  return {
    stopped,
    stop,
    ...(probes ? { probePort: probes.port } : {}),
    ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
  };
}
