// A list-then-watch cache of one resource (client-go's shared informer): a reflector keeps a store current, and every change goes to the add/update/delete handlers; resync and sync waiters.
import type { KubernetesObject } from '@kubernetes/client-node';
import { Reflector, type ReflectorEvent, type ReflectorOptions } from './reflector.ts';
import { Store, objectKey, type CacheChange, type IndexFunction } from './store.ts';

/** What the informer went through, for metrics and logs. Errors carry no object data. */
export type InformerEvent =
  | ReflectorEvent
  | { readonly type: 'resync'; readonly objects: number }
  | {
      readonly type: 'handler-failed';
      readonly handler: 'add' | 'update' | 'delete';
      readonly key: string;
      readonly error: unknown;
    };

export interface InformerOptions<T extends KubernetesObject> extends ReflectorOptions<T> {
  /** Every this often each cached object is passed to `onUpdate(obj, obj)`; 0 (default) never. */
  readonly resyncPeriodMs?: number;
  /** Told of lists, failures, relists and resyncs (for metrics); must not throw, is guarded anyway. */
  readonly observe?: (event: InformerEvent) => void;
}

export type AddHandler<T> = (object: T) => void;
/** On a resync `oldObject === newObject`. */
export type UpdateHandler<T> = (oldObject: T, newObject: T) => void;
export interface DeleteInfo {
  /**
   * True when the deletion was inferred by a relist, so `object` is the last state this informer
   * saw rather than the state the object was deleted in (client-go's DeletedFinalStateUnknown).
   */
  readonly finalStateUnknown: boolean;
}
export type DeleteHandler<T> = (object: T, info: DeleteInfo) => void;

interface SyncWaiter {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * A cache of one resource kept current by list+watch, with add/update/delete handlers.
 *
 * - The reflector (reflector.ts) lists, watches, relists on 410 and reconnects with backoff; each
 *   change it finds is made to the store (store.ts) and then told to the handlers.
 * - Handlers run synchronously, after the cache holds the change; they should only enqueue keys.
 *   They must not modify the objects they get, which are the cached ones.
 * - From the moment `stop()` is called no handler runs; once it resolves no request, socket or
 *   timer of the informer is left, so a process can exit.
 */
export class Informer<T extends KubernetesObject> {
  readonly #options: InformerOptions<T>;
  readonly #name: string;
  readonly #store = new Store<T>();
  readonly #reflector: Reflector<T>;
  readonly #addHandlers = new Set<AddHandler<T>>();
  readonly #updateHandlers = new Set<UpdateHandler<T>>();
  readonly #deleteHandlers = new Set<DeleteHandler<T>>();
  readonly #syncWaiters = new Set<SyncWaiter>();
  #started = false;
  #stopped = false;
  #resyncTimer: NodeJS.Timeout | undefined;

  constructor(options: InformerOptions<T>) {
    this.#options = options;
    this.#name = options.name ?? options.path;
    this.#reflector = new Reflector<T>(
      { ...options, observe: (event) => this.#observe(event) },
      {
        get: (namespace, name) => this.#store.get(namespace, name),
        list: (namespace) => this.#store.list(namespace),
        apply: (change) => this.#apply(change),
        synced: () => {
          for (const waiter of this.#syncWaiters) waiter.resolve();
          this.#syncWaiters.clear();
        },
      },
    );
  }

  onAdd(handler: AddHandler<T>): () => void {
    return this.#register(this.#addHandlers, handler);
  }

  onUpdate(handler: UpdateHandler<T>): () => void {
    return this.#register(this.#updateHandlers, handler);
  }

  onDelete(handler: DeleteHandler<T>): () => void {
    return this.#register(this.#deleteHandlers, handler);
  }

  #register<H>(handlers: Set<H>, handler: H): () => void {
    // A handler added later would never hear of the objects already listed.
    if (this.#started) throw new Error(`${this.#name}: register handlers before start()`);
    handlers.add(handler);
    return () => {
      handlers.delete(handler);
    };
  }

  /** `namespace` is ignored for a cluster-scoped resource (pass undefined or ''). */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.#store.get(namespace, name);
  }

