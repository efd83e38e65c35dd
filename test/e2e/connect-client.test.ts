// The Connect client against connect-local over real HTTP: lookups, writes, files, every error reason, faults.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ConnectClient,
  type CallInfo,
  type ConnectClientOptions,
} from '../../src/connect/index.ts';
import { startConnectLocal, type ConnectLocalHandle } from '../support/connect-local.ts';
import { connectRejection } from '../support/connect-rejection.ts';

const PRODUCTION = 'production'.padEnd(26, '0');
const STAGING = 'staging'.padEnd(26, '0');
/** A vault whose name looks like an id (and is not its id). */
const ID_LIKE_NAME = 'abcdefghijklmnopqrstuvwxyz';
const ID_LIKE_NAMED = 'idlikenamed'.padEnd(26, '0');
const MISSING = 'missing'.padEnd(26, '0');
const MAX_INLINE = 1024;
const BIG = 'x'.repeat(4 * MAX_INLINE);

const DATA = `
vaults:
  - name: Production
    id: ${PRODUCTION}
    createdAt: 2020-01-01T00:00:00Z
    items:
      - title: database
        category: DATABASE
        createdAt: 2021-01-01T00:00:00Z
        fields:
          - { label: username, value: admin, purpose: USERNAME }
          - { label: password, value: older-secret, purpose: PASSWORD }
        files:
          - { name: small.txt, content: "hello file" }
          - { name: big.bin, content: "${BIG}" }
      - title: Database
        createdAt: 2023-06-01T00:00:00Z
        fields:
          - { label: password, value: newer-secret, purpose: PASSWORD }
      - title: api-key
        category: API_CREDENTIAL
        fields:
          - { label: credential, value: prod-api-key, type: CONCEALED }
  - name: Staging
    id: ${STAGING}
    items:
      - title: database
  - name: ${ID_LIKE_NAME}
    id: ${ID_LIKE_NAMED}
    items:
      - title: web
`;

interface Fixture {
  server: ConnectLocalHandle;
  token: string;
  client(options?: Partial<ConnectClientOptions>): ConnectClient;
}

