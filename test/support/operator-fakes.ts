// In-memory ports for the operator's reconcilers: a Secret store that is also the managed-Secret cache, listers, items, events.
import type { KubernetesObject, V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import pino from 'pino';
import type { FullItem } from '../../src/connect/index.ts';
import type { DeploymentReconcilerOptions } from '../../src/operator/deployment-reconciler.ts';
import { ItemUsers } from '../../src/operator/item-users.ts';
import type { ItemPath } from '../../src/operator/item-path.ts';
import type { ItemRef, SyncedItem } from '../../src/operator/item-source.ts';
import type {
  EventSink,
  FinalizerRemover,
  GatedLookup,
  IndexedLister,
  Items,
  SecretStore,
  StatusWriter,
} from '../../src/operator/ports.ts';

const keyOf = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;

/** Objects by namespace/name, as an informer cache answers them; indexes are answered by a scan. */
export class MemoryLister<T extends KubernetesObject> implements IndexedLister<T> {
  readonly objects = new Map<string, T>();
  readonly #indexes = new Map<string, (object: T) => readonly string[]>();
  put(object: T): T {
    this.objects.set(keyOf(object.metadata?.namespace, object.metadata?.name ?? ''), object);
    return object;
  }
  get(namespace: string | undefined, name: string): T | undefined {
    return this.objects.get(keyOf(namespace, name));
  }
  list(namespace?: string): T[] {
    return [...this.objects.values()].filter(
      (object) => namespace === undefined || object.metadata?.namespace === namespace,
    );
  }
  addIndex(name: string, fn: (object: T) => readonly string[]): void {
    this.#indexes.set(name, fn);
  }
  byIndex(name: string, value: string): T[] {
    const fn = this.#indexes.get(name);
    if (fn === undefined) throw new Error(`no index ${name}`);
    return this.list().filter((object) => fn(object).includes(value));
  }
}

/**
 * Secrets as the apiserver would keep them after op-kube's writes: an apply sets op-kube's fields
 * (and records op-kube as a field manager); the cache is the same map, as if the watch were instant.
 */
export class MemorySecretStore extends MemoryLister<V1Secret> implements SecretStore {
  readonly writes: string[] = [];
  /** Reads from the apiserver (the names the managed-Secret cache did not answer). */
  reads = 0;
  #version = 0;
  read(namespace: string, name: string): Promise<V1Secret | undefined> {
    this.reads += 1;
    return Promise.resolve(this.get(namespace, name));
  }
  apply(secret: V1Secret): Promise<V1Secret> {
    const name = secret.metadata?.name ?? '';
    const existing = this.get(secret.metadata?.namespace, name);
    this.writes.push(`apply ${name}`);
    this.#version += 1;
    const stored: V1Secret = {
      ...existing,
      ...secret,
      metadata: {
        ...existing?.metadata,
        ...secret.metadata,
        uid: existing?.metadata?.uid ?? `uid-${name}`,
        resourceVersion: String(this.#version),
        labels: { ...existing?.metadata?.labels, ...secret.metadata?.labels },
        annotations: { ...existing?.metadata?.annotations, ...secret.metadata?.annotations },
        managedFields: [{ manager: 'op-kube', operation: 'Apply' }],
      },
      data: { ...existing?.data, ...secret.data },
    };
    return Promise.resolve(structuredClone(this.put(stored)));
  }
  /** Applies only a Secret of a new name; `refused create <name>` when one exists. */
  create(secret: V1Secret): Promise<V1Secret | undefined> {
    const name = secret.metadata?.name ?? '';
    if (this.get(secret.metadata?.namespace, name)) {
      this.writes.push(`refused create ${name}`);
      return Promise.resolve(undefined);
    }
    return this.apply(secret);
  }
  /**
   * The managed-Secret cache as the operator's informer holds it: only Secrets with op-kube's
   * label, so a user's Secret or one 1Password's operator left is not in it.
   */
  managedCache(): IndexedLister<V1Secret> {
    const managed = (secret: V1Secret | undefined): secret is V1Secret =>
      secret?.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'op-kube';
    return {
      get: (namespace, name) => {
        const secret = this.get(namespace, name);
        return managed(secret) ? secret : undefined;
      },
      list: (namespace) => this.list(namespace).filter(managed),
      byIndex: (index, value) => this.byIndex(index, value).filter(managed),
      addIndex: (index, fn) => this.addIndex(index, fn),
    };
  }
  dropKeys(namespace: string, name: string, keys: readonly string[]): Promise<void> {
    this.writes.push(`drop ${keys.join(',')} from ${name}`);
    const secret = this.get(namespace, name);
    for (const key of keys) delete secret?.data?.[key];
    return Promise.resolve();
  }
  deleteExactly(secret: V1Secret): Promise<void> {
    this.writes.push(`delete ${secret.metadata?.name}`);
    this.objects.delete(keyOf(secret.metadata?.namespace, secret.metadata?.name ?? ''));
    return Promise.resolve();
  }
  dropOwnerReference(secret: V1Secret, uid: string): Promise<void> {
    this.writes.push(`drop owner ${uid} from ${secret.metadata?.name}`);
    const stored = this.get(secret.metadata?.namespace, secret.metadata?.name ?? '');
    if (stored?.metadata) {
      stored.metadata.ownerReferences = stored.metadata.ownerReferences?.filter(
        (owner) => owner.uid !== uid,
      );
    }
    return Promise.resolve();
  }
}

/** Records each finalizer removal as `plural namespace/name finalizer`. */
export function memoryFinalizers(): FinalizerRemover & { readonly removed: string[] } {
  const removed: string[] = [];
  return {
    removed,
    removeFinalizer(resource, object, finalizer) {
      if ((object.metadata?.finalizers ?? []).includes(finalizer)) {
        removed.push(
          `${resource.plural} ${object.metadata?.namespace}/${object.metadata?.name} ${finalizer}`,
        );
      }
      return Promise.resolve();
    },
  };
}

/** Status writes land on the lister's objects, as the informer would show them next. */
export function memoryStatusWriter<T extends KubernetesObject & { status?: unknown }>(
  lister: MemoryLister<T>,
): StatusWriter & { readonly writes: number } {
  const writer = {
    writes: 0,
    patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
      writer.writes += 1;
      const object = lister.get(namespace, name);
      if (object) lister.put({ ...object, status: { ...(object.status as object), ...status } });
      return Promise.resolve();
    },
  };
  return writer;
}

export interface RecordedEvent {
  readonly type: 'Normal' | 'Warning';
  readonly kind: string | undefined;
  readonly name: string | undefined;
  readonly reason: string;
  readonly message: string;
}

export function memoryEvents(): EventSink & { readonly recorded: RecordedEvent[] } {
  const recorded: RecordedEvent[] = [];
  const record =
    (type: RecordedEvent['type']) =>
    (object: KubernetesObject, reason: string, message: string): void => {
      recorded.push({ type, kind: object.kind, name: object.metadata?.name, reason, message });
    };
  return { recorded, normal: record('Normal'), warning: record('Warning') };
}

/** Items by `vault/item` ids; `fail` makes the next get() reject. */
export class MemoryItems implements Items {
  readonly items = new Map<string, FullItem>();
  pollFailure: unknown;
  fail: Error | undefined;
  put(item: FullItem): void {
    this.items.set(`${item.vault.id}/${item.id}`, item);
  }
  get(ref: ItemRef): Promise<SyncedItem> {
    if (this.fail !== undefined) return Promise.reject(this.fail);
    const item = this.items.get(`${ref.vaultId}/${ref.itemId}`);
    return item
      ? Promise.resolve({ item, files: new Map() })
      : Promise.reject(new Error(`no item ${ref.vaultId}/${ref.itemId}`));
  }
  invalidate(): void {}
}

/** Every path is allowed and already written with ids. */
export const openGate: GatedLookup = {
  resolve: (_namespace: string, path: ItemPath) =>
    Promise.resolve({ vaultId: path.vault, itemId: path.item }),
};

/** The vault of every fullItem(), and its default item id. */
export const VAULT = 'v'.repeat(26);
export const ITEM = 'i'.repeat(26);

/** A LOGIN item in 1Password, one field per `fields` entry (label → value). */
export function fullItem(
  fields: Record<string, string>,
  { id = ITEM, title = 'database', version = 1, type = 'STRING' } = {},
): FullItem {
  return {
    id,
    title,
    vault: { id: VAULT },
    category: 'LOGIN',
    version,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    fields: Object.entries(fields).map(([label, value], index) => ({
      id: `f${index}`,
      type,
      label,
      value,
    })),
  };
}

type SharedOptions =
  | 'store'
  | 'secrets'
  | 'sourceFor'
  | 'users'
  | 'vaultGate'
  | 'events'
  | 'logger'
  | 'allowEmptyValues'
  | 'onSecretChanged'
  | 'blockedRecheckMs'
  | 'finalizers';

export interface ReconcilerFakes {
  readonly store: MemorySecretStore;
  readonly events: ReturnType<typeof memoryEvents>;
  readonly source: MemoryItems;
  readonly finalizers: ReturnType<typeof memoryFinalizers>;
  /** The options both reconcilers take, on these fakes: Secrets in `store`, items from `source`. */
  readonly ports: Pick<DeploymentReconcilerOptions, SharedOptions>;
}

/** One Secret store (its op-kube-labelled Secrets the managed-Secret cache), events, items and an open vault gate. */
export function reconcilerFakes(): ReconcilerFakes {
  const store = new MemorySecretStore();
  const events = memoryEvents();
  const source = new MemoryItems();
  const finalizers = memoryFinalizers();
  const ports = {
    store,
    secrets: store.managedCache(),
    sourceFor: () => source,
    users: new ItemUsers(),
    vaultGate: openGate,
    events,
    logger: pino({ level: 'silent' }),
    allowEmptyValues: false,
    onSecretChanged: () => Promise.resolve(),
    blockedRecheckMs: 300_000,
    finalizers,
  };
  return { store, events, source, finalizers, ports };
}

/** The Secret apps/db as op-kube wrote it (its label and field manager) with one password, held by `ownerReferences`. */
export function managedSecret(
  ownerReferences: V1OwnerReference[],
  password: string,
  annotations?: Record<string, string>,
): V1Secret {
  return {
    metadata: {
      namespace: 'apps',
      name: 'db',
      uid: 'secret-uid',
      labels: { 'app.kubernetes.io/managed-by': 'op-kube' },
      ...(annotations && { annotations }),
      ownerReferences,
      managedFields: [{ manager: 'op-kube' }],
    },
    data: { password: Buffer.from(password).toString('base64') },
  };
}
