// The operator never loses, truncates or hands over a Secret by mistake: name collisions between a
// OnePasswordItem and an annotated Deployment, an oversized item, a vault removed while running, and
// labels that cannot all become keys.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppsV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, kubeConfigFor, kubectl, testNamespace } from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { startConnectLocal } from '../support/connect-local.ts';
import { annotatedDeployment, secretRequest } from '../support/deployments.ts';
import { eventsAbout } from '../support/events.ts';
import { readyCondition, readyWith } from '../support/item-status.ts';
import { createOnePasswordItem, startOperator } from '../support/operator.ts';
import { recordReliability } from '../support/reliability.ts';
import { readSecret, secretText, secretValue } from '../support/secrets.ts';

const PRODUCTION = 'production0000000000000000';
const STAGING = 'staging0000000000000000000';
const DATABASE = 'database000000000000000000';
const CACHE = 'cache000000000000000000000';
const QUEUE = 'queue000000000000000000000';

const DATA = dataFile(
  {
    name: 'Production',
    id: PRODUCTION,
    items: [
      passwordItem('database', 'db-one', { id: DATABASE }),
      passwordItem('cache', 'cache-one', { id: CACHE }),
    ],
  },
  { name: 'Staging', id: STAGING, items: [passwordItem('queue', 'queue-one', { id: QUEUE })] },
);

const config = kubeConfigFor();
const apps = config.makeApiClient(AppsV1Api);
const custom = config.makeApiClient(CustomObjectsApi);

async function setUp(t: { after(fn: () => Promise<void>): void }, prefix: string) {
  const namespace = await testNamespace(t, prefix);
  const connect = await startConnectLocal(t, { data: DATA });
  const token = await connect.token({ vaults: ['Production,r', 'Staging,r'], name: 'operator' });
  const operator = await startOperator(t, {
    connectUrl: connect.url,
    token,
    namespaces: [namespace],
  });
  return { namespace, connect, operator };
}

