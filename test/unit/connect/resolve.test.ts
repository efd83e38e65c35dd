// resolveVault and resolveItem against a small in-memory Connect: id first, title fallback, oldest wins, cache.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ConnectClient, matchesFilter, parseFilter } from '../../../src/connect/index.ts';
import { connectRejection } from '../../support/connect-rejection.ts';
import { fail, json, startStub, type Received, type Reply } from './stub-server.ts';

interface FakeItem {
  id: string;
  title: string;
  createdAt: string;
}
interface FakeVault {
  id: string;
  name: string;
  createdAt: string;
  items: FakeItem[];
}

const id = (prefix: string): string => prefix.padEnd(26, '0');
const TITLE26 = 'test26charlongitemtitle123';

function vaultBody(vault: FakeVault): object {
  const { items, ...rest } = vault;
  return {
    ...rest,
    items: items.length,
    contentVersion: 1,
    type: 'USER_CREATED',
    updatedAt: vault.createdAt,
  };
}

function itemBody(vault: FakeVault, item: FakeItem): object {
  return {
    ...item,
    vault: { id: vault.id },
    category: 'LOGIN',
    version: 1,
    updatedAt: item.createdAt,
  };
}

/**
 * Just enough of Connect's vault and item routes, with `title eq` filters. As Connect does, it
 * answers 403 for a vault id outside the token's scope and 404 for one in scope that is gone.
 */
function fakeConnect(vaults: FakeVault[], scope: Set<string>): (request: Received) => Reply {
  return (request) => {
    const url = new URL(request.url, 'http://connect');
    const filterText = url.searchParams.get('filter');
    const filter = filterText === null ? undefined : parseFilter(filterText);
    const [, , , vaultId, , itemId] = url.pathname.split('/');
    if (vaultId === undefined) {
      const listed = vaults
        .filter((v) => scope.has(v.id))
        .filter((v) => !filter || matchesFilter(filter, [v.name]));
      return json(200, listed.map(vaultBody));
    }
    if (!scope.has(vaultId)) return fail(403, 'Authorization: token does not have access to vault');
    const vault = vaults.find((v) => v.id === vaultId);
    if (!vault) return fail(404, `vault ${vaultId} not found`);
    if (!url.pathname.includes('/items')) return json(200, vaultBody(vault));
    if (itemId === undefined) {
      const listed = vault.items.filter((i) => !filter || matchesFilter(filter, [i.title]));
      return json(
        200,
        listed.map((item) => itemBody(vault, item)),
      );
    }
    const item = vault.items.find((i) => i.id === itemId);
    return item ? json(200, itemBody(vault, item)) : fail(404, `item ${itemId} not found`);
  };
}

async function setUp(
  t: TestContext,
  vaults: FakeVault[],
  scope = new Set(vaults.map((vault) => vault.id)),
): Promise<{ client: ConnectClient; paths: () => string[] }> {
  const stub = await startStub(t, fakeConnect(vaults, scope));
  const client = new ConnectClient({ host: stub.url, token: 'test-token', retries: 0 });
  t.after(() => client.close());
  const paths = (): string[] => stub.received.splice(0).map((r) => decodeURIComponent(r.url));
  return { client, paths };
}

function world(): FakeVault[] {
  return [
    {
      id: id('prodnew'),
      name: 'production',
      createdAt: '2024-01-01T00:00:00Z',
      items: [],
    },
    {
      id: id('prodold'),
      name: 'Production',
      createdAt: '2020-01-01T00:00:00Z',
      items: [
        { id: id('dbnew'), title: 'db', createdAt: '2023-01-01T00:00:00Z' },
        { id: id('dbold'), title: 'DB', createdAt: '2021-01-01T00:00:00Z' },
        { id: id('lookslikeid'), title: id('titleonly'), createdAt: '2021-01-01T00:00:00Z' },
      ],
    },
    {
      id: id('idlike'),
      name: id('vaulttitle'),
      createdAt: '2020-01-01T00:00:00Z',
      items: [{ id: id('web'), title: 'web', createdAt: '2021-01-01T00:00:00Z' }],
    },
  ];
}

