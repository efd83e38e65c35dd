// The Connect fault proxy (test support) against a stub Connect: each fault reaches the client as the failure it stands for.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ConnectClient, type ConnectErrorReason } from '../../../src/connect/index.ts';
import {
  FAULTS,
  fileContentRoute,
  itemRoute,
  startConnectFaultProxy,
  type ConnectFault,
} from '../../support/connect-fault-proxy.ts';
import { connectRejection } from '../../support/connect-rejection.ts';
import { json, startStub } from './stub-server.ts';

const VAULT = 'vaultvaultvaultvaultvault1';
const ITEM = 'itemitemitemitemitemitem01';
const FILE = 'filefilefilefilefilefile01';
const CONTENT = Buffer.from('-----BEGIN KEY-----\nabc\n-----END KEY-----\n');
const ITEM_BODY = {
  id: ITEM,
  title: 'db',
  vault: { id: VAULT },
  category: 'LOGIN',
  version: 2,
  createdAt: '2024-01-01T00:00:00Z',
  updatedAt: '2024-01-01T00:00:00Z',
  fields: [{ id: 'password', type: 'CONCEALED', label: 'password', value: 'v2' }],
  files: [{ id: FILE, name: 'key.pem', size: CONTENT.length, content_path: '/x' }],
};

async function setUp(t: TestContext): Promise<{
  client: ConnectClient;
  proxy: Awaited<ReturnType<typeof startConnectFaultProxy>>;
}> {
  const stub = await startStub(t, (request) =>
    request.url.endsWith('/content')
      ? {
          status: 200,
          headers: {
            'content-type': 'application/octet-stream',
            '1Password-Connect-Version': '1.7.3',
          },
          body: CONTENT,
        }
      : json(200, ITEM_BODY),
  );
  const proxy = await startConnectFaultProxy(stub.url);
  t.after(() => proxy.close());
  const client = new ConnectClient({
    host: proxy.url,
    token: 'token',
    timeoutMs: 300,
    retries: 1,
    backoff: { baseMs: 1, maxMs: 2 },
  });
  t.after(() => client.close());
  return { client, proxy };
}

describe('Connect fault proxy', () => {
  it('passes answers through untouched while no fault is set', async (t) => {
    const { client, proxy } = await setUp(t);
    assert.deepEqual(await client.getItem(VAULT, ITEM), ITEM_BODY);
    assert.deepEqual(await client.getFileContent(VAULT, ITEM, FILE), CONTENT);
    assert.equal(proxy.hits.length, 0);
  });

  const itemFaults: [string, ConnectFault, ConnectErrorReason][] = [
    ['{}', FAULTS.emptyObject, 'InvalidResponse'],
    ['"fields": null', FAULTS.nullFields, 'InvalidResponse'],
    ['a list for an object', FAULTS.listForObject, 'InvalidResponse'],
    ['truncation', FAULTS.truncate, 'InvalidResponse'],
    ['HTML with 200', FAULTS.html, 'InvalidResponse'],
    ['a reset', FAULTS.reset, 'Unavailable'],
    ['a hang', FAULTS.hang, 'Unavailable'],
    ['a slow body', FAULTS.slowBody, 'Unavailable'],
  ];
  for (const [what, fault, reason] of itemFaults) {
    it(`${what} on the item route → ${reason}; other routes and clear() heal`, async (t) => {
      const { client, proxy } = await setUp(t);
      proxy.set(itemRoute(VAULT, ITEM), fault);
      assert.equal((await connectRejection(client.getItem(VAULT, ITEM))).reason, reason);
      assert.ok(proxy.hits.every((hit) => hit.fault === fault.kind));
      assert.ok(proxy.hits.length >= 1);
      assert.deepEqual(await client.getFileContent(VAULT, ITEM, FILE), CONTENT);
      proxy.clear();
      assert.equal((await client.getItem(VAULT, ITEM)).version, 2);
    });
  }

  it('cuts file content short of the declared size with a matching Content-Length', async (t) => {
    const { client, proxy } = await setUp(t);
    proxy.set(fileContentRoute(VAULT, ITEM), FAULTS.shortBody);
    const expectedSize = CONTENT.length;
    const plain = await client.getFileContent(VAULT, ITEM, FILE);
    assert.equal(plain.length, CONTENT.length - FAULTS.shortBody.missingBytes, 'HTTP is satisfied');
    assert.equal(
      (await connectRejection(client.getFileContent(VAULT, ITEM, FILE, { expectedSize }))).reason,
      'InvalidResponse',
    );
  });

  it('releases a hung request when cleared, so the client retries at once', async (t) => {
    const { proxy } = await setUp(t);
    const slow = new ConnectClient({ host: proxy.url, token: 'token', timeoutMs: 5_000 });
    t.after(() => slow.close());
    proxy.set(itemRoute(VAULT, ITEM), FAULTS.hang);
    const started = performance.now();
    const pending = slow.getItem(VAULT, ITEM);
    await new Promise((resolve) => setTimeout(resolve, 100));
    proxy.clear();
    assert.equal((await pending).version, 2);
    assert.ok(performance.now() - started < 2_000, 'healed well before the 5 s timeout');
  });
});