describe('one owner per Secret', () => {
  it('never lets an annotated Deployment overwrite or delete a OnePasswordItem’s Secret', async (t) => {
    const { namespace } = await setUp(t, 'collide-opi');
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'db' },
      spec: { itemPath: `vaults/Production/items/database` },
    });
    await readyWith(namespace, 'db', 'Synced');
    const before = await readSecret(namespace, 'db');
    assert.equal(secretValue(before, 'password'), 'db-one');

    // A Deployment asks for a Secret of the same name, for another item.
    await apps.createNamespacedDeployment({
      namespace,
      body: annotatedDeployment(
        'intruder',
        secretRequest(`vaults/${PRODUCTION}/items/${CACHE}`, 'db'),
      ),
    });
    await eventually('a SecretOwnedByOther Event on the Deployment', () =>
      Promise.resolve(eventsAbout(namespace, 'Deployment', 'intruder', 'SecretOwnedByOther')[0]),
    );
    await eventually('a SecretOwnedByOther Event on the OnePasswordItem', () =>
      Promise.resolve(eventsAbout(namespace, 'OnePasswordItem', 'db', 'SecretOwnedByOther')[0]),
    );
    const during = await readSecret(namespace, 'db');
    assert.equal(secretValue(during, 'password'), 'db-one');
    assert.deepEqual(
      during?.metadata?.ownerReferences?.map((owner) => [owner.kind, owner.name, owner.controller]),
      [['OnePasswordItem', 'db', true]],
    );
    assert.equal((await readyCondition(namespace, 'db')).reason, 'Synced');

    // The Deployment drops its annotations: the Secret is not its to delete.
    assert.equal(
      kubectl([
        'annotate',
        'deployment',
        'intruder',
        '-n',
        namespace,
        'operator.1password.io/item-path-',
        'operator.1password.io/item-name-',
      ]).status,
      0,
    );
    await sleep(3000);
    const after = await readSecret(namespace, 'db');
    assert.equal(secretValue(after, 'password'), 'db-one');
    assert.equal(after?.metadata?.uid, before?.metadata?.uid);
    await recordReliability({
      suite: 'operator-data-safety',
      fault:
        'A Deployment annotated item-name: db (another item) beside OnePasswordItem db, then un-annotated',
      expected:
        'SecretOwnedByOther Events on both; Secret data, owner and uid unchanged; not deleted',
      observed:
        'Events on both; data, controller reference and uid unchanged 3 s after the release',
    });
  });

  it('refuses a OnePasswordItem whose Secret name a Deployment already holds', async (t) => {
    const { namespace } = await setUp(t, 'collide-deploy');
    await apps.createNamespacedDeployment({
      namespace,
      body: annotatedDeployment('holder', secretRequest(`vaults/Production/items/cache`, 'shared')),
    });
    await eventually('the Deployment’s Secret', async () =>
      (await secretText(namespace, 'shared', 'password')) === 'cache-one' ? true : undefined,
    );
    // Same name, and even the same item: the kinds must not share it.
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'shared' },
      spec: { itemPath: `vaults/Production/items/cache` },
    });
    const condition = await readyWith(namespace, 'shared', 'SecretOwnedByOther');
    assert.equal(condition.status, 'False');
    assert.match(condition.message ?? '', /Deployment holder/);
    await eventually('a SecretOwnedByOther Event on the Deployment', () =>
      Promise.resolve(eventsAbout(namespace, 'Deployment', 'holder', 'SecretOwnedByOther')[0]),
    );
    const held = await readSecret(namespace, 'shared');
    assert.deepEqual(
      held?.metadata?.ownerReferences?.map((owner) => [owner.kind, owner.name]),
      [['Deployment', 'holder']],
    );

    // Another Deployment asking for the same name with another item is refused too.
    await apps.createNamespacedDeployment({
      namespace,
      body: annotatedDeployment(
        'other',
        secretRequest(`vaults/Production/items/database`, 'shared'),
      ),
    });
    await eventually('a SecretOwnedByOther Event on the second Deployment', () =>
      Promise.resolve(eventsAbout(namespace, 'Deployment', 'other', 'SecretOwnedByOther')[0]),
    );
    assert.equal(await secretText(namespace, 'shared', 'password'), 'cache-one');
    await recordReliability({
      suite: 'operator-data-safety',
      fault:
        'A OnePasswordItem, then a Deployment for another item, asking for a Deployment’s Secret name',
      expected: 'False/SecretOwnedByOther on the item; Events; the Deployment’s Secret unchanged',
      observed:
        'False/SecretOwnedByOther naming Deployment holder; Events; data and owners unchanged',
    });
  });
});

