// The narrow ports the reconcilers depend on, so their logic runs against in-memory fakes in unit tests.
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import type { EventOptions } from '../kube/events.ts';
import type { ItemPath } from './item-path.ts';
import type { ItemRef, SyncedItem } from './item-source.ts';

/** Reads a cache (an Informer fits). */
export interface Lister<T> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
}

/** A cache that also answers by named indexes (an Informer fits). */
export interface IndexedLister<T> extends Lister<T> {
  /** Files every object, now and on each change, under the values `fn` gives it. */
  addIndex(name: string, fn: (object: T) => readonly string[]): void;
  byIndex(name: string, value: string): T[];
}

/** Every write the operator makes to Secrets, and the one read a cache cannot answer. */
export interface SecretStore {
  /** Undefined when there is none; for names the managed-Secret cache cannot know. */
  read(namespace: string, name: string): Promise<V1Secret | undefined>;
  /** Server-side apply with op-kube's field manager, forced; answers the stored Secret. */
  apply(secret: V1Secret, signal?: AbortSignal): Promise<V1Secret>;
  /**
   * The same apply, only when no Secret of that name exists: undefined, and nothing written, when
   * one does. Saves the read of a name the managed-Secret cache does not hold (decision 029).
   */
  create(secret: V1Secret, signal?: AbortSignal): Promise<V1Secret | undefined>;
  /** Removes data keys another field manager wrote (a merge patch with nulls). */
  dropKeys(
    namespace: string,
    name: string,
    keys: readonly string[],
    signal?: AbortSignal,
  ): Promise<void>;
  /** Deletes exactly this object (uid and resourceVersion preconditions); gone already is fine. */
  deleteExactly(secret: V1Secret): Promise<void>;
  /** Removes one ownerReference, testing first it is still at its index; gone already is fine. */
  dropOwnerReference(secret: V1Secret, uid: string): Promise<void>;
}

/** Removes a finalizer another program left (1Password's operator) from an object being deleted. */
export interface FinalizerRemover {
  /**
   * A JSON patch that tests the entry is still at its index, then removes it: nothing else in the
   * list is lost, and a list changed meanwhile fails the patch (the caller retries from the cache).
   * Gone already is fine.
   */
  removeFinalizer(
    resource: { readonly apiVersion: string; readonly plural: string },
    object: KubernetesObject,
    finalizer: string,
  ): Promise<void>;
}

/** Writes a OnePasswordItem's status subresource. */
export interface StatusWriter {
  patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
}

/** Records Events (EventRecorder fits). */
export interface EventSink {
  normal(object: KubernetesObject, reason: string, message: string, options?: EventOptions): void;
  warning(object: KubernetesObject, reason: string, message: string, options?: EventOptions): void;
}

/** Items from Connect (ItemSource fits). */
export interface Items {
  readonly pollFailure: unknown;
  get(ref: ItemRef): Promise<SyncedItem>;
  invalidate(ref: ItemRef): void;
}

/** Which item each object (by controller key) uses, so a changed item re-queues its users (the poller owns it). */
export interface ItemTracker {
  /**
   * The item (or items: spec.extraItems) the key uses, replacing what it used before, and its
   * spec.refreshInterval in ms (undefined: the polling interval).
   */
  set(key: string, ref: ItemRef | readonly ItemRef[], refreshMs?: number): void;
  delete(key: string): void;
}

/** Item lookups under the vault access policy (VaultGate fits). */
export interface GatedLookup {
  resolve(namespace: string, path: ItemPath, onDenied: () => void): Promise<ItemRef>;
}
