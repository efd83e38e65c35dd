// The Namespaces the operator works in, kept by an informer for their annotations (the vault access
// policy), with a GET for a namespace the cache has not seen yet.
import type { V1Namespace } from '@kubernetes/client-node';
import { isKubeApiError } from '../kube/client/api-error.ts';
import type { KubeClient } from '../kube/client/client.ts';
import { Informer, withoutFieldSets, type InformerEvent } from '../kube/cache/informer.ts';
import { resourcePath } from '../kube/client/resources.ts';

export interface NamespaceWatchOptions {
  readonly client: KubeClient;
  /**
   * WATCH_NAMESPACE (empty: all). With names, each is watched alone through a `metadata.name` field
   * selector, so RBAC can grant list/watch on those Namespaces only (resourceNames).
   */
  readonly namespaces: readonly string[];
  readonly observe?: (event: InformerEvent) => void;
}

export class NamespaceWatch {
  readonly #client: KubeClient;
  readonly #informers: readonly Informer<V1Namespace>[];

  constructor(options: NamespaceWatchOptions) {
    this.#client = options.client;
    const selectors = options.namespaces.length
      ? [...new Set(options.namespaces)].map((name) => `metadata.name=${name}`)
      : [undefined];
    this.#informers = selectors.map(
      (fieldSelector) =>
        new Informer<V1Namespace>({
          client: options.client,
          path: '/api/v1/namespaces',
          decode: withoutFieldSets,
          ...(fieldSelector ? { fieldSelector } : {}),
          name: 'namespaces',
          ...(options.observe ? { observe: options.observe } : {}),
        }),
    );
  }

  start(): void {
    for (const informer of this.#informers) informer.start();
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.#informers.map((informer) => informer.waitForSync()));
  }

  hasSynced(): boolean {
    return this.#informers.every((informer) => informer.hasSynced());
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers.map((informer) => informer.stop()));
  }

  /** Calls `handler` with a Namespace's name whenever `annotation` on it is set, changed or removed. */
  onAnnotationChange(annotation: string, handler: (namespace: string) => void): void {
    for (const informer of this.#informers) {
      informer.onUpdate((previous, next) => {
        const name = next.metadata?.name;
        if (
          name &&
          previous.metadata?.annotations?.[annotation] !== next.metadata?.annotations?.[annotation]
        ) {
          handler(name);
        }
      });
    }
  }

  /** An annotation of a Namespace: undefined when it has none, null when there is no such Namespace. */
  async annotation(namespace: string, annotation: string): Promise<string | null | undefined> {
    for (const informer of this.#informers) {
      const cached = informer.get(undefined, namespace);
      if (cached) return cached.metadata?.annotations?.[annotation];
    }
    // Not in the cache yet (created a moment ago): the apiserver knows.
    try {
      const fetched = await this.#client.request<V1Namespace>({
        method: 'GET',
        path: resourcePath({ apiVersion: 'v1', plural: 'namespaces', name: namespace }),
        operation: `get Namespace ${namespace}`,
      });
      return fetched.metadata?.annotations?.[annotation];
    } catch (error) {
      if (isKubeApiError(error, 404)) return null;
      throw error;
    }
  }
}
