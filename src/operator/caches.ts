// What the operator watches: OnePasswordItems, the Secrets it manages, Deployments and Namespaces, as manager caches.
import type {
  KubernetesObject,
  V1Deployment,
  V1Namespace,
  V1Secret,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Informer, withoutFieldSets } from '../kube/cache/informer.ts';
import type { KubeClient } from '../kube/client/client.ts';
import type { Manager } from '../kube/runtime/manager.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from './annotations.ts';
import type { OnePasswordItem } from './api.ts';
import { NamespaceWatch } from './namespace-watch.ts';
import { informerObserver } from './observe.ts';

export interface OperatorCaches {
  readonly items: Informer<OnePasswordItem>;
  /** Only Secrets labelled as op-kube's: caching every Secret would cost memory per cluster size. */
  readonly secrets: Informer<V1Secret>;
  readonly deployments: Informer<V1Deployment>;
  /** For the vault access policy: each namespace's op-kube.io/allowed-vaults. */
  readonly namespaces: NamespaceWatch;
  /**
   * With --token-source=namespace: each namespace's token Secret, listed and watched by
   * metadata.name alone (no other Secret is cached).
   */
  readonly tokenSecrets?: Informer<V1Secret>;
}

export interface DistributionCaches {
  /** The one Secret copied, in its namespace. */
  readonly source: Informer<V1Secret>;
  /** The namespaces the selector picks, as the apiserver selects them (one per watched namespace). */
  readonly selected: readonly Informer<V1Namespace>[];
}

/**
 * The token distribution's caches: the source Secret by metadata.name in its namespace, and the
 * Namespaces by the label selector (with WATCH_NAMESPACE, each watched one by metadata.name too,
 * so RBAC may name them). A Namespace that stops matching is a delete event of its watch.
 */
export function distributionCaches(
  manager: Manager,
  kube: KubeClient,
  namespaces: readonly string[],
  logger: Logger,
  options: { readonly selector: string; readonly source: { namespace: string; name: string } },
): DistributionCaches {
  const fieldSelectors = namespaces.length
    ? [...new Set(namespaces)].map((name) => `metadata.name=${name}`)
    : [undefined];
  return {
    source: manager.addCache(
      new Informer<V1Secret>({
        client: kube,
        path: '/api/v1/namespaces/{namespace}/secrets',
        decode: (raw) => withoutFieldSets(raw as V1Secret),
        namespaces: [options.source.namespace],
        fieldSelector: `metadata.name=${options.source.name}`,
        name: 'token distribution source',
        observe: informerObserver(logger, 'token distribution source'),
      }),
    ),
    selected: fieldSelectors.map((fieldSelector) =>
      manager.addCache(
        new Informer<V1Namespace>({
          client: kube,
          path: '/api/v1/namespaces',
          decode: (raw) => withoutFieldSets(raw as V1Namespace),
          labelSelector: options.selector,
          ...(fieldSelector ? { fieldSelector } : {}),
          name: 'token distribution namespaces',
          observe: informerObserver(logger, 'token distribution namespaces'),
        }),
      ),
    ),
  };
}

export function operatorCaches(
  manager: Manager,
  kube: KubeClient,
  namespaces: readonly string[],
  logger: Logger,
  tokenSecretName?: string,
): OperatorCaches {
  const informer = <T extends KubernetesObject>(
    name: string,
    path: string,
    selector?: string,
    fieldSelector?: string,
  ) =>
    manager.addCache(
      new Informer<T>({
        client: kube,
        path,
        decode: (raw) => withoutFieldSets(raw as T),
        namespaces,
        name,
        observe: informerObserver(logger, name),
        ...(selector ? { labelSelector: selector } : {}),
        ...(fieldSelector ? { fieldSelector } : {}),
      }),
    );
  return {
    ...(tokenSecretName === undefined
      ? {}
      : {
          tokenSecrets: informer<V1Secret>(
            'token secrets',
            '/api/v1/namespaces/{namespace}/secrets',
            undefined,
            `metadata.name=${tokenSecretName}`,
          ),
        }),
    items: informer<OnePasswordItem>(
      'onepassworditems',
      '/apis/onepassword.com/v1/namespaces/{namespace}/onepassworditems',
    ),
    secrets: informer<V1Secret>(
      'managed secrets',
      '/api/v1/namespaces/{namespace}/secrets',
      `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
    ),
    deployments: informer<V1Deployment>(
      'deployments',
      '/apis/apps/v1/namespaces/{namespace}/deployments',
    ),
    namespaces: manager.addCache(
      new NamespaceWatch({
        client: kube,
        namespaces,
        observe: informerObserver(logger, 'namespaces'),
      }),
    ),
  };
}
