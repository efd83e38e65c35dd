// The informer's store: objects by namespace and name, and indexes kept current through adds, updates and deletes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Store, objectKey } from '../../../src/kube/cache/store.ts';

interface Obj extends KubernetesObject {
  wants?: string[];
}

function obj(namespace: string, name: string, wants: string[] = [], version = '1'): Obj {
  return { metadata: { namespace, name, resourceVersion: version }, wants };
}

/** Files an object under `namespace/want` for each thing it wants. */
const byWant = (object: Obj): string[] =>
  (object.wants ?? []).map((want) => `${object.metadata?.namespace ?? ''}/${want}`);

const names = (objects: readonly Obj[]): string[] => objects.map(objectKey).sort();

describe('Store', () => {
  it('gets, lists and keys by namespace; a cluster-scoped object lives under no namespace', () => {
    const store = new Store<Obj>();
    store.set(obj('a', 'one'));
    store.set(obj('a', 'two'));
    store.set(obj('b', 'one'));
    store.set({ metadata: { name: 'node' } });
    assert.equal(store.get('a', 'one')?.metadata?.name, 'one');
    assert.equal(store.get('c', 'one'), undefined);
    assert.equal(store.get(undefined, 'node')?.metadata?.name, 'node');
    assert.equal(store.get('', 'node')?.metadata?.name, 'node');
    assert.deepEqual(names(store.list('a')), ['a/one', 'a/two']);
    assert.deepEqual(store.list('c'), []);
    assert.deepEqual(store.keys().sort(), ['a/one', 'a/two', 'b/one', 'node']);
    store.delete(obj('a', 'one'));
    store.delete(obj('a', 'two'));
    store.delete(obj('a', 'never'));
    assert.deepEqual(store.list('a'), []);
    assert.deepEqual(store.keys().sort(), ['b/one', 'node']);
  });

  it('replaces the object at a key', () => {
    const store = new Store<Obj>();
    store.set(obj('a', 'one', [], '1'));
    const newer = obj('a', 'one', [], '2');
    store.set(newer);
    assert.equal(store.get('a', 'one'), newer);
    assert.equal(store.list().length, 1);
  });

  it('files objects under each value of an index and refiles them on update and delete', () => {
    const store = new Store<Obj>();
    store.addIndex('want', byWant);
    store.set(obj('a', 'one', ['x', 'y']));
    store.set(obj('a', 'two', ['x', 'x']));
    store.set(obj('b', 'one', ['x']));
    assert.deepEqual(names(store.byIndex('want', 'a/x')), ['a/one', 'a/two']);
    assert.deepEqual(names(store.byIndex('want', 'a/y')), ['a/one']);
    assert.deepEqual(names(store.byIndex('want', 'b/x')), ['b/one']);
    assert.deepEqual(store.byIndex('want', 'a/z'), []);

    store.set(obj('a', 'one', ['z'], '2'));
    assert.deepEqual(names(store.byIndex('want', 'a/x')), ['a/two']);
    assert.deepEqual(store.byIndex('want', 'a/y'), []);
    assert.equal(store.byIndex('want', 'a/z')[0]?.metadata?.resourceVersion, '2');

    store.delete(obj('a', 'two'));
    assert.deepEqual(store.byIndex('want', 'a/x'), []);
  });

  it('keeps an object in its place under a value it is still filed under', () => {
    const store = new Store<Obj>();
    store.addIndex('want', byWant);
    store.set(obj('a', 'one', ['x']));
    store.set(obj('a', 'two', ['x']));
    store.set(obj('a', 'one', ['x', 'y'], '2'));
    assert.deepEqual(store.byIndex('want', 'a/x').map(objectKey), ['a/one', 'a/two']);
    assert.equal(store.byIndex('want', 'a/x')[0]?.metadata?.resourceVersion, '2');
  });

  it('indexes what it already holds when an index is added; refuses a second index of one name and an unknown one', () => {
    const store = new Store<Obj>();
    store.set(obj('a', 'one', ['x']));
    store.addIndex('want', byWant);
    assert.deepEqual(names(store.byIndex('want', 'a/x')), ['a/one']);
    assert.throws(() => store.addIndex('want', byWant), /index want exists already/);
    assert.throws(() => store.byIndex('other', 'a/x'), /no index other/);
  });

  it('answers an index exactly as a scan of the store would, whatever the writes', () => {
    const write = fc.record({
      name: fc.constantFrom('p', 'q', 'r'),
      wants: fc.array(fc.constantFrom('x', 'y', 'z'), { maxLength: 3 }),
      remove: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(write, { maxLength: 20 }), (writes) => {
        const store = new Store<Obj>();
        store.addIndex('want', byWant);
        for (const { name, wants, remove } of writes) {
          if (remove) store.delete(obj('a', name));
          else store.set(obj('a', name, wants));
        }
        for (const value of ['a/x', 'a/y', 'a/z']) {
          const scanned = store.list().filter((object) => byWant(object).includes(value));
          assert.deepEqual(names(store.byIndex('want', value)), names(scanned));
        }
      }),
    );
  });
});
