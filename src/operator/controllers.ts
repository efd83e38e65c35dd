// The operator's two controllers, each declared once: its reconciler and the events that enqueue its keys.
import type { V1Namespace, V1Secret } from '@kubernetes/client-node';
import type { Informer } from '../kube/cache/informer.ts';
import type { KubeClient } from '../kube/client/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { controllerFor, ownersOf, ownKey } from '../kube/runtime/builder.ts';
import type { Manager } from '../kube/runtime/manager.ts';
import type { Logger } from 'pino';
import { ALLOWED_VAULTS_ANNOTATION } from './annotations.ts';
import { OPI_GROUP, OPI_PLURAL, OPI_VERSION } from './api.ts';
import type { DistributionCaches, OperatorCaches } from './caches.ts';
import type { OperatorConfig } from './config.ts';
import { DeploymentReconciler } from './deployment-reconciler.ts';
import { OnePasswordItemReconciler } from './item-reconciler.ts';
import type { NamespaceTokens, SourceRouter } from './token-sources.ts';
import {
  kubeFinalizerRemover,
  kubeItemStatusWriter,
  kubeSecretStore,
  kubeTokenCopyStore,
} from './kube-secret-store.ts';
import type { Lister } from './ports.ts';
import { copyNamespaces, TokenDistributionReconciler } from './token-distribution.ts';
import type { OperatorMetrics } from './metrics.ts';
import { reconcileReporter } from './observe.ts';
import type { Poller } from './poller.ts';
import type { WorkloadRestarter } from './restarter.ts';
import { DEPLOYMENT_KIND, OPI_KIND } from './secret-ownership.ts';
import type { VaultGate } from './vault-gate.ts';
import {
  asksForSecret,
  deploymentChanged,
  deploymentMatters,
  itemChanged,
  itemOfSameName,
  secretChanged,
} from './watches.ts';

/** After a failure that cannot heal by retrying alone (a Secret held by another), look again. */
const BLOCKED_RECHECK_MS = 5 * 60_000;
const never = (): boolean => false;

export interface ControllerParts {
  readonly config: OperatorConfig;
  readonly kube: KubeClient;
  readonly caches: OperatorCaches;
  /** The ItemSource of each namespace. */
  readonly sources: SourceRouter;
  /** With --token-source=namespace: a changed token Secret re-queues its namespace's objects. */
  readonly tokens?: NamespaceTokens;
  readonly vaultGate: VaultGate;
  readonly poller: Poller;
  readonly restarter: WorkloadRestarter;
  readonly events: EventRecorder;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
}

/** Both controllers on the manager; the item controller alone feeds the queue metrics. */
export function addControllers(manager: Manager, parts: ControllerParts): void {
  const reported = reconcileReporter(parts.logger);
  addItemController(manager, parts, reported);
  addDeploymentController(manager, parts, reported);
}

type Reported = ReturnType<typeof reconcileReporter>;

function sharedPorts(parts: ControllerParts) {
  const { kube, caches, sources, vaultGate, events, logger } = parts;
  return {
    store: kubeSecretStore(kube),
    finalizers: kubeFinalizerRemover(kube),
    secrets: caches.secrets,
    sourceFor: (namespace: string) => sources.sourceFor(namespace),
    vaultGate,
    events,
    logger,
  };
}