  /** Every cached object, or those of one namespace. */
  list(namespace?: string): T[] {
    return this.#store.list(namespace);
  }

  /** Cache keys, `namespace/name` (or `name`), as `objectKey` makes them. */
  keys(): string[] {
    return this.#store.keys();
  }

  /**
   * Files every cached object, now and from then on, under the values `fn` gives it, for
   * `byIndex` (controller-runtime's field indexers). `fn` must not throw.
   */
  addIndex(name: string, fn: IndexFunction<T>): void {
    this.#store.addIndex(name, fn);
  }

  /** The cached objects index `name` files under `value`. */
  byIndex(name: string, value: string): T[] {
    return this.#store.byIndex(name, value);
  }

  /** True once every namespace has been listed in full (and the handlers told of it). */
  hasSynced(): boolean {
    return this.#reflector.hasSynced();
  }

  /**
   * Resolves once synced. Rejects if the informer stops first, or `signal` aborts; the rejection
   * names the last error, e.g. a Forbidden from missing RBAC.
   */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.hasSynced()) return Promise.resolve();
    if (this.#stopped) return Promise.reject(new Error(`${this.#name}: stopped before it synced`));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#syncWaiters.delete(waiter);
        reject(
          new Error(`${this.#name}: not synced${this.#reflector.lastErrors()}`, {
            cause: signal?.reason,
          }),
        );
      };
      const waiter: SyncWaiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      this.#syncWaiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Starts listing and watching; returns at once (see `waitForSync`). An informer starts once. */
  start(): void {
    if (this.#started || this.#stopped) throw new Error(`${this.#name}: already started`);
    this.#started = true;
    this.#reflector.start();
    const period = this.#options.resyncPeriodMs ?? 0;
    if (period > 0) this.#resyncTimer = setInterval(() => this.#resync(), period);
  }

  /** Stops for good: aborts requests, clears timers, and resolves once every loop has ended. */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      clearInterval(this.#resyncTimer);
      for (const waiter of this.#syncWaiters) {
        waiter.reject(new Error(`${this.#name}: stopped before it synced`));
      }
      this.#syncWaiters.clear();
    }
    await this.#reflector.stop();
  }

  #observe(event: InformerEvent): void {
    try {
      this.#options.observe?.(event);
    } catch {
      // Metrics must never take the cache down.
    }
  }

  #apply(change: CacheChange<T>): void {
    const key = objectKey(change.object);
    if (change.type === 'delete') {
      this.#store.delete(change.object);
      for (const handler of this.#deleteHandlers) {
        this.#call('delete', key, () =>
          handler(change.object, { finalStateUnknown: change.finalStateUnknown }),
        );
      }
      return;
    }
    this.#store.set(change.object);
    if (change.type === 'add') {
      for (const handler of this.#addHandlers) {
        this.#call('add', key, () => handler(change.object));
      }
    } else {
      for (const handler of this.#updateHandlers) {
        this.#call('update', key, () => handler(change.old, change.object));
      }
    }
  }

  #call(handler: 'add' | 'update' | 'delete', key: string, run: () => void): void {
    if (this.#stopped) return;
    try {
      run();
    } catch (error) {
      this.#observe({ type: 'handler-failed', handler, key, error });
    }
  }

  #resync(): void {
    if (this.#stopped || !this.hasSynced()) return;
    const objects = this.list();
    for (const object of objects) {
      for (const handler of this.#updateHandlers) {
        this.#call('update', objectKey(object), () => handler(object, object));
      }
    }
    this.#observe({ type: 'resync', objects: objects.length });
  }
}

/**
 * Drops the field sets from `metadata.managedFields`, keeping who manages the object and how.
 * Field sets are most of a server-side-applied object's size, and a cache that only needs to know
 * whether a manager has written the object can hold many more objects without them (controller-
 * runtime's TransformStripManagedFields removes the whole list; the manager names are kept here).
 */
export function withoutFieldSets<T extends KubernetesObject>(object: T): T {
  const managed = object.metadata?.managedFields;
  if (managed === undefined) return object;
  return {
    ...object,
    metadata: {
      ...object.metadata,
      managedFields: managed.map(({ fieldsV1: _fieldsV1, ...entry }) => entry),
    },
  };
}
