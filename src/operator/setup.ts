// Starts the operator: its clients, caches and controllers on one manager, then the probe and metrics listeners.
import type { Logger } from 'pino';
import { EventRecorder } from '../kube/events.ts';
import { distributionCaches, operatorCaches } from './caches.ts';
import { itemClients } from './clients.ts';
import type { OperatorConfig } from './config.ts';
import { ConnectHealth } from './connect-health.ts';
import { addControllers, addTokenDistributionController } from './controllers.ts';
import { checkNamespaceSelector } from './token-distribution-check.ts';
import { checkItemCrd } from './crd-check.ts';
import { operatorManager } from './election.ts';
import { serveEndpoints } from './endpoints.ts';
import { readyReasonCounts } from './item-reconciler.ts';
import { ItemSource } from './item-source.ts';
import { NamespaceTokens, sharedSource, type SourceRouter } from './token-sources.ts';
import { createOperatorMetrics } from './metrics.ts';
import { Poller } from './poller.ts';
import { WorkloadRestarter } from './restarter.ts';
import { VaultGate } from './vault-gate.ts';

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
  const clients = await itemClients(config, env, {
    onPoolReplaced: (event) => {
      metrics.apiserverPoolReplaced(event.pool);
      logger.warn(
        { pool: event.pool, reason: event.reason, consecutive: event.consecutive },
        'apiserver connections kept failing; replaced the pool',
      );
    },
    onConnectCall: (call) => metrics.connectCall(call),
    onSdkCall: (call) => metrics.sdkCall(call),
  });
  const { kube } = clients;
  logger.info(
    { mode: clients.mode },
    clients.mode === 'connect'
      ? 'items from 1Password Connect'
      : "items from 1Password's SDK (service-account mode)",
  );
  const manager = operatorManager(config, env, clients, identity, logger);
  const { tokenSource } = config;
  const caches = operatorCaches(
    manager,
    kube,
    config.watchNamespaces,
    logger,
    tokenSource.mode === 'namespace'
      ? tokenSource.secretName
      : config.tokenDistribution?.target.name,
  );
  const { items } = caches;
  const metrics = createOperatorMetrics(() => readyReasonCounts(items.list()));
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
  const poller = new Poller({ fullCheckEvery: config.fullCheckEvery, metrics, logger });
  let sources: SourceRouter;
  let tokens: NamespaceTokens | undefined;
  if (tokenSource.mode === 'namespace' && clients.forToken && caches.tokenSecrets) {
    // One source (and one poll) per distinct token, made when an object of a namespace needs it.
    const secrets = caches.tokenSecrets;
    const perNamespace = new NamespaceTokens({
      secrets,
      secretName: tokenSource.secretName,
      secretKey: tokenSource.secretKey,
      open: clients.forToken,
      poller,
      pollingIntervalMs: config.pollingIntervalMs,
      logger,
    });
    secrets.onAdd((secret) => perNamespace.secretChanged(undefined, secret));
    secrets.onUpdate((previous, secret) => perNamespace.secretChanged(previous, secret));
    secrets.onDelete((secret) => perNamespace.secretChanged(secret, undefined));
    manager.addCloser(() => perNamespace.close());
    logger.info(
      { secret: tokenSource.secretName, key: tokenSource.secretKey },
      "each namespace's items are read with the Connect token of its own Secret",
    );
    sources = perNamespace;
    tokens = perNamespace;
  } else {
    if (!clients.items) throw new Error('runOperator: no item clients');
    const source = new ItemSource({ client: clients.items, pollClient: clients.pollItems });
    const health = new ConnectHealth({
      pollingIntervalMs: config.pollingIntervalMs,
      sourceName: clients.mode === 'connect' ? 'Connect' : '1Password',
    });
    poller.addTarget({ source, health });
    sources = sharedSource(source);
  }
  const vaultGate = new VaultGate({
    policy: config.vaultPolicy,
    namespaces: caches.namespaces,
    sourceFor: (namespace) => sources.sourceFor(namespace),
  });
  addControllers(manager, {
    config,
    kube,
    caches,
    sources,
    ...(tokens ? { tokens } : {}),
    vaultGate,
    poller,
    restarter,
    events,
    metrics,
    logger,
  });
  const distribution = config.tokenDistribution;
  if (distribution && caches.tokenSecrets) {
    // A selector the apiserver refuses would only show as failing watches: refused here, at start.
    await checkNamespaceSelector(kube, distribution.selector, config.watchNamespaces);
    addTokenDistributionController(manager, {
      kube,
      copies: caches.tokenSecrets,
      caches: distributionCaches(manager, kube, config.watchNamespaces, logger, distribution),
      source: distribution.source,
      target: distribution.target,
      logger,
    });
    logger.info(
      {
        selector: distribution.selector,
        source: `${distribution.source.namespace}/${distribution.source.name}`,
        copy: distribution.target.name,
      },
      'token Secret copied into the namespaces the selector picks',
    );
  }
  // After the controllers it feeds: the first poll's changes find them running.
  manager.add(poller, { leaderOnly: true });
  manager.addReadiness(() => poller.notReady());

  // Closed last to first: the Events flushed, then the listeners, then the clients.
  manager.addCloser(() => clients.close());
  const endpoints = await serveEndpoints(manager, config, metrics.registry, kube, logger);
  manager.addCloser(() => events.flush());

  // Before the caches wait on it: an outdated (1Password's) or missing CRD is reported at once.
  await checkItemCrd({
    kube,
    events,
    setOutdated: (outdated) => metrics.crdOutdated(outdated),
    logger,
  });
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
    ...endpoints,
  };
}