function addItemController(manager: Manager, parts: ControllerParts, reported: Reported): void {
  const { config, caches, poller, restarter, metrics } = parts;
  const { items, secrets, namespaces } = caches;
  const users = poller.tracker();
  const reconciler = new OnePasswordItemReconciler({
    ...sharedPorts(parts),
    status: kubeItemStatusWriter(parts.kube, {
      group: OPI_GROUP,
      version: OPI_VERSION,
      plural: OPI_PLURAL,
    }),
    items,
    users,
    enableAnnotations: config.enableAnnotations,
    allowEmptyValues: config.allowEmptyValues,
    onSecretChanged: (namespace, secretName, item) =>
      restarter.secretChanged(namespace, secretName, item),
    blockedRecheckMs: BLOCKED_RECHECK_MS,
  });
  const byToken = parts.tokens?.keysOnChange((namespace) => items.list(namespace).flatMap(ownKey));
  const built = controllerFor(manager, {
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
      namespaces.onAnnotationChange(ALLOWED_VAULTS_ANNOTATION, (namespace) =>
        enqueue(items.list(namespace).flatMap(ownKey)),
      ),
    )
    .watchesKeys(poller.keysFor(users, () => items.keys()));
  (byToken ? built.watchesKeys(byToken) : built).complete();
}

function addDeploymentController(
  manager: Manager,
  parts: ControllerParts,
  reported: Reported,
): void {
  const { config, caches, poller, restarter } = parts;
  const { deployments, secrets, namespaces } = caches;
  const users = poller.tracker();
  const reconciler = new DeploymentReconciler({
    ...sharedPorts(parts),
    deployments,
    users,
    allowEmptyValues: config.allowEmptyValues,
    onSecretChanged: (namespace, secretName) => restarter.secretChanged(namespace, secretName, {}),
    blockedRecheckMs: BLOCKED_RECHECK_MS,
  });
  const byToken = parts.tokens?.keysOnChange((namespace) =>
    deployments.list(namespace).filter(asksForSecret).flatMap(ownKey),
  );
  const built = controllerFor(manager, {
    name: 'deployment',
    reconciler,
    concurrency: config.concurrency,
    onResult: (key, outcome, _durationMs, error) => void reported(key, outcome, error),
  })
    .for(deployments, {
      add: deploymentMatters,
      update: deploymentChanged,
      delete: asksForSecret,
    })
    .watches(secrets, ownersOf(DEPLOYMENT_KIND), { add: never, update: secretChanged })
    // A Secret name freed: a Deployment refused it because another claimant held it may take it.
    .watches(
      secrets,
      (secret) =>
        reconciler.keysRequesting(secret.metadata?.namespace ?? '', secret.metadata?.name ?? ''),
      { add: never, update: never },
    )
    .watchesKeys((enqueue) =>
      namespaces.onAnnotationChange(ALLOWED_VAULTS_ANNOTATION, (namespace) =>
        enqueue(deployments.list(namespace).filter(asksForSecret).flatMap(ownKey)),
      ),
    )
    .watchesKeys(poller.keysFor(users, () => deployments.keys()));
  (byToken ? built.watchesKeys(byToken) : built).complete();
}

export interface DistributionParts {
  readonly kube: KubeClient;
  /** Secrets named as the copies, in every (watched) namespace. */
  readonly copies: Informer<V1Secret>;
  readonly caches: DistributionCaches;
  readonly source: { readonly namespace: string; readonly name: string; readonly key: string };
  readonly target: { readonly name: string; readonly key: string };
  readonly logger: Logger;
}

/**
 * The token distribution (--token-distribution-selector): keyed by namespace, reconciled for every
 * selected namespace and every namespace holding a copy, again when the source Secret's data
 * changes, when a namespace starts or stops matching, and when a copy is edited or deleted.
 */
export function addTokenDistributionController(manager: Manager, parts: DistributionParts): void {
  const { caches, copies, logger } = parts;
  const reported = reconcileReporter(logger);
  const selected: Lister<V1Namespace> = {
    get: (_namespace, name) =>
      caches.selected.map((informer) => informer.get(undefined, name)).find(Boolean),
    list: () => caches.selected.flatMap((informer) => informer.list()),
  };
  const reconciler = new TokenDistributionReconciler({
    source: parts.source,
    target: parts.target,
    sources: caches.source,
    copies,
    selected,
    store: kubeTokenCopyStore(parts.kube),
    logger,
  });
  const builder = controllerFor(manager, {
    name: 'token-distribution',
    reconciler,
    concurrency: 2,
    onResult: (key, outcome, _durationMs, error) => void reported(key, outcome, error),
  });
  for (const informer of caches.selected) builder.for(informer);
  builder
    .for(copyNamespaces(copies))
    .watchesKeys((enqueue) => {
      const everySelected = (): void =>
        enqueue(new Set(caches.selected.flatMap((informer) => informer.keys())));
      caches.source.onAdd(everySelected);
      caches.source.onUpdate((previous, next) => {
        if (previous.data?.[parts.source.key] !== next.data?.[parts.source.key]) everySelected();
      });
      caches.source.onDelete(everySelected);
    })
    .complete();
}
