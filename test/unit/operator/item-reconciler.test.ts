// The OnePasswordItem reconciler on in-memory ports: what it writes, what it refuses, what it reports.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectError } from '../../../src/connect/index.ts';
import type { OnePasswordItem } from '../../../src/operator/api.ts';
import { OnePasswordItemReconciler } from '../../../src/operator/item-reconciler.ts';
import { ItemUsers } from '../../../src/operator/item-users.ts';
import {
  ITEM,
  MemoryLister,
  VAULT,
  fullItem,
  managedSecret,
  memoryStatusWriter,
  reconcilerFakes,
} from '../../support/operator-fakes.ts';

const signal = new AbortController().signal;

function setUp() {
  const items = new MemoryLister<OnePasswordItem>();
  const { store, events, source, finalizers, ports } = reconcilerFakes();
  const status = memoryStatusWriter(items);
  const reconciler = new OnePasswordItemReconciler({
    ...ports,
    status,
    items,
    enableAnnotations: false,
  });
  items.put({
    apiVersion: 'onepassword.com/v1',
    kind: 'OnePasswordItem',
    metadata: { namespace: 'apps', name: 'db', uid: 'opi-uid', generation: 1 },
    spec: { itemPath: `vaults/${VAULT}/items/${ITEM}` },
  });
  const ready = () =>
    items.get('apps', 'db')?.status?.conditions?.find((condition) => condition.type === 'Ready');
  const data = (name = 'db') =>
    Object.fromEntries(
      Object.entries(store.get('apps', name)?.data ?? {}).map(([key, value]) => [
        key,
        Buffer.from(value, 'base64').toString(),
      ]),
    );
  return { items, store, status, events, source, finalizers, reconciler, ready, data };
}