describe('resolveVault', () => {
  it('gets an id directly', async (t) => {
    const { client, paths } = await setUp(t, world());
    assert.equal((await client.resolveVault(id('prodold'))).name, 'Production');
    assert.deepEqual(paths(), [`/v1/vaults/${id('prodold')}`]);
  });

  it('looks a title up case-insensitively, the oldest of several winning', async (t) => {
    const { client, paths } = await setUp(t, world());
    assert.equal((await client.resolveVault('PRODUCTION')).id, id('prodold'));
    assert.deepEqual(paths(), ['/v1/vaults?filter=title eq "PRODUCTION"']);
  });

  it('falls back to the title when an id-like title is no vault the token reaches', async (t) => {
    const { client, paths } = await setUp(t, world());
    assert.equal((await client.resolveVault(id('vaulttitle'))).id, id('idlike'));
    assert.deepEqual(paths(), [
      `/v1/vaults/${id('vaulttitle')}`,
      `/v1/vaults?filter=title eq "${id('vaulttitle')}"`,
    ]);
  });

  it('reports a missing title as NotFound', async (t) => {
    const { client } = await setUp(t, world());
    const error = await connectRejection(client.resolveVault('Staging'));
    assert.equal(error.reason, 'NotFound');
    assert.equal(error.message, 'vault "Staging" not found');
  });

  it("reports an unreachable id with the id's own error when no title matches", async (t) => {
    const { client, paths } = await setUp(t, world());
    const error = await connectRejection(client.resolveVault(id('elsewhere')));
    assert.equal(error.reason, 'Forbidden');
    assert.equal(error.endpoint, '/v1/vaults/{vault}');
    assert.equal(paths().length, 2);
  });

  it('reports an in-scope vault id that is gone, and no title, as NotFound', async (t) => {
    const vaults = world();
    const { client } = await setUp(t, vaults, new Set([...vaults.map((v) => v.id), id('gone')]));
    assert.equal((await connectRejection(client.resolveVault(id('gone')))).reason, 'NotFound');
  });
});

