// What ItemSource costs in Connect requests, counted on the wire with the real client: one request
// per idle poll whatever the number of items and vaults, one item list per vault (not one filtered
// lookup per item) for a burst of title resolutions, and 1Password's title rules kept.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ConnectClient } from '../../../src/connect/index.ts';
import { ItemSource, type ItemRef } from '../../../src/operator/item-source.ts';
import { fail, json, startStub, type Received } from '../connect/stub-server.ts';

interface StubItem {
  id: string;
  title: string;
  version: number;
  createdAt: string;
}

interface StubVault {
  id: string;
  name: string;
  contentVersion: number;
  items: StubItem[];
}

function id(prefix: string, n: number): string {
  return `${prefix}${String(n).padStart(26 - prefix.length, '0')}`;
}

function world(vaults: number, itemsPerVault: number): StubVault[] {
  return Array.from({ length: vaults }, (_, v) => ({
    id: id('vault', v),
    name: `vault-${v}`,
    contentVersion: 1,
    items: Array.from({ length: itemsPerVault }, (_, i) => ({
      id: id(`item${v}x`, i),
      title: `item-${i}`,
      version: 1,
      createdAt: `2024-01-01T00:00:${String(i % 60).padStart(2, '0')}Z`,
    })),
  }));
}

function summary(vault: StubVault, item: StubItem): Record<string, unknown> {
  return {
    id: item.id,
    title: item.title,
    vault: { id: vault.id },
    category: 'LOGIN',
    version: item.version,
    createdAt: item.createdAt,
    updatedAt: item.createdAt,
  };
}

/** A Connect stub serving `vaults`; `received` holds every request it answered. */
async function connect(
  t: TestContext,
  vaults: StubVault[],
): Promise<{ client: ConnectClient; received: Received[] }> {
  const stub = await startStub(t, (request) => {
    const url = new URL(request.url, 'http://stub');
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts.length === 2) {
      const filter = url.searchParams.get('filter');
      const wanted = filter ? /name eq "(.*)"/.exec(filter)?.[1]?.toLowerCase() : undefined;
      return json(
        200,
        vaults
          .filter((vault) => wanted === undefined || vault.name.toLowerCase() === wanted)
          .map((vault) => ({
            id: vault.id,
            name: vault.name,
            contentVersion: vault.contentVersion,
            attributeVersion: 1,
            items: vault.items.length,
            type: 'USER_CREATED',
            createdAt: '2024-01-01T00:00:00Z',
            updatedAt: '2024-01-01T00:00:00Z',
          })),
      );
    }
    const vault = vaults.find((candidate) => candidate.id === parts[2]);
    if (!vault) return fail(404, 'Invalid Vault UUID');
    if (parts.length === 4) {
      const filter = url.searchParams.get('filter');
      const wanted = filter ? /title eq "(.*)"/.exec(filter)?.[1]?.toLowerCase() : undefined;
      return json(
        200,
        vault.items
          .filter((item) => wanted === undefined || item.title.toLowerCase() === wanted)
          .map((item) => summary(vault, item)),
      );
    }
    const item = vault.items.find((candidate) => candidate.id === parts[4]);
    if (!item) return fail(404, 'Invalid Item UUID');
    return json(200, {
      ...summary(vault, item),
      fields: [{ id: 'password', type: 'CONCEALED', label: 'password', value: `v${item.version}` }],
    });
  });
  const client = new ConnectClient({ host: stub.url, token: 'test-token' });
  t.after(() => client.close());
  return { client, received: stub.received };
}

/** `GET /v1/vaults`, `GET …/items` (with `?filter` when filtered) or `GET …/items/{id}`. */
function kind(request: Received): string {
  const url = new URL(request.url, 'http://stub');
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts.length === 2) return url.searchParams.has('filter') ? 'vaults?filter' : 'vaults';
  if (parts.length === 4) return url.searchParams.has('filter') ? 'items?filter' : 'items';
  return 'item';
}

function count(received: readonly Received[], from = 0): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const request of received.slice(from)) {
    counts[kind(request)] = (counts[kind(request)] ?? 0) + 1;
  }
  return counts;
}