/** One connect-local for a suite, stopped (with every client made from it) when the suite ends. */
function suiteServer(): () => Fixture {
  const cleanups: (() => Promise<void>)[] = [];
  let fixture: Fixture | undefined;
  before(async () => {
    const server = await startConnectLocal(
      { after: (fn) => void cleanups.push(fn) },
      { data: DATA, args: [`--max-inline-file-bytes=${MAX_INLINE}`] },
    );
    const token = await server.token({ vaults: ['Production', ID_LIKE_NAME] });
    fixture = {
      server,
      token,
      client: (options = {}) => {
        const client = new ConnectClient({
          host: server.url,
          token,
          backoff: { baseMs: 5, maxMs: 20 },
          ...options,
        });
        cleanups.push(() => client.close());
        return client;
      },
    };
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return () => {
    assert.ok(fixture, 'connect-local did not start');
    return fixture;
  };
}

function password(item: { fields?: { purpose?: string; value?: string }[] }): string | undefined {
  return item.fields?.find((field) => field.purpose === 'PASSWORD')?.value;
}

describe('ConnectClient against connect-local', () => {
  const fixture = suiteServer();
  let client: ConnectClient;
  before(() => {
    client = fixture().client();
  });

  it('lists and gets the vaults the token reaches', async () => {
    const vaults = await client.listVaults();
    assert.deepEqual(vaults.map((vault) => vault.name).sort(), ['Production', ID_LIKE_NAME]);
    const production = await client.getVault(PRODUCTION);
    assert.equal(production.name, 'Production');
    assert.equal(production.items, 3);
    assert.match(client.serverVersion ?? '', /^\d+\.\d+\.\d+$/);
  });

  it('answers heartbeat and health', async () => {
    assert.equal(await client.heartbeat(), true);
    assert.equal((await client.health()).dependencies[0]?.status, 'ACTIVE');
  });

  it('resolves a vault by id, by title in any case, and by a title that looks like an id', async () => {
    assert.equal((await client.resolveVault(PRODUCTION)).name, 'Production');
    assert.equal((await client.resolveVault('pRoDuCtIoN')).id, PRODUCTION);
    assert.equal((await client.resolveVault(ID_LIKE_NAME)).id, ID_LIKE_NAMED);
  });

  it('resolves an item by title (the oldest of two same-titled items) and by id', async () => {
    const byTitle = await client.resolveItem('production', 'DATABASE');
    assert.equal(password(byTitle), 'older-secret');
    assert.equal(byTitle.createdAt, '2021-01-01T00:00:00.000Z');
    const byId = await client.resolveItem(PRODUCTION, byTitle.id);
    assert.equal(byId.id, byTitle.id);
    assert.equal((await client.resolveItem(ID_LIKE_NAME, 'web')).title, 'web');
    assert.equal((await client.resolveItem(ID_LIKE_NAMED, 'web')).title, 'web');
  });

  it('reads files as metadata, inline and as raw content', async () => {
    const item = await client.resolveItem('Production', 'database');
    const files = await client.listFiles(PRODUCTION, item.id);
    assert.deepEqual(files.map((file) => [file.name, file.size]).sort(), [
      ['big.bin', BIG.length],
      ['small.txt', 10],
    ]);
    assert.ok(files.every((file) => file.content === undefined));
    const small = files.find((file) => file.name === 'small.txt');
    const big = files.find((file) => file.name === 'big.bin');
    assert.ok(small && big);
    const inline = await client.getFile(PRODUCTION, item.id, small.id, { inline: true });
    assert.equal(Buffer.from(inline.content ?? '', 'base64').toString(), 'hello file');
    assert.equal(
      (await client.getFileContent(PRODUCTION, item.id, small.id)).toString(),
      'hello file',
    );
    assert.equal((await client.getFileContent(PRODUCTION, item.id, big.id)).length, BIG.length);
  });

  it('creates, replaces, patches and deletes an item', async () => {
    const created = await client.createItem(PRODUCTION, {
      title: 'client-e2e',
      category: 'LOGIN',
      tags: ['e2e'],
      fields: [{ label: 'password', value: 'one', type: 'CONCEALED', purpose: 'PASSWORD' }],
    });
    assert.equal(created.vault.id, PRODUCTION);
    assert.equal(password(created), 'one');

    const replaced = await client.replaceItem(PRODUCTION, {
      ...created,
      title: 'client-e2e-replaced',
    });
    assert.equal(replaced.title, 'client-e2e-replaced');
    assert.ok(replaced.version > created.version);

    const patched = await client.patchItem(PRODUCTION, created.id, [
      { op: 'replace', path: '/title', value: 'client-e2e-patched' },
      { op: 'add', path: '/tags', value: ['e2e', 'patched'] },
    ]);
    assert.equal(patched.title, 'client-e2e-patched');
    assert.deepEqual(patched.tags, ['e2e', 'patched']);
    assert.ok(patched.version > replaced.version);

    await client.deleteItem(PRODUCTION, created.id);
    assert.equal(
      (await connectRejection(client.getItem(PRODUCTION, created.id))).reason,
      'NotFound',
    );
  });

  it('maps every error reason', async () => {
    const { server } = fixture();
    const stranger = new ConnectClient({
      host: server.url,
      token: 'not-a-valid-token',
      retries: 0,
    });
    try {
      assert.equal((await connectRejection(stranger.listVaults())).reason, 'Unauthorized');
    } finally {
      await stranger.close();
    }
    assert.equal((await connectRejection(client.getVault(STAGING))).reason, 'Forbidden');
    assert.equal(
      (await connectRejection(client.resolveItem('Staging', 'database'))).reason,
      'NotFound',
    );
    assert.equal((await connectRejection(client.getItem(PRODUCTION, MISSING))).reason, 'NotFound');
    assert.equal(
      (await connectRejection(client.resolveItem('Production', 'no such item'))).reason,
      'NotFound',
    );
    assert.equal(
      (await connectRejection(client.listItems(PRODUCTION, 'title resembles "x"'))).reason,
      'BadRequest',
    );
    const item = await client.resolveItem('Production', 'database');
    assert.equal(
      (await connectRejection(client.listFiles(PRODUCTION, item.id, { inline: true }))).reason,
      'TooLarge',
    );
  });

  it('refuses a revoked token', async () => {
    const { server } = fixture();
    const token = await server.token({ vaults: ['Production'], name: 'client-e2e-revoked' });
    const revoked = fixture().client({ token, retries: 0 });
    assert.equal((await revoked.listVaults()).length, 1);
    await server.revoke('client-e2e-revoked');
    assert.equal((await connectRejection(revoked.listVaults())).reason, 'Unauthorized');
  });

  it('sends one request for 5 concurrent identical reads (one READ in the activity log)', async () => {
    const item = await client.resolveItem('Production', 'api-key');
    const before = (await client.activity({ limit: 1 })).range?.total ?? 0;
    const reads = await Promise.all(
      Array.from({ length: 5 }, () => client.getItem(PRODUCTION, item.id)),
    );
    assert.ok(reads.every((read) => read.id === item.id));
    const { requests, range } = await client.activity({ offset: before });
    assert.equal(range?.total, before + 1);
    assert.deepEqual(
      requests.map((request) => [request.action, request.result, request.resource.item?.id]),
      [['READ', 'SUCCESS', item.id]],
    );
  });
});

describe('ConnectClient against a failing connect-local', () => {
  const fixture = suiteServer();

  async function withFault(path: string, on: unknown, off: unknown, run: () => Promise<void>) {
    const { server } = fixture();
    assert.equal((await server.admin('POST', path, on)).status, 200);
    try {
      await run();
    } finally {
      assert.equal((await server.admin('POST', path, off)).status, 200);
    }
  }

  it('retries through an outage and reports Unavailable, then recovers', async () => {
    const calls: CallInfo[] = [];
    const client = fixture().client({ retries: 2, onCall: (call) => calls.push(call) });
    await withFault('/admin/outage', { enabled: true }, { enabled: false }, async () => {
      assert.equal((await connectRejection(client.listVaults())).reason, 'Unavailable');
    });
    assert.deepEqual(
      calls.map((call) => [call.attempt, call.status]),
      [
        [1, 503],
        [2, 503],
        [3, 503],
      ],
    );
    assert.equal((await client.listVaults()).length, 2);
  });

  it('retries files that are not yet synced', async () => {
    const calls: CallInfo[] = [];
    const client = fixture().client({ onCall: (call) => calls.push(call) });
    const item = await client.resolveItem('Production', 'database');
    calls.length = 0;
    await withFault('/admin/file-faults', { count: 2 }, { count: 0 }, async () => {
      assert.equal((await client.listFiles(PRODUCTION, item.id)).length, 2);
    });
    assert.deepEqual(
      calls.map((call) => call.status),
      [500, 500, 200],
    );
  });

  it('times out a slow server within timeout × attempts', async () => {
    const calls: CallInfo[] = [];
    const timeoutMs = 200;
    const client = fixture().client({ timeoutMs, retries: 1, onCall: (call) => calls.push(call) });
    await withFault('/admin/latency', { ms: 2000 }, { ms: 0 }, async () => {
      const started = performance.now();
      assert.equal((await connectRejection(client.getVault(PRODUCTION))).reason, 'Unavailable');
      const elapsed = performance.now() - started;
      assert.ok(elapsed < timeoutMs * 2 + 1000, `took ${elapsed} ms`);
    });
    assert.deepEqual(
      calls.map((call) => call.status),
      [0, 0],
    );
    assert.equal((await client.getVault(PRODUCTION)).id, PRODUCTION);
  });
});