describe('resolveItem', () => {
  it('resolves titles, the oldest item winning, and caches the vault id', async (t) => {
    const { client, paths } = await setUp(t, world());
    assert.equal((await client.resolveItem('production', 'db')).id, id('dbold'));
    assert.deepEqual(paths(), [
      '/v1/vaults?filter=title eq "production"',
      `/v1/vaults/${id('prodold')}/items?filter=title eq "db"`,
      `/v1/vaults/${id('prodold')}/items/${id('dbold')}`,
    ]);
    assert.equal((await client.resolveItem('Production', 'db')).id, id('dbold'));
    assert.deepEqual(paths(), [
      `/v1/vaults/${id('prodold')}/items?filter=title eq "db"`,
      `/v1/vaults/${id('prodold')}/items/${id('dbold')}`,
    ]);
  });

  it('gets ids directly in one call', async (t) => {
    const { client, paths } = await setUp(t, world());
    assert.equal((await client.resolveItem(id('prodold'), id('dbnew'))).title, 'db');
    assert.deepEqual(paths(), [`/v1/vaults/${id('prodold')}/items/${id('dbnew')}`]);
  });

  it('falls back to the title when an id-like item title 404s', async (t) => {
    const { client } = await setUp(t, world());
    const item = await client.resolveItem(id('prodold'), id('titleonly'));
    assert.equal(item.id, id('lookslikeid'));
  });

  it('falls back to the title when an id-like vault title is no vault id', async (t) => {
    const { client, paths } = await setUp(t, world());
    assert.equal((await client.resolveItem(id('vaulttitle'), 'web')).id, id('web'));
    assert.deepEqual(paths(), [
      `/v1/vaults/${id('vaulttitle')}/items?filter=title eq "web"`,
      `/v1/vaults?filter=title eq "${id('vaulttitle')}"`,
      `/v1/vaults/${id('idlike')}/items?filter=title eq "web"`,
      `/v1/vaults/${id('idlike')}/items/${id('web')}`,
    ]);
    assert.equal((await client.resolveItem(id('vaulttitle'), id('web'))).id, id('web'));
    assert.deepEqual(paths(), [
      `/v1/vaults/${id('vaulttitle')}/items/${id('web')}`,
      `/v1/vaults?filter=title eq "${id('vaulttitle')}"`,
      `/v1/vaults/${id('idlike')}/items/${id('web')}`,
    ]);
  });

  it('keeps the 403 of an id-like vault that is neither reachable nor a title', async (t) => {
    const { client } = await setUp(t, world());
    const error = await connectRejection(client.resolveItem(id('elsewhere'), 'db'));
    assert.equal(error.reason, 'Forbidden');
  });

  it('reports a missing item as NotFound without looking the vault up again', async (t) => {
    const { client, paths } = await setUp(t, world());
    await client.resolveVault('Production');
    paths();
    const error = await connectRejection(client.resolveItem('Production', 'cache'));
    assert.equal(error.reason, 'NotFound');
    assert.equal(error.message, 'item "cache" not found in vault "Production"');
    assert.deepEqual(paths(), [`/v1/vaults/${id('prodold')}/items?filter=title eq "cache"`]);
  });

  it('drops a cached vault id that 404s and looks the title up again', async (t) => {
    const vaults = world();
    const scope = new Set(vaults.map((v) => v.id));
    const { client, paths } = await setUp(t, vaults, scope);
    await client.resolveItem('Production', 'db');
    const old = vaults.splice(1, 1)[0];
    assert.ok(old);
    vaults.push({ ...old, id: id('prodrecreated'), createdAt: '2019-01-01T00:00:00Z' });
    scope.add(id('prodrecreated'));
    paths();
    assert.equal((await client.resolveItem('Production', 'db')).vault.id, id('prodrecreated'));
    assert.deepEqual(paths(), [
      `/v1/vaults/${id('prodold')}/items?filter=title eq "db"`,
      '/v1/vaults?filter=title eq "Production"',
      `/v1/vaults/${id('prodrecreated')}/items?filter=title eq "db"`,
      `/v1/vaults/${id('prodrecreated')}/items/${id('dbold')}`,
    ]);
  });

  it('picks up renamed vaults from an unfiltered vault list', async (t) => {
    const vaults = world();
    const { client, paths } = await setUp(t, vaults);
    await client.resolveItem('Production', 'db');
    const [newer, older] = vaults;
    assert.ok(newer && older);
    older.name = 'Archive';
    newer.items.push({ id: id('dbmoved'), title: 'db', createdAt: '2024-02-01T00:00:00Z' });
    await client.listVaults();
    paths();
    assert.equal((await client.resolveItem('Production', 'db')).id, id('dbmoved'));
    assert.equal(paths().length, 2, 'no vault lookup');
  });

  // 1Password's operator falls back to the title whatever the id lookup failed with (items.go);
  // Connect answers 400 `Invalid Item UUID` / `Invalid Vault UUID` for an id it cannot parse,
  // e.g. the 26-character title of 1Password's e2e secret-26char-title.yaml.
  it('falls back to the title when Connect refuses an id-like title as no UUID (400)', async (t) => {
    const vaults = world();
    const refusing = (request: Received): Reply => {
      const [, , , vaultId, , itemId] = new URL(request.url, 'http://connect').pathname.split('/');
      if (vaultId === TITLE26) return fail(400, 'Invalid Vault UUID');
      if (itemId === TITLE26) return fail(400, 'Invalid Item UUID');
      return fakeConnect(vaults, new Set(vaults.map((v) => v.id)))(request);
    };
    const [prodold, idlike] = [vaults[1], vaults[2]];
    assert.ok(prodold && idlike);
    prodold.items.push({ id: id('title26'), title: TITLE26, createdAt: '2021-01-01T00:00:00Z' });
    idlike.name = TITLE26;
    const stub = await startStub(t, refusing);
    const client = new ConnectClient({ host: stub.url, token: 'test-token', retries: 0 });
    t.after(() => client.close());
    assert.equal((await client.resolveItem(id('prodold'), TITLE26)).id, id('title26'));
    assert.equal((await client.resolveVault(TITLE26)).id, id('idlike'));
    assert.equal((await client.resolveItem(TITLE26, 'web')).id, id('web'));
  });

  it('passes other errors through without fallback', async (t) => {
    const stub = await startStub(t, () => fail(401, 'Invalid bearer token'));
    const client = new ConnectClient({ host: stub.url, token: 'test-token', retries: 0 });
    t.after(() => client.close());
    const error = await connectRejection(client.resolveItem(id('prodold'), 'db'));
    assert.equal(error.reason, 'Unauthorized');
    assert.equal(stub.received.length, 1);
  });
});
