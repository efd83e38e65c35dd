// Copies one Connect token Secret (in the operator's namespace) into every namespace a label
// selector picks, so nobody copies onepassword-token by hand (decision 023). Keyed by namespace:
// a selected namespace gets the copy (and keeps it equal to the source); a namespace that stops
// matching loses it. A Secret of that name op-kube did not create is never written or deleted.
import type { V1Namespace, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { parseKey, type ReconcileResult, type Reconciler } from '../kube/runtime/controller.ts';
import type { EventSource, KeyLister } from '../kube/runtime/builder.ts';
import type { Lister } from './ports.ts';

/** On every copy: how op-kube knows it made it (and may update or delete it). */
export const TOKEN_COPY_LABEL = 'op-kube.io/token-copy';
/** On every copy: the Secret it was copied from, `namespace/name`. */
export const TOKEN_COPY_SOURCE_ANNOTATION = 'op-kube.io/token-copy-of';

export interface SecretKeyRef {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
}

/** The writes of the distribution; reads come from caches. */
export interface TokenCopyStore {
  /** Creates (POST) the copy; false when a Secret of that name exists already (never replaced). */
  create(secret: V1Secret): Promise<boolean>;
  /** Sets the copy's data, only if it is still at `existing`'s resourceVersion. */
  setData(existing: V1Secret, data: Record<string, string | null>): Promise<void>;
  /** Deletes exactly this object (uid and resourceVersion preconditions); gone already is fine. */
  deleteExactly(secret: V1Secret): Promise<void>;
}

export interface TokenDistributionOptions {
  /** The Secret copied (in the operator's namespace) and its key. */
  readonly source: SecretKeyRef;
  /** The copy's name and key in each selected namespace. */
  readonly target: { readonly name: string; readonly key: string };
  /** The source Secret (a cache of that one Secret). */
  readonly sources: Lister<V1Secret>;
  /** Secrets named `target.name` in every namespace (a cache listed by metadata.name). */
  readonly copies: Lister<V1Secret>;
  /** The namespaces the label selector picks (the apiserver selects them: a label-selected watch). */
  readonly selected: Lister<V1Namespace>;
  readonly store: TokenCopyStore;
  readonly logger: Logger;
}

export function isTokenCopy(secret: V1Secret | undefined): boolean {
  return secret?.metadata?.labels?.[TOKEN_COPY_LABEL] === 'true';
}

export class TokenDistributionReconciler implements Reconciler {
  readonly #options: TokenDistributionOptions;
  /** Namespaces whose own Secret was reported as left alone (said once, not at every reconcile). */
  readonly #foreignReported = new Set<string>();

  constructor(options: TokenDistributionOptions) {
    this.#options = options;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const namespace = parseKey(key).name;
    const { source, target, copies, store, logger } = this.#options;
    // The source's own namespace is never a target: the copy would be the source itself.
    if (namespace === source.namespace) return {};
    const existing = copies.get(namespace, target.name);
    const ours = isTokenCopy(existing);
    const selected = this.#options.selected.get(undefined, namespace);
    if (!selected) {
      if (existing && ours) {
        await store.deleteExactly(existing);
        logger.info(
          { namespace, secret: target.name },
          'token copy removed: the namespace no longer matches the selector',
        );
      }
      this.#foreignReported.delete(namespace);
      return {};
    }
    // A namespace being deleted takes its Secrets with it; writing into it fails anyway.
    if (selected.metadata?.deletionTimestamp || selected.status?.phase === 'Terminating') return {};
    if (existing && !ours) {
      if (!this.#foreignReported.has(namespace)) {
        this.#foreignReported.add(namespace);
        logger.info(
          { namespace, secret: target.name },
          'the namespace has its own token Secret (not made by op-kube): left as it is',
        );
      }
      return {};
    }
    this.#foreignReported.delete(namespace);
    const value = this.#options.sources.get(source.namespace, source.name)?.data?.[source.key];
    if (value === undefined) {
      // Copies already made keep the last token: pods using them keep working.
      logger.warn(
        { namespace, source: `${source.namespace}/${source.name}`, key: source.key },
        'token distribution: the source Secret or its key is missing; nothing copied',
      );
      return {};
    }
    if (!existing) {
      const created = await store.create(this.#desired(namespace, value));
      if (created) logger.info({ namespace, secret: target.name }, 'token copied');
      // Not created: a Secret of that name appeared meanwhile; its watch event reconciles again.
      return {};
    }
    const data = existing.data ?? {};
    const same = data[target.key] === value && Object.keys(data).length === 1;
    if (!same) {
      const cleared = Object.fromEntries(
        Object.keys(data)
          .filter((name) => name !== target.key)
          .map((name) => [name, null]),
      );
      await store.setData(existing, { ...cleared, [target.key]: value });
      logger.info({ namespace, secret: target.name }, 'token copy updated');
    }
    return {};
  }

  #desired(namespace: string, value: string): V1Secret {
    const { source, target } = this.#options;
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: target.name,
        namespace,
        labels: { [TOKEN_COPY_LABEL]: 'true' },
        annotations: { [TOKEN_COPY_SOURCE_ANNOTATION]: `${source.namespace}/${source.name}` },
      },
      type: 'Opaque',
      data: { [target.key]: value },
    };
  }
}

/**
 * The copies as a `for` source of namespace keys: every namespace holding a copy is reconciled at
 * start (its namespace may have stopped matching while the operator was down) and when its copy
 * is edited or deleted by hand.
 */
export function copyNamespaces(
  copies: EventSource<V1Secret> & Lister<V1Secret>,
): EventSource<V1Namespace> & KeyLister {
  const asNamespace = (secret: V1Secret): V1Namespace => ({
    metadata: { name: secret.metadata?.namespace ?? '' },
  });
  return {
    onAdd: (handler) => copies.onAdd((secret) => handler(asNamespace(secret))),
    onUpdate: (handler) =>
      copies.onUpdate((previous, next) => handler(asNamespace(previous), asNamespace(next))),
    onDelete: (handler) => copies.onDelete((secret) => handler(asNamespace(secret))),
    keys: () =>
      copies
        .list()
        .filter(isTokenCopy)
        .flatMap((secret) => secret.metadata?.namespace ?? []),
  };
}
