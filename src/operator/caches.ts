// What the operator watches: OnePasswordItems, the Secrets it manages, Deployments and Namespaces, as manager caches.
import type { KubernetesObject, V1Deployment, V1Secret } from '@kubernetes/client-node';
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
