// Service-account mode up to the SDK boundary: the real @1password/sdk module and types, a fake
// Client behind them (1Password.com is not reachable here), the same mapping and ItemSource.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  AutofillBehavior,
  ItemCategory,
  ItemFieldType,
  ItemState,
  RateLimitExceededError,
  VaultType,
  type FileAttributes,
  type Item,
  type ItemOverview,
  type VaultOverview,
} from '@1password/sdk';
import { isConnectError } from '../../../src/connect/index.ts';
import type { OnePasswordItem } from '../../../src/operator/api.ts';
import { OnePasswordItemReconciler } from '../../../src/operator/item-reconciler.ts';
import { classifyFailure } from '../../../src/operator/failure.ts';
import { createOperatorMetrics } from '../../../src/operator/metrics.ts';
import { ItemSource } from '../../../src/operator/item-source.ts';
import {
  fromSdkItem,
  loadServiceAccountClient,
  SdkItemBackend,
  type SdkClient,
} from '../../../src/operator/sdk-items.ts';
import { mapItemToSecretData } from '../../../src/operator/secret-data.ts';
import { MemoryLister, memoryStatusWriter, reconcilerFakes } from '../../support/operator-fakes.ts';

const VAULT = 'vvvvvvvvvvvvvvvvvvvvvvvvvv';
const ITEM = 'iiiiiiiiiiiiiiiiiiiiiiiiii';
const FILE_ID = 'ffffffffffffffffffffffffff';
const DOC_ID = 'dddddddddddddddddddddddddd';
const T0 = new Date('2026-01-01T00:00:00.000Z');

