// ItemSource with a Connect that answers badly: nothing malformed is cached, and the next poll fetches again.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ConnectClient, type ConnectError } from '../../../src/connect/index.ts';
import { connectRejection } from '../../support/connect-rejection.ts';
import { classifyFailure, READY_REASONS } from '../../../src/operator/failure.ts';
import { ItemSource, type ItemRef } from '../../../src/operator/item-source.ts';
import { json, startStub, type Reply } from '../connect/stub-server.ts';

const VAULT = 'vaultvaultvaultvaultvault1';
const ITEM = 'itemitemitemitemitemitem01';
const FILE = 'filefilefilefilefilefile01';
const REF: ItemRef = { vaultId: VAULT, itemId: ITEM };
const NO_FULL_CHECK = 1_000;

interface World {
  contentVersion: number;
  version: number;
  /** What the item GET answers instead of the item, when set. */
  itemAnswer?: Reply;
  /** What the item list answers instead of the summaries, when set. */
  listAnswer?: Reply;
  /** Bytes served as the file's content (declared size: 5). */
  fileBytes: Buffer;
  withFile: boolean;
}

function itemBody(world: World): Record<string, unknown> {
  return {
    id: ITEM,
    title: 'db',
    vault: { id: VAULT },
    category: 'LOGIN',
    version: world.version,
    createdAt: '2024-01-01T00:00:00Z',
    updatedAt: '2024-01-01T00:00:00Z',
    fields: [{ id: 'password', type: 'CONCEALED', label: 'password', value: `v${world.version}` }],
    ...(world.withFile
      ? { files: [{ id: FILE, name: 'key.pem', size: 5, content_path: '/x' }] }
      : {}),
  };
}

async function setUp(
  t: TestContext,
  world: World,
): Promise<{ source: ItemSource; itemGets: () => number }> {
  let itemGets = 0;
  const stub = await startStub(t, (request) => {
    const path = request.url.split('?')[0] ?? '';
    if (path === '/v1/vaults') {
      return json(200, [
        {
          id: VAULT,
          name: 'Production',
          contentVersion: world.contentVersion,
          attributeVersion: 1,
          items: 1,
          type: 'USER_CREATED',
          createdAt: '2024-01-01T00:00:00Z',
          updatedAt: '2024-01-01T00:00:00Z',
        },
      ]);
    }
    if (path === `/v1/vaults/${VAULT}/items`) {
      if (world.listAnswer) return world.listAnswer;
      const { fields: _fields, files: _files, ...summary } = itemBody(world);
      return json(200, [summary]);
    }
    if (path === `/v1/vaults/${VAULT}/items/${ITEM}`) {
      itemGets += 1;
      return world.itemAnswer ?? json(200, itemBody(world));
    }
    if (path.endsWith('/content')) {
      return {
        status: 200,
        headers: {
          'content-type': 'application/octet-stream',
          '1Password-Connect-Version': '1.7.3',
        },
        body: world.fileBytes,
      };
    }
    return json(404, { status: 404, message: 'not found' });
  });
  const client = new ConnectClient({
    host: stub.url,
    token: 'token',
    backoff: { baseMs: 1, maxMs: 2 },
  });
  t.after(() => client.close());
  return { source: new ItemSource({ client }), itemGets: () => itemGets };
}

function world(): World {
  return { contentVersion: 1, version: 1, fileBytes: Buffer.from('12345'), withFile: false };
}

async function invalid(promise: Promise<unknown>): Promise<ConnectError> {
  const error = await connectRejection(promise);
  assert.equal(error.reason, 'InvalidResponse', error.message);
  return error;
}

describe('ItemSource and malformed Connect answers', () => {
  for (const [what, answer] of [
    ['an empty object', json(200, {})],
    [
      '"fields": null',
      json(200, { id: ITEM, title: 'db', vault: { id: VAULT }, version: 2, fields: null }),
    ],
    ['HTML with 200', { status: 200, headers: { 'content-type': 'text/html' }, body: '<html/>' }],
  ] as const) {
    it(`never caches ${what}: the next get fetches again and gets the good item`, async (t) => {
      const state = world();
      const { source, itemGets } = await setUp(t, state);
      assert.equal((await source.get(REF)).item.version, 1);

      state.version = 2;
      state.itemAnswer = answer;
      source.invalidate(REF);
      await invalid(source.get(REF));
      await invalid(source.get(REF));
      assert.equal(itemGets(), 3, 'the failed answer was not served from a cache');

      delete state.itemAnswer;
      const synced = await source.get(REF);
      assert.equal(synced.item.version, 2);
      assert.equal(synced.item.fields?.[0]?.value, 'v2');
    });
  }

  it('fails a fetch whose file content is shorter than the declared size, and fetches again after', async (t) => {
    const state = { ...world(), withFile: true, fileBytes: Buffer.from('123') };
    const { source } = await setUp(t, state);
    const error = await invalid(source.get(REF));
    assert.match(error.message, /3 bytes/);
    state.fileBytes = Buffer.from('12345');
    const synced = await source.get(REF);
    assert.equal(synced.files.get(FILE)?.toString(), '12345');
  });

  it('reports an item whose fetch failed at every poll until a fetch succeeds', async (t) => {
    const state = world();
    const { source } = await setUp(t, state);
    await source.poll([REF], NO_FULL_CHECK);
    await source.get(REF);
    assert.deepEqual(await source.poll([REF], NO_FULL_CHECK), []);

    state.contentVersion = 2;
    state.version = 2;
    state.itemAnswer = json(200, {});
    assert.deepEqual(await source.poll([REF], NO_FULL_CHECK), [REF]);
    await invalid(source.get(REF));
    // The vault's contentVersion did not move again, yet the item still needs its version 2.
    assert.deepEqual(await source.poll([REF], NO_FULL_CHECK), [REF]);

    delete state.itemAnswer;
    assert.equal((await source.get(REF)).item.version, 2);
    assert.deepEqual(await source.poll([REF], NO_FULL_CHECK), []);
  });

  it('lists a vault again at the next poll when its item list was malformed', async (t) => {
    const state = world();
    const { source } = await setUp(t, state);
    await source.poll([REF], NO_FULL_CHECK);
    await source.get(REF);

    state.contentVersion = 2;
    state.version = 2;
    state.listAnswer = json(200, [{ title: 'db' }]);
    await invalid(source.poll([REF], NO_FULL_CHECK));
    delete state.listAnswer;
    assert.deepEqual(await source.poll([REF], NO_FULL_CHECK), [REF]);
  });
});

describe('the Ready condition for a malformed answer', () => {
  it('is InvalidConnectResponse, retried (not terminal), with the client message', async (t) => {
    const { source } = await setUp(t, { ...world(), itemAnswer: json(200, { fields: null }) });
    const error = await invalid(source.get(REF));
    const failure = classifyFailure(error);
    assert.equal(failure.reason, 'InvalidConnectResponse');
    assert.ok((READY_REASONS as readonly string[]).includes(failure.reason));
    assert.equal(failure.terminal, false);
    assert.match(
      failure.message,
      /^Connect: GET \/v1\/vaults\/\{vault\}\/items\/\{item\}: invalid 200 response: id: missing/,
    );
  });
});