describe('limits and losses are reported, never applied silently', () => {
  it('refuses an item over the Secret size limit, keeps the last good data, and stalls nothing', async (t) => {
    const { namespace, connect } = await setUp(t, 'too-large');
    for (const [name, item] of [
      ['db', 'database'],
      ['cache', 'cache'],
    ]) {
      await createOnePasswordItem(custom, namespace, {
        metadata: { name },
        spec: { itemPath: `vaults/Production/items/${item}` },
      });
    }
    await readyWith(namespace, 'db', 'Synced');
    await readyWith(namespace, 'cache', 'Synced');

    const huge = 'x'.repeat(1_100_000);
    const edit = await connect.admin('PUT', `/admin/vaults/${PRODUCTION}/items/${DATABASE}`, {
      title: 'database',
      fields: [
        { label: 'password', value: 'db-two' },
        { label: 'blob', value: huge },
      ],
    });
    assert.equal(edit.status, 200);
    const editedAt = Date.now();
    const condition = await readyWith(namespace, 'db', 'SecretTooLarge');
    assert.equal(condition.status, 'False');
    const detectMs = Date.now() - editedAt;
    assert.match(condition.message ?? '', /1048576|1 MiB/);
    const kept = await readSecret(namespace, 'db');
    assert.equal(secretValue(kept, 'password'), 'db-one');
    assert.equal(kept?.data?.blob, undefined);

    // Every other object still syncs at once.
    const started = Date.now();
    const other = await connect.admin('PUT', `/admin/vaults/${PRODUCTION}/items/${CACHE}`, {
      title: 'cache',
      fields: [{ label: 'password', value: 'cache-two' }],
    });
    assert.equal(other.status, 200);
    await eventually(
      'the other item to follow its change',
      async () =>
        (await secretText(namespace, 'cache', 'password')) === 'cache-two' ? true : undefined,
      { timeoutMs: 15_000 },
    );
    const otherMs = Date.now() - started;
    assert.ok(otherMs < 15_000);
    assert.ok(eventsAbout(namespace, 'OnePasswordItem', 'db', 'SecretTooLarge')[0]);
    await recordReliability({
      suite: 'operator-data-safety',
      fault: 'An item grows to 1.1 MB of data (over the 1 MiB Secret limit)',
      expected: 'False/SecretTooLarge, never sent; last good Secret; other items unaffected',
      observed: `False/SecretTooLarge; Secret unchanged; another item's change applied ${otherMs} ms after its edit`,
      detectMs,
    });
  });

  it('reports VaultNotFound when a vault disappears while it runs, and keeps the Secret', async (t) => {
    const { namespace, connect } = await setUp(t, 'vault-gone');
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'queue' },
      spec: { itemPath: 'vaults/Staging/items/queue' },
    });
    await readyWith(namespace, 'queue', 'Synced');
    const removed = await connect.admin('DELETE', `/admin/vaults/${STAGING}`);
    assert.equal(removed.status, 204);
    const removedAt = Date.now();
    const condition = await readyWith(namespace, 'queue', 'VaultNotFound', { timeoutMs: 20_000 });
    const detectMs = Date.now() - removedAt;
    assert.equal(condition.status, 'False');
    assert.equal(await secretText(namespace, 'queue', 'password'), 'queue-one');
    await recordReliability({
      suite: 'operator-data-safety',
      fault: 'A vault deleted in Connect while the operator runs',
      expected: 'False/VaultNotFound within one full check; Secret kept',
      observed: 'False/VaultNotFound at the next poll (POLLING_INTERVAL 1 s); Secret kept',
      detectMs,
    });
  });

  it('says which fields were dropped or merged, by name only', async (t) => {
    const { namespace, connect } = await setUp(t, 'key-loss');
    const canary = `canary-${Date.now()}`;
    const edit = await connect.admin('PUT', `/admin/vaults/${PRODUCTION}/items/${DATABASE}`, {
      title: 'database',
      fields: [
        { label: 'password', value: 'db-one' },
        { label: 'api key', value: `${canary}-1` },
        { label: 'api-key', value: `${canary}-2` },
        { label: 'api/key', value: `${canary}-3` },
        { label: '!!!', value: `${canary}-4` },
        { label: '🔑', value: `${canary}-5` },
      ],
    });
    assert.equal(edit.status, 200);
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'db' },
      spec: { itemPath: 'vaults/Production/items/database' },
    });
    const condition = await eventually('Ready=True with a note on lost keys', async () => {
      const current = await readyCondition(namespace, 'db');
      return current.reason === 'Synced' && /api-key/.test(current.message ?? '')
        ? current
        : undefined;
    });
    assert.equal(condition.status, 'True');
    assert.match(condition.message ?? '', /api key/);
    assert.match(condition.message ?? '', /!!!/);
    assert.match(condition.message ?? '', /🔑/);
    const warning = await eventually('a KeysDropped Warning', () =>
      Promise.resolve(eventsAbout(namespace, 'OnePasswordItem', 'db', 'KeysDropped')[0]),
    );
    assert.equal(warning.type, 'Warning');
    assert.match(warning.note ?? '', /api\/key/);
    for (const text of [condition.message ?? '', warning.note ?? '']) {
      assert.doesNotMatch(text, new RegExp(canary));
    }
    // 1Password's mapping is kept: the last of the merged fields wins.
    assert.equal(await secretText(namespace, 'db', 'api-key'), `${canary}-3`);
    await recordReliability({
      suite: 'operator-data-safety',
      fault: 'Fields labelled `api key`, `api-key`, `api/key`, `!!!`, `🔑`',
      expected:
        "1Password's mapping kept; Ready message and KeysDropped Warning name them, no value",
      observed:
        'message and Warning name all five; no canary value in either; api-key = last field',
    });
  });
});
