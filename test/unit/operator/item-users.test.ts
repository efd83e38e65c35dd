// ItemUsers: which controller keys use which items, both ways, as keys move between items.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ItemUsers } from '../../../src/operator/item-users.ts';

const ref = (itemId: string, vaultId = 'v') => ({ vaultId, itemId });

describe('ItemUsers', () => {
  it('answers the users of an item and the items in use as keys are set, moved and deleted', () => {
    const users = new ItemUsers();
    users.set('a/one', ref('x'));
    users.set('a/two', [ref('x'), ref('y')]);
    users.set('b/three', ref('y'));
    assert.deepEqual(users.keysUsing(ref('x')), ['a/one', 'a/two']);
    assert.deepEqual(users.keysUsing(ref('y')), ['a/two', 'b/three']);
    assert.deepEqual(
      users.refs().map((one) => one.itemId),
      ['x', 'y'],
    );
    // A key that moves to another item leaves the first.
    users.set('a/two', ref('z'));
    assert.deepEqual(users.keysUsing(ref('x')), ['a/one']);
    assert.deepEqual(users.keysUsing(ref('y')), ['b/three']);
    assert.deepEqual(users.keysUsing(ref('z')), ['a/two']);
    // The same item id in another vault is another item.
    assert.deepEqual(users.keysUsing(ref('x', 'w')), []);
    users.delete('a/one');
    assert.deepEqual(users.keysUsing(ref('x')), []);
    assert.deepEqual(
      users.refs().map((one) => one.itemId),
      ['y', 'z'],
    );
    // Filtered by key (a namespace's token): only items some accepted key uses.
    assert.deepEqual(
      users.refs((key) => key.startsWith('b/')).map((one) => one.itemId),
      ['y'],
    );
  });
});
