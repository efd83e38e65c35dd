// The builder wires sources to a controller: own keys at start and on events, mapped keys, predicates, key signals.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { controllerFor, ownersOf, type EventSource } from '../../../src/kube/runtime/builder.ts';
import { Manager } from '../../../src/kube/runtime/manager.ts';

class FakeSource<T extends KubernetesObject> implements EventSource<T> {
  readonly objects: T[] = [];
  readonly #add: ((object: T) => void)[] = [];
  readonly #update: ((previous: T, next: T) => void)[] = [];
  readonly #delete: ((object: T) => void)[] = [];
  onAdd(handler: (object: T) => void): void {
    this.#add.push(handler);
  }
  onUpdate(handler: (previous: T, next: T) => void): void {
    this.#update.push(handler);
  }
  onDelete(handler: (object: T) => void): void {
    this.#delete.push(handler);
  }
  keys(): string[] {
    return this.objects.map((object) => `${object.metadata?.namespace}/${object.metadata?.name}`);
  }
  add(object: T): void {
    this.objects.push(object);
    for (const handler of this.#add) handler(object);
  }
  update(previous: T, next: T): void {
    for (const handler of this.#update) handler(previous, next);
  }
  delete(object: T): void {
    for (const handler of this.#delete) handler(object);
  }
}

const object = (
  name: string,
  extra: Partial<KubernetesObject['metadata']> = {},
): KubernetesObject => ({
  metadata: { namespace: 'apps', name, ...extra },
});

async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** A controller on `manager` whose reconciler records every key it is given in `seen`. */
function recordingController(manager: Manager, seen: string[]) {
  return controllerFor(manager, {
    name: 'test',
    reconciler: {
      reconcile: (key) => {
        seen.push(key);
        return Promise.resolve({});
      },
    },
  });
}

describe('controllerFor', () => {
  it('reconciles every key of its own kind at start, then on the events its predicates let through', async () => {
    const items = new FakeSource<KubernetesObject>();
    items.objects.push(object('a'), object('b'));
    const seen: string[] = [];
    const manager = new Manager();
    recordingController(manager, seen)
      .for(items, {
        update: (previous, next) => previous.metadata?.generation !== next.metadata?.generation,
      })
      .complete();
    await manager.start();
    await settle();
    assert.deepEqual(seen.splice(0).sort(), ['apps/a', 'apps/b']);

    items.update(object('a', { generation: 1 }), object('a', { generation: 1 }));
    items.update(object('b', { generation: 1 }), object('b', { generation: 2 }));
    items.add(object('c'));
    items.delete(object('a'));
    await settle();
    assert.deepEqual(seen.sort(), ['apps/a', 'apps/b', 'apps/c']);
    await manager.stop();
  });

  it('maps owned objects to their owners’ keys, and takes keys from signals with their priority', async () => {
    const secrets = new FakeSource<KubernetesObject>();
    const seen: string[] = [];
    let emit: ((keys: Iterable<string>) => void) | undefined;
    const manager = new Manager();
    recordingController(manager, seen)
      .watches(secrets, ownersOf('OnePasswordItem'), { add: () => false })
      .watchesKeys((enqueue) => (emit = enqueue))
      .complete();
    await manager.start();
    const owned = object('db', {
      ownerReferences: [
        { apiVersion: 'onepassword.com/v1', kind: 'OnePasswordItem', name: 'db', uid: '1' },
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: '2' },
      ],
    });
    secrets.add(owned);
    await settle();
    assert.deepEqual(seen, [], 'add filtered out');
    secrets.update(owned, { ...owned });
    secrets.delete(owned);
    emit?.(['apps/from-poller']);
    await settle();
    // The update and the delete may be one reconcile or two (a key re-added while it runs runs again).
    assert.deepEqual([...new Set(seen)].sort(), ['apps/db', 'apps/from-poller']);
    await manager.stop();
  });
});
