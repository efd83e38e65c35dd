// The operator never loses, truncates or hands over a Secret by mistake: name collisions between a
// OnePasswordItem and an annotated Deployment, an oversized item, a vault removed while running, and
// labels that cannot all become keys.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Deployment,
  type V1Secret,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, kubeConfigFor, kubectl, testNamespace } from '../support/cluster.ts';
import { startConnectLocal } from '../support/connect-local.ts';
import { createOnePasswordItem, startOperator } from '../support/operator.ts';
import { recordReliability } from '../support/reliability.ts';

const PRODUCTION = 'production0000000000000000';
const STAGING = 'staging0000000000000000000';
const DATABASE = 'database000000000000000000';
const CACHE = 'cache000000000000000000000';
const QUEUE = 'queue000000000000000000000';

const DATA = `
vaults:
  - name: Production
    id: ${PRODUCTION}
    items:
      - title: database
        id: ${DATABASE}
        fields:
          - { label: password, value: db-one }
      - title: cache
        id: ${CACHE}
        fields:
          - { label: password, value: cache-one }
  - name: Staging
    id: ${STAGING}
    items:
      - title: queue
        id: ${QUEUE}
        fields:
          - { label: password, value: queue-one }
`;

const config = kubeConfigFor();
const core = config.makeApiClient(CoreV1Api);
const apps = config.makeApiClient(AppsV1Api);
const custom = config.makeApiClient(CustomObjectsApi);

interface Condition {
  readonly status?: string;
  readonly reason?: string;
  readonly message?: string;
}

async function ready(namespace: string, name: string): Promise<Condition> {
  const object = (await custom.getNamespacedCustomObject({
    group: 'onepassword.com',
    version: 'v1',
    namespace,
    plural: 'onepassworditems',
    name,
  })) as { status?: { conditions?: (Condition & { type: string })[] } };
  return object.status?.conditions?.find((condition) => condition.type === 'Ready') ?? {};
}

async function secret(namespace: string, name: string): Promise<V1Secret | undefined> {
  return core.readNamespacedSecret({ namespace, name }).catch(() => undefined);
}

function value(secret: V1Secret | undefined, key: string): string | undefined {
  const data = secret?.data?.[key];
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString();
}

interface StoredEvent {
  readonly reason?: string;
  readonly note?: string;
  readonly type?: string;
  readonly regarding?: { kind?: string; name?: string };
}

function events(namespace: string): StoredEvent[] {
  const result = kubectl(['get', 'events.v1.events.k8s.io', '-n', namespace, '-o', 'json']);
  assert.equal(result.status, 0, result.stderr);
  return (JSON.parse(result.stdout) as { items: StoredEvent[] }).items;
}

function eventFor(namespace: string, kind: string, name: string, reason: string) {
  return events(namespace).find(
    (event) =>
      event.reason === reason && event.regarding?.kind === kind && event.regarding.name === name,
  );
}

function deployment(name: string, annotations: Record<string, string>): V1Deployment {
  return {
    metadata: { name, annotations },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    },
  };
}

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

async function synced(namespace: string, name: string): Promise<void> {
  await eventually(`${namespace}/${name} Ready=True`, async () =>
    (await ready(namespace, name)).reason === 'Synced' ? true : undefined,
  );
}

