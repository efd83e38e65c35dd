// Declares what makes a controller reconcile: its own objects, objects that map to its keys, and other signals.
//
// controller-runtime's builder in small: `controllerFor(manager, options).for(items, predicates)
// .watches(secrets, ownersOf('OnePasswordItem')).watchesKeys(poller).complete()`. What triggers a
// reconcile is named (a map function, a predicate), not buried in closures in a setup function.
import type { KubernetesObject } from '@kubernetes/client-node';
import { Controller, keyOf, type ControllerOptions } from './controller.ts';
import type { Manager } from './manager.ts';
import type { Priority } from './workqueue.ts';

/** An informer as a source of events. */
export interface EventSource<T> {
  onAdd(handler: (object: T) => void): unknown;
  onUpdate(handler: (previous: T, next: T) => void): unknown;
  onDelete(handler: (object: T) => void): unknown;
}

/** A source of objects whose keys may all be enqueued (the `for` source, at start). */
export interface KeyLister {
  keys(): string[];
}

/** Which events count; an absent predicate lets every event of its kind through. */
export interface Predicates<T> {
  readonly add?: (object: T) => boolean;
  readonly update?: (previous: T, next: T) => boolean;
  readonly delete?: (object: T) => boolean;
}

/** The keys an object's event should reconcile. */
export type MapToKeys<T> = (object: T) => Iterable<string>;

/** Hands a function that enqueues keys to a source outside the informers (a poller, a watch). */
export type KeySignal = (enqueue: (keys: Iterable<string>, priority?: Priority) => void) => void;

/** The object's own `namespace/name`, for the `for` source. */
export function ownKey(object: KubernetesObject): string[] {
  const name = object.metadata?.name;
  return name ? [keyOf(object.metadata?.namespace ?? '', name)] : [];
}

/** The keys of an object's owners of `kind` (the controller-runtime `Owns`). */
export function ownersOf(kind: string): MapToKeys<KubernetesObject> {
  return (object) =>
    (object.metadata?.ownerReferences ?? [])
      .filter((owner) => owner.kind === kind)
      .map((owner) => keyOf(object.metadata?.namespace ?? '', owner.name));
}

export class ControllerBuilder<K extends string = string> {
  readonly #manager: Manager;
  readonly #options: ControllerOptions<K>;
  readonly #wirings: ((enqueue: (key: K, priority?: Priority) => void) => void)[] = [];
  readonly #listers: KeyLister[] = [];

  constructor(manager: Manager, options: ControllerOptions<K>) {
    this.#manager = manager;
    this.#options = options;
  }

  /** The controller's own kind: every key it lists is reconciled at start, and its events enqueue it. */
  for<T extends KubernetesObject>(
    source: EventSource<T> & KeyLister,
    predicates: Predicates<T> = {},
  ): this {
    this.#listers.push(source);
    return this.watches(source, ownKey, predicates);
  }

  /** Events of `source` enqueue the keys `map` gives, when the predicate of that event lets them. */
  watches<T>(source: EventSource<T>, map: MapToKeys<T>, predicates: Predicates<T> = {}): this {
    this.#wirings.push((enqueueKey) => {
      const enqueue = (object: T): void => {
        for (const key of map(object)) enqueueKey(key as K);
      };
      source.onAdd((object) => {
        if (predicates.add?.(object) ?? true) enqueue(object);
      });
      source.onUpdate((previous, next) => {
        if (predicates.update?.(previous, next) ?? true) enqueue(next);
      });
      source.onDelete((object) => {
        if (predicates.delete?.(object) ?? true) enqueue(object);
      });
    });
    return this;
  }

  /** Keys from outside the informers: a poller's changed items, a namespace's annotation. */
  watchesKeys(signal: KeySignal): this {
    this.#wirings.push((enqueueKey) =>
      signal((keys, priority) => {
        for (const key of keys) enqueueKey(key as K, priority);
      }),
    );
    return this;
  }

  /**
   * Builds the controller, wires its sources, and registers it with the manager as a leader-only
   * runnable that enqueues every key of its `for` sources when it starts. A Controller runs once:
   * a manager that rejoins after losing leadership gets a new one for each later leadership
   * period (the sources feed whichever runs), and the one returned is the first period's.
   */
  complete(): Controller<K> {
    const first = new Controller<K>(this.#options);
    let controller = first;
    let started = false;
    for (const wire of this.#wirings) {
      wire((key, priority) => controller.enqueue(key, priority));
    }
    const listers = this.#listers;
    this.#manager.add(
      {
        start: () => {
          if (started) controller = new Controller<K>(this.#options);
          started = true;
          controller.start();
          for (const lister of listers) {
            for (const key of lister.keys()) controller.enqueue(key as K);
          }
        },
        stop: () => controller.stop(),
      },
      { leaderOnly: true },
    );
    return first;
  }
}

export function controllerFor<K extends string = string>(
  manager: Manager,
  options: ControllerOptions<K>,
): ControllerBuilder<K> {
  return new ControllerBuilder<K>(manager, options);
}