function sdkItem(overrides: Partial<Item> = {}): Item {
  return {
    id: ITEM,
    title: 'db',
    category: ItemCategory.Login,
    vaultId: VAULT,
    fields: [
      { id: 'username', title: 'username', fieldType: ItemFieldType.Text, value: 'admin' },
      { id: 'password', title: 'password', fieldType: ItemFieldType.Concealed, value: 's3cret' },
      {
        id: 'f1',
        title: 'host name',
        sectionId: 'sec',
        fieldType: ItemFieldType.Url,
        value: 'db.example',
      },
      { id: 'empty', title: 'empty', fieldType: ItemFieldType.Text, value: '' },
    ],
    sections: [{ id: 'sec', title: 'Server' }],
    notes: 'some notes',
    tags: ['t'],
    websites: [
      { url: 'https://a.example', label: 'website', autofillBehavior: AutofillBehavior.Never },
      { url: 'https://b.example', label: 'website', autofillBehavior: AutofillBehavior.Never },
    ],
    version: 3,
    files: [
      { attributes: { id: FILE_ID, name: 'cert.pem', size: 4 }, sectionId: 'sec', fieldId: 'x' },
    ],
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function vault(contentVersion: number, overrides: Partial<VaultOverview> = {}): VaultOverview {
  return {
    id: VAULT,
    title: 'Prod',
    description: '',
    vaultType: VaultType.UserCreated,
    activeItemCount: 1,
    contentVersion,
    attributeVersion: 1,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function overview(item: Item): ItemOverview {
  return {
    id: item.id,
    title: item.title,
    category: item.category,
    vaultId: item.vaultId,
    websites: item.websites,
    tags: item.tags,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
    state: ItemState.Active,
  };
}

/** A fake of the SDK's Client, typed by the SDK's own declarations; counts every call. */
function fakeSdk(state: {
  vaults: VaultOverview[];
  items: Item[];
  files: Map<string, Uint8Array>;
}) {
  const calls: string[] = [];
  const client: SdkClient = {
    vaults: {
      list: () => {
        calls.push('vaults.list');
        return Promise.resolve(state.vaults);
      },
    },
    items: {
      list: (vaultId: string) => {
        calls.push(`items.list ${vaultId}`);
        return Promise.resolve(state.items.filter((i) => i.vaultId === vaultId).map(overview));
      },
      get: (vaultId: string, itemId: string) => {
        calls.push(`items.get ${itemId}`);
        const item = state.items.find((i) => i.vaultId === vaultId && i.id === itemId);
        // The SDK's errors are plain Errors with a message (errors.ts throwError).
        return item ? Promise.resolve(item) : Promise.reject(new Error('item not found'));
      },
      files: {
        read: (_vaultId: string, _itemId: string, attributes: FileAttributes) => {
          calls.push(`files.read ${attributes.id}`);
          const content = state.files.get(attributes.id);
          return content ? Promise.resolve(content) : Promise.reject(new Error('file not found'));
        },
      },
    },
  };
  return { client, calls };
}

describe('service-account mode: the real @1password/sdk module', () => {
  it('is not loaded by the operator’s modules: Connect mode never pays for its WASM core', () => {
    const script = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(new URL('../../../src/operator/setup.ts', import.meta.url).href)});
      const cache = createRequire(import.meta.url).cache;
      process.stdout.write(String(Object.keys(cache).filter((k) => k.includes('@1password/sdk')).length));
    `;
    const loaded = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    assert.equal(loaded, '0');
  });

  it('loads, and a token it cannot read fails at once, without network, as Unauthorized and without the token', async () => {
    const token = 'ops_not-a-real-token-1234567890';
    const started = Date.now();
    await assert.rejects(loadServiceAccountClient(token, '0.0.0'), (error: unknown) => {
      assert.ok(isConnectError(error, 'Unauthorized'), String(error));
      assert.match(error.message, /^1Password SDK createClient: invalid service account token/);
      assert.ok(!error.message.includes('not-a-real-token'));
      assert.equal(classifyFailure(error).reason, 'Unauthorized');
      return true;
    });
    assert.ok(Date.now() - started < 5000);
  });
});

describe('service-account mode: `op-kube operator` with a token the SDK cannot read', () => {
  it('exits 1 within seconds, naming the SDK’s reason and never the token', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'op-kube-sa-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
        users: [{ name: 'u', user: { token: 'kube-token' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const token = 'ops_eyJub3QiOiJhIHJlYWwgdG9rZW4ifQ';
    const result = spawnSync(
      process.execPath,
      [
        new URL('../../../bin/op-kube.js', import.meta.url).pathname,
        'operator',
        `--kubeconfig=${kubeconfig}`,
        '--metrics-bind-address=0',
        '--health-probe-bind-address=0',
      ],
      {
        env: { PATH: process.env.PATH, OP_SERVICE_ACCOUNT_TOKEN: token },
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /1Password SDK createClient: invalid service account token/);
    assert.ok(!`${result.stdout}${result.stderr}`.includes(token.slice(4)));
  });
});

describe('service-account mode: SDK items in Connect’s model', () => {
  it('maps as 1Password’s operator does: fields by title in any section, websites (the first primary), files and a Document’s document, no notes', () => {
    const mapped = fromSdkItem(sdkItem());
    assert.deepEqual(
      mapped.fields?.map((f) => [f.label, f.type, f.section?.id]),
      [
        ['username', 'STRING', undefined],
        ['password', 'CONCEALED', undefined],
        ['host name', 'URL', 'sec'],
        ['empty', 'STRING', undefined],
      ],
    );
    assert.deepEqual(mapped.sections, [{ id: 'sec', label: 'Server' }]);
    assert.equal(mapped.category, 'LOGIN');
    assert.equal(mapped.vault.id, VAULT);
    assert.equal(mapped.createdAt, T0.toISOString());
    const { data } = mapItemToSecretData(mapped, new Map([[FILE_ID, Buffer.from('cert')]]), {
      allowEmptyValues: false,
    });
    assert.deepEqual(Object.fromEntries([...data].map(([k, v]) => [k, v.toString()])), {
      // The primary (first) website wins among equal labels, as 1Password marks index 0 primary.
      website: 'https://a.example',
      username: 'admin',
      password: 's3cret',
      'host-name': 'db.example',
      'cert.pem': 'cert',
    });

    const document = fromSdkItem(
      sdkItem({
        category: ItemCategory.Document,
        files: [],
        document: { id: DOC_ID, name: 'doc.txt', size: 2 },
      }),
    );
    assert.deepEqual(
      document.files?.map((f) => [f.id, f.name, f.size]),
      [[DOC_ID, 'doc.txt', 2]],
    );
  });

  it('maps every SDK field type, category and vault type to Connect’s names', () => {
    for (const fieldType of Object.values(ItemFieldType)) {
      const field = { id: 'x', title: 'x', fieldType, value: 'v' };
      const type = fromSdkItem(sdkItem({ fields: [field] })).fields?.[0]?.type;
      assert.match(type ?? '', /^[A-Z_]+$/, `${fieldType} → ${type}`);
    }
    for (const category of Object.values(ItemCategory)) {
      assert.match(fromSdkItem(sdkItem({ category })).category, /^[A-Z_]+$/, category);
    }
  });
});

describe('service-account mode: ItemSource over the SDK', () => {
  function setup() {
    const state = {
      vaults: [vault(10)],
      items: [sdkItem()],
      files: new Map([[FILE_ID, new Uint8Array(Buffer.from('cert'))]]),
    };
    const fake = fakeSdk(state);
    const backend = new SdkItemBackend(fake.client);
    const source = new ItemSource({ client: backend, pollClient: backend.withTimeout(1000) });
    return { state, ...fake, source };
  }

  it('resolves a vault title (any case) and an item title (exact case), as 1Password does in this mode', async () => {
    const { source, state } = setup();
    const ref = await source.resolve({ vault: 'prod', item: 'db' });
    assert.deepEqual(ref, { vaultId: VAULT, itemId: ITEM });
    state.items.push(sdkItem({ id: 'jjjjjjjjjjjjjjjjjjjjjjjjjj', title: 'Other' }));
    await assert.rejects(source.resolve({ vault: 'Prod', item: 'other' }), (error: unknown) => {
      assert.equal(classifyFailure(error).reason, 'ItemNotFound');
      return true;
    });
    await assert.rejects(source.resolve({ vault: 'Nope', item: 'db' }), (error: unknown) => {
      assert.equal(classifyFailure(error).reason, 'VaultNotFound');
      return true;
    });
  });

  it('change detection: one call per idle poll, two when the vault moved but no watched item did; a changed or deleted item is reported', async () => {
    const { source, state, calls } = setup();
    const ref = { vaultId: VAULT, itemId: ITEM };
    const first = await source.get(ref);
    assert.equal(first.files.get(FILE_ID)?.toString(), 'cert');
    assert.deepEqual(await source.poll([ref], 1000), [], 'first poll: versions as read');

    calls.length = 0;
    assert.deepEqual(await source.poll([ref], 1000), []);
    assert.deepEqual(calls, ['vaults.list'], 'idle poll');

    calls.length = 0;
    state.vaults = [vault(11)];
    assert.deepEqual(await source.poll([ref], 1000), []);
    assert.deepEqual(
      calls,
      ['vaults.list', `items.list ${VAULT}`],
      'another item of the vault changed',
    );

    calls.length = 0;
    const later = new Date(T0.getTime() + 1000);
    state.items = [sdkItem({ version: 4, updatedAt: later, fields: [] })];
    state.vaults = [vault(12)];
    assert.deepEqual(await source.poll([ref], 1000), [ref]);
    const second = await source.get(ref);
    assert.equal(second.item.version, 4);
    assert.deepEqual(calls.slice(2), [`items.get ${ITEM}`, `files.read ${FILE_ID}`]);
    assert.deepEqual(await source.poll([ref], 1000), [], 'the new version is known');

    state.items = [];
    state.vaults = [vault(13)];
    assert.deepEqual(await source.poll([ref], 1000), [ref], 'deleted');
    source.invalidate(ref);
    await assert.rejects(source.get(ref), (error: unknown) => {
      assert.equal(classifyFailure(error).reason, 'ItemNotFound');
      return true;
    });
  });

  it('a title resolved again after an edit never leaves the older cached item served (an item with files)', async () => {
    const { source, state } = setup();
    const ref = await source.resolve({ vault: 'prod', item: 'db' });
    const first = await source.get(ref);
    assert.equal(first.files.get(FILE_ID)?.toString(), 'cert');
    // The item is edited; a resolution (another OnePasswordItem naming it by title) reads it first.
    const later = new Date(T0.getTime() + 1000);
    state.items = [sdkItem({ version: first.item.version + 1, updatedAt: later })];
    state.vaults = [vault(11)];
    source.forgetResolutions();
    await source.resolve({ vault: 'prod', item: 'db' });
    // The poll compares with the version the resolution recorded: the get must not serve the old one.
    await source.poll([ref], 1000);
    assert.equal((await source.get(ref)).item.version, first.item.version + 1);
  });

  it('counts every SDK call in op_kube_sdk_calls_total, by operation and outcome, from both views', async () => {
    const state = {
      vaults: [vault(10)],
      items: [sdkItem()],
      files: new Map([[FILE_ID, new Uint8Array(Buffer.from('cert'))]]),
    };
    const { client } = fakeSdk(state);
    const metrics = createOperatorMetrics(() => new Map());
    const backend = new SdkItemBackend(client, { onCall: (call) => metrics.sdkCall(call) });
    const source = new ItemSource({ client: backend, pollClient: backend.withTimeout(1000) });
    const ref = { vaultId: VAULT, itemId: ITEM };
    await source.get(ref);
    await source.poll([ref], 1000);
    await assert.rejects(source.get({ vaultId: VAULT, itemId: 'zzzzzzzzzzzzzzzzzzzzzzzzzz' }));
    const text = await metrics.registry.metrics();
    assert.match(text, /op_kube_sdk_calls_total\{operation="items.get",status="200"\} 1/);
    assert.match(text, /op_kube_sdk_calls_total\{operation="items.files.read",status="200"\} 1/);
    assert.match(text, /op_kube_sdk_calls_total\{operation="vaults.list",status="200"\} 1/);
    assert.match(text, /op_kube_sdk_calls_total\{operation="items.get",status="404"\} 1/);
  });

  // Messages of the SDK's core (strings of @1password/sdk-core's WASM; the first as the Go SDK,
  // on the same core, prints it in 1Password/terraform-provider-onepassword#306).
  const NOT_A_UUID =
    'invalid user input: encountered the following errors: the provided ID is not a valid UUID';
  const NOT_FOUND_MESSAGES = ["item couldn't be found", 'resource not found'];

  it('a 26-character title the SDK refuses as an id falls back to the title (1Password’s e2e secret-26char-title.yaml); an id it cannot find is ItemNotFound', async () => {
    const { source, state, client } = setup();
    const titled = 'kkkkkkkkkkkkkkkkkkkkkkkkkk';
    state.items.push(sdkItem({ id: titled, title: 'test26charlongitemtitle123' }));
    // 1Password ids are base32 ([a-z2-7]); the SDK refuses others before any request.
    const refusing = (message: string): SdkClient => ({
      ...client,
      items: {
        ...client.items,
        get: (vaultId: string, itemId: string) =>
          /^[a-z2-7]{26}$/.test(itemId)
            ? client.items.get(vaultId, itemId).catch(() => Promise.reject(new Error(message)))
            : Promise.reject(new Error(NOT_A_UUID)),
      },
    });
    for (const message of NOT_FOUND_MESSAGES) {
      const backend = new SdkItemBackend(refusing(message));
      const resolved = await backend.resolveItem('prod', 'test26charlongitemtitle123');
      assert.equal(resolved.id, titled);
      await assert.rejects(backend.getItem(VAULT, 'zzzzzzzzzzzzzzzzzzzzzzzzzz'), (error) => {
        assert.equal(classifyFailure(error).reason, 'ItemNotFound', message);
        return true;
      });
    }
    assert.deepEqual(await source.resolve({ vault: 'Prod', item: 'db' }), {
      vaultId: VAULT,
      itemId: ITEM,
    });
  });

  it('a file whose size is not the item’s is not served; SDK rate limits and hangs become RateLimited and ConnectUnavailable', async () => {
    const { source, state, client } = setup();
    state.files.set(FILE_ID, new Uint8Array(Buffer.from('cer')));
    await assert.rejects(source.get({ vaultId: VAULT, itemId: ITEM }), (error: unknown) => {
      assert.equal(classifyFailure(error).reason, 'InvalidConnectResponse');
      return true;
    });

    const limited = new SdkItemBackend({
      ...client,
      vaults: { list: () => Promise.reject(new RateLimitExceededError('rate limit exceeded')) },
    });
    await assert.rejects(limited.listVaults(), (error: unknown) => {
      assert.equal(classifyFailure(error).reason, 'RateLimited');
      return true;
    });

    const hung = new SdkItemBackend(
      { ...client, vaults: { list: () => new Promise<never>(() => undefined) } },
      { timeoutMs: 50 },
    );
    await assert.rejects(hung.listVaults(), (error: unknown) => {
      assert.equal(classifyFailure(error).reason, 'ConnectUnavailable');
      assert.match(String(error), /no answer within 50 ms/);
      return true;
    });
  });
});

describe('service-account mode: a OnePasswordItem reconciled through the SDK', () => {
  it('writes the Secret from the SDK item (titles resolved, the file read), then keeps its data and says ItemNotFound when the item is deleted', async () => {
    const state = {
      vaults: [vault(10)],
      items: [sdkItem()],
      files: new Map([[FILE_ID, new Uint8Array(Buffer.from('cert'))]]),
    };
    const { client } = fakeSdk(state);
    const backend = new SdkItemBackend(client);
    const source = new ItemSource({ client: backend });
    const { store, ports } = reconcilerFakes();
    const items = new MemoryLister<OnePasswordItem>();
    const reconciler = new OnePasswordItemReconciler({
      ...ports,
      sourceFor: () => source,
      vaultGate: { resolve: (_namespace, path) => source.resolve(path) },
      status: memoryStatusWriter(items),
      items,
      enableAnnotations: false,
    });
    items.put({
      apiVersion: 'onepassword.com/v1',
      kind: 'OnePasswordItem',
      metadata: { namespace: 'apps', name: 'db', uid: 'opi-uid', generation: 1 },
      spec: { itemPath: 'vaults/Prod/items/db' },
    });
    const signal = new AbortController().signal;
    const ready = () =>
      items.get('apps', 'db')?.status?.conditions?.find((condition) => condition.type === 'Ready');
    const data = () =>
      Object.fromEntries(
        Object.entries(store.get('apps', 'db')?.data ?? {}).map(([key, value]) => [
          key,
          Buffer.from(value, 'base64').toString(),
        ]),
      );

    await reconciler.reconcile('apps/db', signal);
    assert.equal(ready()?.reason, 'Synced');
    const written = {
      website: 'https://a.example',
      username: 'admin',
      password: 's3cret',
      'host-name': 'db.example',
      'cert.pem': 'cert',
    };
    assert.deepEqual(data(), written);
    assert.equal(
      store.get('apps', 'db')?.metadata?.annotations?.['operator.1password.io/item-version'],
      '3',
    );

    state.items = [];
    state.vaults = [vault(11)];
    assert.deepEqual(await source.poll([{ vaultId: VAULT, itemId: ITEM }], 1000), [
      { vaultId: VAULT, itemId: ITEM },
    ]);
    await reconciler.reconcile('apps/db', signal).catch(() => undefined);
    assert.equal(ready()?.reason, 'ItemNotFound');
    assert.deepEqual(data(), written, 'the Secret keeps its last data');
    assert.doesNotMatch(JSON.stringify(items.get('apps', 'db')?.status), /s3cret|admin/);
  });
});