describe('one owner per Secret', () => {
  it('never lets an annotated Deployment overwrite or delete a OnePasswordItem’s Secret', async (t) => {
    const { namespace } = await setUp(t, 'collide-opi');
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'db' },
      spec: { itemPath: `vaults/Production/items/database` },
    });
    await synced(namespace, 'db');
    const before = await secret(namespace, 'db');
    assert.equal(value(before, 'password'), 'db-one');

    // A Deployment asks for a Secret of the same name, for another item.
    await apps.createNamespacedDeployment({
      namespace,
      body: deployment('intruder', {
        'operator.1password.io/item-path': `vaults/${PRODUCTION}/items/${CACHE}`,
        'operator.1password.io/item-name': 'db',
      }),
    });
    await eventually('a SecretOwnedByOther Event on the Deployment', () =>
      Promise.resolve(eventFor(namespace, 'Deployment', 'intruder', 'SecretOwnedByOther')),
    );
    await eventually('a SecretOwnedByOther Event on the OnePasswordItem', () =>
      Promise.resolve(eventFor(namespace, 'OnePasswordItem', 'db', 'SecretOwnedByOther')),
    );
    const during = await secret(namespace, 'db');
    assert.equal(value(during, 'password'), 'db-one');
    assert.deepEqual(
      during?.metadata?.ownerReferences?.map((owner) => [owner.kind, owner.name, owner.controller]),
      [['OnePasswordItem', 'db', true]],
    );
    assert.equal((await ready(namespace, 'db')).reason, 'Synced');

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
    const after = await secret(namespace, 'db');
    assert.equal(value(after, 'password'), 'db-one');
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
      body: deployment('holder', {
        'operator.1password.io/item-path': `vaults/Production/items/cache`,
        'operator.1password.io/item-name': 'shared',
      }),
    });
    await eventually('the Deployment’s Secret', async () =>
      value(await secret(namespace, 'shared'), 'password') === 'cache-one' ? true : undefined,
    );
    // Same name, and even the same item: the kinds must not share it.
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'shared' },
      spec: { itemPath: `vaults/Production/items/cache` },
    });
    const condition = await eventually('Ready=False SecretOwnedByOther', async () => {
      const current = await ready(namespace, 'shared');
      return current.reason === 'SecretOwnedByOther' ? current : undefined;
    });
    assert.equal(condition.status, 'False');
    assert.match(condition.message ?? '', /Deployment holder/);
    await eventually('a SecretOwnedByOther Event on the Deployment', () =>
      Promise.resolve(eventFor(namespace, 'Deployment', 'holder', 'SecretOwnedByOther')),
    );
    const held = await secret(namespace, 'shared');
    assert.deepEqual(
      held?.metadata?.ownerReferences?.map((owner) => [owner.kind, owner.name]),
      [['Deployment', 'holder']],
    );

    // Another Deployment asking for the same name with another item is refused too.
    await apps.createNamespacedDeployment({
      namespace,
      body: deployment('other', {
        'operator.1password.io/item-path': `vaults/Production/items/database`,
        'operator.1password.io/item-name': 'shared',
      }),
    });
    await eventually('a SecretOwnedByOther Event on the second Deployment', () =>
      Promise.resolve(eventFor(namespace, 'Deployment', 'other', 'SecretOwnedByOther')),
    );
    assert.equal(value(await secret(namespace, 'shared'), 'password'), 'cache-one');
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
    await synced(namespace, 'db');
    await synced(namespace, 'cache');

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
    const condition = await eventually('Ready=False SecretTooLarge', async () => {
      const current = await ready(namespace, 'db');
      return current.reason === 'SecretTooLarge' ? current : undefined;
    });
    assert.equal(condition.status, 'False');
    const detectMs = Date.now() - editedAt;
    assert.match(condition.message ?? '', /1048576|1 MiB/);
    const kept = await secret(namespace, 'db');
    assert.equal(value(kept, 'password'), 'db-one');
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
        value(await secret(namespace, 'cache'), 'password') === 'cache-two' ? true : undefined,
      { timeoutMs: 15_000 },
    );
    const otherMs = Date.now() - started;
    assert.ok(otherMs < 15_000);
    assert.ok(eventFor(namespace, 'OnePasswordItem', 'db', 'SecretTooLarge'));
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
    await synced(namespace, 'queue');
    const removed = await connect.admin('DELETE', `/admin/vaults/${STAGING}`);
    assert.equal(removed.status, 204);
    const removedAt = Date.now();
    const condition = await eventually(
      'Ready=False VaultNotFound',
      async () => {
        const current = await ready(namespace, 'queue');
        return current.reason === 'VaultNotFound' ? current : undefined;
      },
      { timeoutMs: 20_000 },
    );
    const detectMs = Date.now() - removedAt;
    assert.equal(condition.status, 'False');
    assert.equal(value(await secret(namespace, 'queue'), 'password'), 'queue-one');
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
      const current = await ready(namespace, 'db');
      return current.reason === 'Synced' && /api-key/.test(current.message ?? '')
        ? current
        : undefined;
    });
    assert.equal(condition.status, 'True');
    assert.match(condition.message ?? '', /api key/);
    assert.match(condition.message ?? '', /!!!/);
    assert.match(condition.message ?? '', /🔑/);
    const warning = await eventually('a KeysDropped Warning', () =>
      Promise.resolve(eventFor(namespace, 'OnePasswordItem', 'db', 'KeysDropped')),
    );
    assert.equal(warning.type, 'Warning');
    assert.match(warning.note ?? '', /api\/key/);
    for (const text of [condition.message ?? '', warning.note ?? '']) {
      assert.doesNotMatch(text, new RegExp(canary));
    }
    // 1Password's mapping is kept: the last of the merged fields wins.
    assert.equal(value(await secret(namespace, 'db'), 'api-key'), `${canary}-3`);
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
