// What the operator watches: OnePasswordItems, the Secrets it manages, Deployments and Namespaces, as manager caches.
import type {
  KubernetesObject,
  V1Deployment,
  V1Namespace,
  V1Secret,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Informer, withoutFieldSets } from '../kube/cache/informer.ts';
import type { V1ManagedFieldsEntry } from '@kubernetes/client-node';
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

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * One copy of each of the few strings every cached object repeats (apiVersion, kind, namespace,
 * owners' apiVersion and kind): JSON.parse gives each object its own, 30-40 bytes apiece. Bounded,
 * so a stream of distinct values cannot grow it without limit.
 */
const shared = new Map<string, string>();
const SHARED_MAX = 4096;
function share(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const known = shared.get(value);
  if (known !== undefined) return known;
  if (shared.size < SHARED_MAX) shared.set(value, value);
  return value;
}

/**
 * What a cached object keeps: everything but the parts no reconciler reads, which are most of a
 * small object's size (docs/benchmarks.md, "Operator memory"):
 * - `metadata.managedFields`; of a Secret's only each writer's name (secret-ownership.ts asks
 *   whether op-kube wrote it), once;
 * - kubectl's last-applied-configuration annotation: a copy of the whole object as applied (never
 *   copied to a Secret: desired-secret.ts drops it);
 * - a Deployment's status (watches.ts ignores status writes; reconcilers read metadata and the pod
 *   template).
 * Nothing in the cache is written back: writes are server-side applies and patches of their own.
 */
export function cachedObject<T extends KubernetesObject>(
  raw: T,
  options: { readonly managers?: boolean; readonly dropStatus?: boolean } = {},
): T {
  const metadata = raw.metadata;
  if (metadata === undefined) return raw;
  const { managedFields, annotations, ...rest } = metadata;
  const trimmed: NonNullable<T['metadata']> = rest;
  if (annotations !== undefined) {
    if (LAST_APPLIED in annotations) {
      const { [LAST_APPLIED]: _lastApplied, ...others } = annotations;
      trimmed.annotations = others;
    } else trimmed.annotations = annotations;
  }
  if (options.managers && managedFields !== undefined)
    trimmed.managedFields = [...new Set(managedFields.map((entry) => entry.manager))].map(
      (manager): V1ManagedFieldsEntry => (manager === undefined ? {} : { manager }),
    );
  if (rest.namespace !== undefined) trimmed.namespace = share(rest.namespace);
  if (rest.ownerReferences !== undefined)
    trimmed.ownerReferences = rest.ownerReferences.map((reference) => ({
      ...reference,
      apiVersion: share(reference.apiVersion) ?? reference.apiVersion,
      kind: share(reference.kind) ?? reference.kind,
    }));
  const object = { ...raw, metadata: trimmed };
  if (raw.apiVersion !== undefined) object.apiVersion = share(raw.apiVersion);
  if (raw.kind !== undefined) object.kind = share(raw.kind);
  if (options.dropStatus && 'status' in object) delete (object as { status?: unknown }).status;
  return object;
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
    decode: (raw: T) => T,
    selector?: string,
    fieldSelector?: string,
  ) =>
    manager.addCache(
      new Informer<T>({
        client: kube,
        path,
        decode: (raw) => decode(raw as T),
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
            (raw) => cachedObject(raw, { managers: true }),
            undefined,
            `metadata.name=${tokenSecretName}`,
          ),
        }),
    items: informer<OnePasswordItem>(
      'onepassworditems',
      '/apis/onepassword.com/v1/namespaces/{namespace}/onepassworditems',
      (raw) => cachedObject(raw),
    ),
    secrets: informer<V1Secret>(
      'managed secrets',
      '/api/v1/namespaces/{namespace}/secrets',
      (raw) => cachedObject(raw, { managers: true }),
      `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
    ),
    deployments: informer<V1Deployment>(
      'deployments',
      '/apis/apps/v1/namespaces/{namespace}/deployments',
      (raw) => cachedObject(raw, { dropStatus: true }),
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