describe('OnePasswordItemReconciler', () => {
  it('writes the Secret with its owner and item version, and reports Synced', async () => {
    const { source, reconciler, store, ready, data, events } = setUp();
    source.put(fullItem({ password: 's3cr3t' }, { version: 3 }));
    assert.deepEqual(await reconciler.reconcile('apps/db', signal), {});
    assert.deepEqual(data(), { password: 's3cr3t' });
    const secret = store.get('apps', 'db');
    assert.equal(secret?.metadata?.annotations?.['operator.1password.io/item-version'], '3');
    assert.deepEqual(
      secret?.metadata?.ownerReferences?.map((owner) => [owner.kind, owner.uid, owner.controller]),
      [['OnePasswordItem', 'opi-uid', true]],
    );
    assert.equal(ready()?.status, 'True');
    assert.equal(ready()?.reason, 'Synced');
    assert.deepEqual(
      events.recorded.map((event) => event.reason),
      ['Synced'],
    );
  });

  it('writes nothing on a second run with nothing changed', async () => {
    const { source, reconciler, store, status } = setUp();
    source.put(fullItem({ password: 's3cr3t' }));
    await reconciler.reconcile('apps/db', signal);
    const writes = [store.writes.length, status.writes];
    await reconciler.reconcile('apps/db', signal);
    assert.deepEqual([store.writes.length, status.writes], writes);
  });

  it('keeps the last good data when Connect answers badly, and says why', async () => {
    const { source, reconciler, store, ready, data } = setUp();
    source.put(fullItem({ password: 'good' }));
    await reconciler.reconcile('apps/db', signal);
    source.fail = new ConnectError(
      {
        status: 200,
        reason: 'InvalidResponse',
        method: 'GET',
        endpoint: '/v1/vaults/{vault}/items/{item}',
      },
      'GET /v1/vaults/{vault}/items/{item}: invalid 200 response: fields: expected an array, got null',
    );
    await assert.rejects(reconciler.reconcile('apps/db', signal));
    assert.deepEqual(data(), { password: 'good' });
    assert.equal(store.writes.length, 1);
    assert.equal(ready()?.status, 'False');
    assert.equal(ready()?.reason, 'InvalidConnectResponse');
  });

  it('applies the data but reports ConnectUnavailable while polls fail', async () => {
    const { source, reconciler, ready, data } = setUp();
    source.put(fullItem({ password: 'cached' }));
    source.pollFailure = new ConnectError(
      { status: 0, method: 'GET', endpoint: '/v1/vaults' },
      'GET /v1/vaults: no response within 5000 ms',
    );
    await assert.rejects(reconciler.reconcile('apps/db', signal));
    assert.deepEqual(data(), { password: 'cached' });
    assert.equal(ready()?.reason, 'ConnectUnavailable');
  });

  it('creates a new Secret with one write and no read, and reads only a name the cache lacks that is taken', async () => {
    const { source, reconciler, store, ready, items } = setUp();
    source.put(fullItem({ password: 's3cr3t' }));
    await reconciler.reconcile('apps/db', signal);
    assert.deepEqual([store.writes, store.reads], [['apply db'], 0]);
    assert.equal(ready()?.reason, 'Synced');
    // A user's own Secret (no op-kube label, so not in the managed cache) under a second item's name.
    store.put({
      metadata: { namespace: 'apps', name: 'users', uid: 'user-uid', resourceVersion: '7' },
      data: { password: Buffer.from('users own').toString('base64') },
    });
    items.put({
      apiVersion: 'onepassword.com/v1',
      kind: 'OnePasswordItem',
      metadata: { namespace: 'apps', name: 'users', uid: 'opi-users', generation: 1 },
      spec: { itemPath: `vaults/${VAULT}/items/${ITEM}` },
    });
    assert.deepEqual(await reconciler.reconcile('apps/users', signal), {
      requeueAfterMs: 300_000,
    });
    assert.deepEqual([store.writes, store.reads], [['apply db', 'refused create users'], 1]);
    assert.equal(
      items.get('apps', 'users')?.status?.conditions?.find((c) => c.type === 'Ready')?.reason,
      'SecretNotOwned',
    );
    assert.equal(
      Buffer.from(store.get('apps', 'users')?.data?.password ?? '', 'base64').toString(),
      'users own',
    );
    assert.equal(store.get('apps', 'users')?.metadata?.resourceVersion, '7');
  });

  it("adopts a Secret 1Password's operator left, which the managed cache does not hold, after the refused create", async () => {
    const { source, reconciler, store, ready, data } = setUp();
    source.put(fullItem({ password: 'new' }, { version: 4 }));
    store.put({
      metadata: {
        namespace: 'apps',
        name: 'db',
        uid: 'left-uid',
        annotations: { 'operator.1password.io/item-path': `vaults/${VAULT}/items/${ITEM}` },
        ownerReferences: [
          {
            apiVersion: 'onepassword.com/v1',
            kind: 'OnePasswordItem',
            name: 'db',
            uid: 'opi-uid',
            controller: true,
          },
        ],
        managedFields: [{ manager: 'manager', operation: 'Update' }],
      },
      data: { password: Buffer.from('old').toString('base64') },
    });
    await reconciler.reconcile('apps/db', signal);
    assert.deepEqual([store.writes, store.reads], [['refused create db', 'apply db'], 1]);
    assert.deepEqual(data(), { password: 'new' });
    assert.equal(store.get('apps', 'db')?.metadata?.uid, 'left-uid');
    assert.equal(ready()?.reason, 'Synced');
  });

  it('refuses a Secret annotated Deployments hold, tells the holder, and looks again later', async () => {
    const { source, reconciler, store, ready, events } = setUp();
    source.put(fullItem({ password: 'mine' }));
    const held = managedSecret(
      [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'dep' }],
      'theirs',
      { 'operator.1password.io/item-path': `vaults/${VAULT}/items/${ITEM}` },
    );
    store.put(held);
    assert.deepEqual(await reconciler.reconcile('apps/db', signal), { requeueAfterMs: 300_000 });
    assert.deepEqual(store.writes, []);
    assert.equal(ready()?.reason, 'SecretOwnedByOther');
    assert.deepEqual(
      events.recorded.map((event) => [event.kind, event.name, event.reason]),
      [
        ['Deployment', 'web', 'SecretOwnedByOther'],
        ['OnePasswordItem', 'db', 'SecretOwnedByOther'],
      ],
    );
  });

  it('refuses an item over 1 MiB before writing anything', async () => {
    const { source, reconciler, store, ready } = setUp();
    source.put(fullItem({ blob: 'x'.repeat(1024 * 1024 + 1) }));
    assert.deepEqual(await reconciler.reconcile('apps/db', signal), { requeueAfterMs: 300_000 });
    assert.deepEqual(store.writes, []);
    assert.equal(ready()?.reason, 'SecretTooLarge');
  });

  it('says which labels merged once, not at every resync', async () => {
    const { source, reconciler, ready, events, data } = setUp();
    source.put(fullItem({ 'api key': 'one', 'api-key': 'two' }));
    await reconciler.reconcile('apps/db', signal);
    await reconciler.reconcile('apps/db', signal);
    assert.deepEqual(data(), { 'api-key': 'two' });
    assert.match(ready()?.message ?? '', /field "api key", field "api-key" all map to key api-key/);
    assert.equal(events.recorded.filter((event) => event.reason === 'KeysDropped').length, 1);
  });

  it('writes only the keys spec.keys picks, renamed', async () => {
    const { source, reconciler, items, data, ready } = setUp();
    const item = items.get('apps', 'db');
    items.put({ ...item, spec: { ...item?.spec, keys: [{ to: 'PGPASSWORD', from: 'password' }] } });
    source.put(fullItem({ username: 'app', password: 's3cr3t' }));
    await reconciler.reconcile('apps/db', signal);
    assert.deepEqual(data(), { PGPASSWORD: 's3cr3t' });
    assert.equal(ready()?.reason, 'Synced');
  });

  it('keeps the last good Secret when a picked field goes, and names the entry (never a value)', async () => {
    const { source, reconciler, items, store, data, ready, events } = setUp();
    const item = items.get('apps', 'db');
    items.put({ ...item, spec: { ...item?.spec, keys: [{ to: 'PGPASSWORD', from: 'password' }] } });
    source.put(fullItem({ password: 'good' }, { version: 1 }));
    await reconciler.reconcile('apps/db', signal);
    source.put(fullItem({ pass: 'renamed' }, { version: 2 }));
    await assert.rejects(reconciler.reconcile('apps/db', signal), /spec\.keys\[0\]\.from/);
    assert.deepEqual(data(), { PGPASSWORD: 'good' });
    assert.equal(store.writes.length, 1);
    assert.equal(ready()?.status, 'False');
    assert.equal(ready()?.reason, 'FieldNotFound');
    assert.match(
      ready()?.message ?? '',
      /^spec\.keys\[0\]\.from: item "database" has no field labelled "password"/,
    );
    const warning = events.recorded.find((event) => event.reason === 'FieldNotFound');
    assert.equal(warning?.message, ready()?.message);
    assert.ok(!JSON.stringify(events.recorded).includes('renamed'));
    assert.ok(!JSON.stringify(events.recorded).includes('good'));
  });

  it('puts spec.secretMetadata on the Secret, and applies again once it is taken out', async () => {
    const { source, reconciler, items, store } = setUp();
    const item = items.get('apps', 'db');
    items.put({
      ...item,
      spec: { ...item?.spec, secretMetadata: { labels: { tier: 'db' }, annotations: { a: 'b' } } },
    });
    source.put(fullItem({ password: 's3cr3t' }));
    await reconciler.reconcile('apps/db', signal);
    assert.equal(store.get('apps', 'db')?.metadata?.labels?.tier, 'db');
    assert.equal(store.get('apps', 'db')?.metadata?.annotations?.a, 'b');
    await reconciler.reconcile('apps/db', signal);
    assert.equal(store.writes.length, 1);
    // The spec edit: generation 2, no secretMetadata. Nothing in the data changed, yet the Secret
    // is applied (server-side apply drops what op-kube no longer lists).
    const synced = items.get('apps', 'db');
    items.put({
      ...synced,
      metadata: { ...synced?.metadata, generation: 2 },
      spec: { itemPath: synced?.spec?.itemPath ?? '' },
    });
    await reconciler.reconcile('apps/db', signal);
    // (The fake merges metadata; the e2e test sees the real apiserver remove the label.)
    assert.equal(store.writes.length, 2);
    await reconciler.reconcile('apps/db', signal);
    assert.equal(store.writes.length, 2);
  });

  it('puts spec.extraItems into the same Secret, follows every item, and refuses a key two items give', async () => {
    const items = new MemoryLister<OnePasswordItem>();
    const { store, events, source, ports } = reconcilerFakes();
    const users = new ItemUsers();
    const reconciler = new OnePasswordItemReconciler({
      ...ports,
      users,
      status: memoryStatusWriter(items),
      items,
      enableAnnotations: false,
    });
    const ADMIN = 'a'.repeat(26);
    items.put({
      apiVersion: 'onepassword.com/v1',
      kind: 'OnePasswordItem',
      metadata: { namespace: 'apps', name: 'db', uid: 'opi-uid', generation: 1 },
      spec: {
        itemPath: `vaults/${VAULT}/items/${ITEM}`,
        keys: [{ to: 'PGPASSWORD', from: 'password' }],
        extraItems: [
          {
            itemPath: `vaults/${VAULT}/items/${ADMIN}`,
            keys: [{ to: 'ADMIN_PASSWORD', from: 'password' }],
          },
        ],
      },
    });
    source.put(fullItem({ password: 'app-pw' }));
    source.put(fullItem({ password: 'root-pw' }, { id: ADMIN, title: 'admin', version: 7 }));
    await reconciler.reconcile('apps/db', signal);
    const data = () =>
      Object.fromEntries(
        Object.entries(store.get('apps', 'db')?.data ?? {}).map(([key, value]) => [
          key,
          Buffer.from(value, 'base64').toString(),
        ]),
      );
    assert.deepEqual(data(), { PGPASSWORD: 'app-pw', ADMIN_PASSWORD: 'root-pw' });
    // An edit of either item re-queues this one key.
    assert.deepEqual(users.keysUsing({ vaultId: VAULT, itemId: ADMIN }), ['apps/db']);
    assert.deepEqual(users.keysUsing({ vaultId: VAULT, itemId: ITEM }), ['apps/db']);
    const ready = () => items.get('apps', 'db')?.status?.conditions?.[0];
    assert.match(ready()?.message ?? '', /version 1 of item database, version 7 of item admin/);

    // The extra item's keys now include PGPASSWORD too: a collision, the last good data stays.
    const item = items.get('apps', 'db');
    items.put({
      ...item,
      metadata: { ...item?.metadata, generation: 2 },
      spec: {
        ...item?.spec,
        extraItems: [
          {
            itemPath: `vaults/${VAULT}/items/${ADMIN}`,
            keys: [{ to: 'PGPASSWORD', from: 'password' }],
          },
        ],
      },
    });
    await assert.rejects(reconciler.reconcile('apps/db', signal));
    assert.deepEqual(data(), { PGPASSWORD: 'app-pw', ADMIN_PASSWORD: 'root-pw' });
    assert.equal(ready()?.reason, 'KeyCollision');
    assert.equal(
      ready()?.message,
      'Secret key PGPASSWORD comes from item "database" (spec) and from item "admin" (spec.extraItems[0]); give one another name with keys[].to, or leave it out',
    );
    assert.ok(events.recorded.some((event) => event.reason === 'KeyCollision'));
    assert.equal(store.writes.length, 1);
  });

  it('does nothing for an item that is gone', async () => {
    const { reconciler, items, store } = setUp();
    items.objects.clear();
    assert.deepEqual(await reconciler.reconcile('apps/db', signal), {});
    assert.deepEqual(store.writes, []);
  });
});