async function syncAll(source: ItemSource, vaults: StubVault[]): Promise<ItemRef[]> {
  return Promise.all(
    vaults.flatMap((vault) =>
      vault.items.map(async (item) => {
        const ref = await source.resolve({ vault: vault.name, item: item.title });
        await source.get(ref);
        return ref;
      }),
    ),
  );
}

describe('ItemSource Connect requests', () => {
  it('resolves a burst of titles with one item list per vault and one GET per item', async (t) => {
    const vaults = world(3, 40);
    const { client, received } = await connect(t, vaults);
    const source = new ItemSource({ client });
    const refs = await syncAll(source, vaults);
    const counts = count(received);
    // Vault titles: one filtered vault lookup each (the client caches the answer).
    assert.equal(counts['items?filter'] ?? 0, 0, JSON.stringify(counts));
    assert.equal(counts.items, 3, JSON.stringify(counts));
    assert.equal(counts.item, 120, JSON.stringify(counts));
    assert.ok((counts['vaults?filter'] ?? 0) <= 3, JSON.stringify(counts));
    assert.deepEqual(
      refs.slice(0, 2),
      vaults[0]?.items.slice(0, 2).map((item) => ({ vaultId: vaults[0]?.id, itemId: item.id })),
    );
  });

  it('keeps the title rules: case-insensitive, the oldest wins, a later item or rename is found', async (t) => {
    const vaults = world(1, 3);
    const vault = vaults[0] as StubVault;
    const [first, second, third] = vault.items as [StubItem, StubItem, StubItem];
    second.title = 'Shared';
    second.createdAt = '2024-01-01T00:00:10Z';
    third.title = 'shared';
    third.createdAt = '2024-01-01T00:00:05Z';
    const { client } = await connect(t, vaults);
    const source = new ItemSource({ client });
    // Two spellings: the server's filter decides, as in 1Password's lookup; the oldest wins.
    assert.equal((await source.resolve({ vault: 'vault-0', item: 'SHARED' })).itemId, third.id);
    assert.equal((await source.resolve({ vault: 'VAULT-0', item: 'Item-0' })).itemId, first.id);
    // An item created after the vault was listed is still found (the list is only a shortcut).
    vault.items.push({
      id: id('itemnew', 1),
      title: 'late',
      version: 1,
      createdAt: first.createdAt,
    });
    assert.equal(
      (await source.resolve({ vault: 'vault-0', item: 'late' })).itemId,
      id('itemnew', 1),
    );
    await assert.rejects(source.resolve({ vault: 'vault-0', item: 'absent' }), /not found/);
  });

  it('makes exactly one request per idle poll, full checks included', async (t) => {
    const vaults = world(10, 20);
    const { client, received } = await connect(t, vaults);
    const source = new ItemSource({ client });
    const refs = await syncAll(source, vaults);
    await source.poll(refs, 10);
    const from = received.length;
    for (let poll = 0; poll < 30; poll += 1) assert.deepEqual(await source.poll(refs, 10), []);
    assert.deepEqual(count(received, from), { vaults: 30 });
  });

  it('turns the full check on once Connect is caught not moving a contentVersion, and then finds changes', async (t) => {
    const vaults = world(2, 5);
    const { client, received } = await connect(t, vaults);
    const source = new ItemSource({ client });
    const refs = await syncAll(source, vaults);
    await source.poll(refs, 3);
    const [ref] = refs as [ItemRef];
    const item = vaults[0]?.items[0] as StubItem;
    // The item changes but its vault's contentVersion does not; a fetch (a re-sync) sees it.
    item.version = 2;
    source.invalidate(ref);
    assert.equal((await source.get(ref)).item.version, 2);
    await source.poll(refs, 3);
    // From now on every 3rd poll lists every watched vault: a silent change is found.
    const other = vaults[1]?.items[2] as StubItem;
    other.version = 2;
    const changed: ItemRef[] = [];
    for (let poll = 0; poll < 3; poll += 1) changed.push(...(await source.poll(refs, 3)));
    assert.deepEqual(changed, [refs[7]]);
    assert.ok((count(received).items ?? 0) >= 2 + 2);
  });
});
