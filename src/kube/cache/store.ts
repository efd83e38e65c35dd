// An informer's cache (client-go's thread-safe store and indexer): objects by namespace and name, named indexes, and the changes an incoming object or a relist makes to it.
import type { KubernetesObject } from '@kubernetes/client-node';

export type CacheChange<T> =
  | { readonly type: 'add'; readonly object: T }
  | { readonly type: 'update'; readonly old: T; readonly object: T }
  | { readonly type: 'delete'; readonly object: T; readonly finalStateUnknown: boolean };

/**
 * The values an object is filed under in one index, e.g. the `namespace/name` of each Secret it
 * asks for. Must depend on the object alone: the store calls it again on the old object to unfile it.
 */
export type IndexFunction<T> = (object: T) => readonly string[];

/** The cache key: `namespace/name`, or `name` for a cluster-scoped object (client-go's). */
export function objectKey(object: KubernetesObject): string {
  const namespace = object.metadata?.namespace ?? '';
  const name = object.metadata?.name ?? '';
  return namespace === '' ? name : `${namespace}/${name}`;
}

/**
 * What the cache must do (and tell handlers) when `incoming` arrives for a key holding `cached`.
 * Same uid and resourceVersion: nothing. Another uid: the object was deleted and created again
 * while this informer was not looking, which a finalizer-driven reconciler needs to see as such.
 */
export function changesFor<T extends KubernetesObject>(
  cached: T | undefined,
  incoming: T,
): CacheChange<T>[] {
  if (cached === undefined) return [{ type: 'add', object: incoming }];
  const oldUid = cached.metadata?.uid;
  const newUid = incoming.metadata?.uid;
  if (oldUid !== undefined && newUid !== undefined && oldUid !== newUid) {
    return [
      { type: 'delete', object: cached, finalStateUnknown: true },
      { type: 'add', object: incoming },
    ];
  }
  const oldVersion = cached.metadata?.resourceVersion;
  if (oldVersion !== undefined && oldVersion === incoming.metadata?.resourceVersion) return [];
  return [{ type: 'update', old: cached, object: incoming }];
}

/**
 * The changes that turn `cached` (key → object, the part of the cache a list covers) into `listed`:
 * adds and updates in list order, then deletes of what the list no longer holds.
 */
export function diffRelist<T extends KubernetesObject>(
  cached: ReadonlyMap<string, T>,
  listed: readonly T[],
): CacheChange<T>[] {
  const changes: CacheChange<T>[] = [];
  const seen = new Set<string>();
  for (const object of listed) {
    const key = objectKey(object);
    seen.add(key);
    changes.push(...changesFor(cached.get(key), object));
  }
  for (const [key, object] of cached) {
    if (!seen.has(key)) changes.push({ type: 'delete', object, finalStateUnknown: true });
  }
  return changes;
}

interface Index<T> {
  readonly fn: IndexFunction<T>;
  /** value → key → object. */
  readonly entries: Map<string, Map<string, T>>;
}

/**
 * Objects of one resource by namespace and name, with named indexes kept current on every write.
 * It holds the objects it is given, which nobody may modify (they are handed to handlers as is).
 */
export class Store<T extends KubernetesObject> {
  /** namespace ('' for cluster-scoped) → name → object. */
  readonly #objects = new Map<string, Map<string, T>>();
  readonly #indexes = new Map<string, Index<T>>();

  /** `namespace` is ignored for a cluster-scoped resource (pass undefined or ''). */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.#objects.get(namespace ?? '')?.get(name);
  }

  /** Every object, or those of one namespace. */
  list(namespace?: string): T[] {
    if (namespace !== undefined) return [...(this.#objects.get(namespace)?.values() ?? [])];
    return [...this.#objects.values()].flatMap((objects) => [...objects.values()]);
  }

  /** Keys, `namespace/name` (or `name`), as `objectKey` makes them. */
  keys(): string[] {
    return this.list().map(objectKey);
  }

  /** Adds or replaces the object at its key. */
  set(object: T): void {
    const namespace = object.metadata?.namespace ?? '';
    const name = object.metadata?.name ?? '';
    let objects = this.#objects.get(namespace);
    if (!objects) {
      objects = new Map();
      this.#objects.set(namespace, objects);
    }
    const old = objects.get(name);
    objects.set(name, object);
    this.#reindex(objectKey(object), old, object);
  }

  /** Removes what is at the object's key, if anything. */
  delete(object: KubernetesObject): void {
    const namespace = object.metadata?.namespace ?? '';
    const name = object.metadata?.name ?? '';
    const objects = this.#objects.get(namespace);
    const old = objects?.get(name);
    if (objects === undefined || old === undefined) return;
    objects.delete(name);
    if (objects.size === 0) this.#objects.delete(namespace);
    this.#reindex(objectKey(old), old, undefined);
  }

  /** Adds an index and files every object already held; a name is used once. */
  addIndex(name: string, fn: IndexFunction<T>): void {
    if (this.#indexes.has(name)) throw new Error(`index ${name} exists already`);
    const index: Index<T> = { fn, entries: new Map() };
    this.#indexes.set(name, index);
    for (const object of this.list()) file(index, object);
  }

  /** The objects index `name` files under `value`; throws for an index never added. */
  byIndex(name: string, value: string): T[] {
    const index = this.#indexes.get(name);
    if (index === undefined) throw new Error(`no index ${name}`);
    return [...(index.entries.get(value)?.values() ?? [])];
  }

  /** Moves the object's key between index values; a value it stays under keeps the key's place. */
  #reindex(key: string, old: T | undefined, object: T | undefined): void {
    for (const index of this.#indexes.values()) {
      const from = new Set(old === undefined ? [] : index.fn(old));
      const to = new Set(object === undefined ? [] : index.fn(object));
      for (const value of from) {
        if (to.has(value)) continue;
        const objects = index.entries.get(value);
        objects?.delete(key);
        if (objects?.size === 0) index.entries.delete(value);
      }
      if (object !== undefined) file(index, object, to);
    }
  }
}

function file<T extends KubernetesObject>(
  index: Index<T>,
  object: T,
  values: Iterable<string> = new Set(index.fn(object)),
): void {
  const key = objectKey(object);
  for (const value of values) {
    let objects = index.entries.get(value);
    if (!objects) {
      objects = new Map();
      index.entries.set(value, objects);
    }
    objects.set(key, object);
  }
}