describe('OnePasswordItemReconciler and 1Password migrations', () => {
  const FINALIZER = 'onepassword.com/finalizer.secret';
  const deleting = (item: OnePasswordItem, finalizers = [FINALIZER]): OnePasswordItem => ({
    ...item,
    metadata: {
      ...item.metadata,
      deletionTimestamp: new Date('2026-01-01T00:00:00Z'),
      finalizers,
    },
  });

  it("runs 1Password's clean-up on an item being deleted with its finalizer, then removes it", async () => {
    const fakes = setUp();
    const { items, store, reconciler, source } = fakes;
    source.put(fullItem({ password: 's3cr3t' }));
    await reconciler.reconcile('apps/db', signal);
    const item = items.get('apps', 'db');
    assert.ok(item);
    items.put(deleting(item, ['other.example/keep', FINALIZER]));
    assert.deepEqual(await reconciler.reconcile('apps/db', signal), {});
    assert.equal(store.get('apps', 'db'), undefined);
    assert.deepEqual(fakes.finalizers.removed, [`onepassworditems apps/db ${FINALIZER}`]);
  });

  it("never deletes a Secret the item being deleted does not own, but still removes 1Password's finalizer", async () => {
    const fakes = setUp();
    const { items, store, reconciler } = fakes;
    store.put(managedSecret([], 'users-own'));
    const item = items.get('apps', 'db');
    assert.ok(item);
    items.put(deleting(item));
    await reconciler.reconcile('apps/db', signal);
    assert.ok(store.get('apps', 'db'));
    assert.deepEqual(store.writes, []);
    assert.deepEqual(fakes.finalizers.removed, [`onepassworditems apps/db ${FINALIZER}`]);
  });

  it('leaves an item being deleted without the finalizer to the garbage collector', async () => {
    const fakes = setUp();
    const { items, store, reconciler, source } = fakes;
    source.put(fullItem({ password: 's3cr3t' }));
    await reconciler.reconcile('apps/db', signal);
    const item = items.get('apps', 'db');
    assert.ok(item);
    items.put(deleting(item, []));
    store.writes.length = 0;
    await reconciler.reconcile('apps/db', signal);
    assert.deepEqual(store.writes, []);
    assert.deepEqual(fakes.finalizers.removed, []);
  });

  it("leaves 1Password's finalizer on an item that is not being deleted", async () => {
    const fakes = setUp();
    const { items, reconciler, source } = fakes;
    source.put(fullItem({ password: 's3cr3t' }));
    const item = items.get('apps', 'db');
    assert.ok(item);
    items.put({ ...item, metadata: { ...item.metadata, finalizers: [FINALIZER] } });
    await reconciler.reconcile('apps/db', signal);
    assert.deepEqual(fakes.finalizers.removed, []);
  });

  it("copies the item's auto-restart annotation to its Secret without --enable-annotations", async () => {
    const { items, store, reconciler, source } = setUp();
    source.put(fullItem({ password: 's3cr3t' }));
    const item = items.get('apps', 'db');
    assert.ok(item);
    items.put({
      ...item,
      metadata: {
        ...item.metadata,
        annotations: { 'operator.1password.io/auto-restart': 'true', 'team.example/x': 'y' },
      },
    });
    await reconciler.reconcile('apps/db', signal);
    const annotations = store.get('apps', 'db')?.metadata?.annotations ?? {};
    assert.equal(annotations['operator.1password.io/auto-restart'], 'true');
    assert.equal(annotations['team.example/x'], undefined);
  });

  it('moves item-version (not the data) of a Secret whose item carries ignore-secret', async () => {
    const { store, reconciler, source, data } = setUp();
    source.put(fullItem({ password: 'first' }, { version: 1 }));
    await reconciler.reconcile('apps/db', signal);
    source.put({
      ...fullItem({ password: 'second' }, { version: 2 }),
      tags: ['operator.1password.io:ignore-secret'],
    });
    await reconciler.reconcile('apps/db', signal);
    assert.deepEqual(data(), { password: 'first' });
    assert.equal(
      store.get('apps', 'db')?.metadata?.annotations?.['operator.1password.io/item-version'],
      '2',
    );
  });
});
