// The client's HTTP behaviour against a real local server: retries, error mapping, timeouts, coalescing, secrecy.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { inspect } from 'node:util';
import {
  ConnectClient,
  type CallInfo,
  type ConnectClientOptions,
} from '../../../src/connect/index.ts';
import { connectRejection } from '../../support/connect-rejection.ts';
import { closedPort, fail, json, startStub, type Handler, type Reply } from './stub-server.ts';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXRva2Vu.SECRET-SIGNATURE-0123456789';
const VAULT = 'vaultvaultvaultvaultvault1';
const ITEM = 'itemitemitemitemitemitem01';
const ITEM_BODY = {
  id: ITEM,
  title: 'db',
  vault: { id: VAULT },
  category: 'LOGIN',
  version: 1,
  createdAt: '2024-01-01T00:00:00Z',
  updatedAt: '2024-01-01T00:00:00Z',
};

async function setUp(
  t: TestContext,
  handler: Handler,
  options: Partial<ConnectClientOptions> = {},
): Promise<{
  client: ConnectClient;
  calls: CallInfo[];
  stub: Awaited<ReturnType<typeof startStub>>;
}> {
  const stub = await startStub(t, handler);
  const calls: CallInfo[] = [];
  const client = new ConnectClient({
    host: stub.url,
    token: TOKEN,
    backoff: { baseMs: 1, maxMs: 5 },
    onCall: (call) => calls.push(call),
    ...options,
  });
  t.after(() => client.close());
  return { client, calls, stub };
}

describe('ConnectClient over HTTP', () => {
  it('sends the bearer token, JSON accept header and user agent', async (t) => {
    const { client, stub } = await setUp(t, () => json(200, []), { userAgent: 'op-kube/test' });
    await client.listVaults();
    const headers = stub.received[0]?.headers;
    assert.equal(headers?.authorization, `Bearer ${TOKEN}`);
    assert.equal(headers?.accept, 'application/json');
    assert.equal(headers?.['user-agent'], 'op-kube/test');
  });

  it('percent-encodes path segments and writes spaces in queries as %20', async (t) => {
    const { client, stub } = await setUp(t, (req) =>
      req.url.includes('/items?')
        ? json(200, [])
        : json(200, { ...ITEM_BODY, id: 'x/y?z', vault: { id: 'a b' } }),
    );
    await client.getItem('a b', 'x/y?z');
    await client.listItems(VAULT, 'title eq "my db"');
    assert.deepEqual(
      stub.received.map((req) => req.url),
      [
        '/v1/vaults/a%20b/items/x%2Fy%3Fz',
        `/v1/vaults/${VAULT}/items?filter=title%20eq%20%22my%20db%22`,
      ],
    );
  });

  it('rejects an empty id without sending anything', async (t) => {
    const { client, stub } = await setUp(t, () => json(200, []));
    await assert.rejects(client.getVault(''), RangeError);
    await assert.rejects(client.getItem(VAULT, '..'), RangeError);
    assert.equal(stub.received.length, 0);
  });

  it('retries a 503 and returns the answer of the third attempt', async (t) => {
    let count = 0;
    const { client, calls } = await setUp(t, () =>
      ++count <= 2 ? fail(503, 'busy') : json(200, ITEM_BODY),
    );
    assert.deepEqual(await client.getItem(VAULT, ITEM), ITEM_BODY);
    assert.deepEqual(
      calls.map((call) => [call.attempt, call.status, call.method, call.endpoint]),
      [
        [1, 503, 'GET', '/v1/vaults/{vault}/items/{item}'],
        [2, 503, 'GET', '/v1/vaults/{vault}/items/{item}'],
        [3, 200, 'GET', '/v1/vaults/{vault}/items/{item}'],
      ],
    );
    assert.ok(calls.every((call) => call.durationMs >= 0));
  });

  it('retries the transient "file not yet synced" 500', async (t) => {
    let count = 0;
    const { client, calls } = await setUp(t, () =>
      ++count === 1 ? fail(500, 'file not yet synced') : json(200, []),
    );
    assert.deepEqual(await client.listFiles(VAULT, ITEM), []);
    assert.equal(calls.length, 2);
  });

  it('gives up after the configured retries, saying how often it tried', async (t) => {
    const { client, stub } = await setUp(t, () => fail(503, 'busy'), { retries: 2 });
    const error = await connectRejection(client.getVault(VAULT));
    assert.equal(stub.received.length, 3);
    assert.equal(error.reason, 'Unavailable');
    assert.equal(error.attempts, 3);
    assert.equal(error.message, 'GET /v1/vaults/{vault}: busy (503) (after 3 attempts)');
  });

  it('maps 4xx answers to reasons without retrying', async (t) => {
    const cases: [number, string][] = [
      [400, 'BadRequest'],
      [401, 'Unauthorized'],
      [403, 'Forbidden'],
      [404, 'NotFound'],
      [413, 'TooLarge'],
      [409, 'Unexpected'],
    ];
    for (const [status, reason] of cases) {
      const { client, stub } = await setUp(t, () => fail(status, `server says ${status}`));
      const error = await connectRejection(client.getItem(VAULT, ITEM));
      assert.equal(stub.received.length, 1, `${status} must not be retried`);
      assert.equal(error.status, status);
      assert.equal(error.reason, reason);
      assert.equal(error.endpoint, '/v1/vaults/{vault}/items/{item}');
      assert.equal(error.method, 'GET');
      assert.match(error.message, new RegExp(`server says ${status}`));
    }
  });

  it('describes a non-JSON 502 by status and type, never echoing the page', async (t) => {
    const page = '<html><body><h1>502 Bad Gateway</h1></body></html>';
    const { client, stub } = await setUp(t, () => ({
      status: 502,
      headers: { 'content-type': 'text/html; charset=utf-8' },
      body: page,
    }));
    const error = await connectRejection(client.listVaults());
    assert.equal(stub.received.length, 4);
    assert.equal(error.reason, 'Unavailable');
    assert.equal(error.status, 502);
    assert.match(error.message, /unexpected 502 response \(text\/html\)/);
    assert.doesNotMatch(error.message, /html>|Bad Gateway/);
  });

  it('times out a server that never answers, retrying within the bound', async (t) => {
    const timeoutMs = 150;
    const retries = 2;
    const { client, calls } = await setUp(t, () => 'hang', { timeoutMs, retries });
    const started = performance.now();
    const error = await connectRejection(client.getVault(VAULT));
    const elapsed = performance.now() - started;
    assert.equal(error.reason, 'Unavailable');
    assert.equal(error.status, 0);
    assert.match(error.message, /no response within 150 ms/);
    assert.deepEqual(
      calls.map((call) => call.status),
      [0, 0, 0],
    );
    assert.ok(elapsed >= timeoutMs * (retries + 1) - 10, `returned after only ${elapsed} ms`);
    assert.ok(elapsed < timeoutMs * (retries + 1) + 1000, `took ${elapsed} ms`);
  });

  it('shares one request among concurrent identical GETs', async (t) => {
    const { client, stub } = await setUp(t, async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return json(200, ITEM_BODY);
    });
    const items = await Promise.all(Array.from({ length: 10 }, () => client.getItem(VAULT, ITEM)));
    assert.equal(stub.received.length, 1);
    assert.ok(items.every((item) => item.id === ITEM));
    assert.equal(new Set(items).size, 10, 'each caller gets its own object');
    await client.getItem(VAULT, ITEM);
    assert.equal(stub.received.length, 2, 'a later call is not served from the finished one');
  });

  it('reuses kept-alive connections across sequential calls', async (t) => {
    const { client, stub } = await setUp(t, () => json(200, []));
    for (let i = 0; i < 20; i += 1) await client.listVaults();
    // undici may open a second socket while the first is being released; never one per call.
    assert.ok(stub.connections() <= 2, `${stub.connections()} connections for 20 calls`);
  });

  it('never retries POST or PATCH on a 5xx, but retries PUT and DELETE', async (t) => {
    const item = { title: 'db', category: 'LOGIN' as const };
    const cases: [string, (client: ConnectClient) => Promise<unknown>, number][] = [
      ['POST', (client) => client.createItem(VAULT, item), 1],
      ['PATCH', (client) => client.patchItem(VAULT, ITEM, [{ op: 'remove', path: '/tags' }]), 1],
      ['PUT', (client) => client.replaceItem(VAULT, { ...item, id: ITEM }), 4],
      ['DELETE', (client) => client.deleteItem(VAULT, ITEM), 4],
    ];
    for (const [method, call, expected] of cases) {
      const { client, stub } = await setUp(t, () => fail(503, 'busy'));
      const error = await connectRejection(call(client));
      assert.equal(error.reason, 'Unavailable');
      assert.equal(stub.received.length, expected, method);
    }
  });

  it('does not retry a POST that timed out (the server may have created the item)', async (t) => {
    const { client, stub } = await setUp(t, () => 'hang', { timeoutMs: 100 });
    const error = await connectRejection(
      client.createItem(VAULT, { title: 'db', category: 'LOGIN' }),
    );
    assert.equal(error.reason, 'Unavailable');
    assert.equal(stub.received.length, 1);
  });

  it('retries a POST whose connection was refused', async (t) => {
    const calls: CallInfo[] = [];
    const client = new ConnectClient({
      host: `http://127.0.0.1:${await closedPort()}`,
      token: TOKEN,
      backoff: { baseMs: 1, maxMs: 5 },
      onCall: (call) => calls.push(call),
    });
    t.after(() => client.close());
    const error = await connectRejection(
      client.createItem(VAULT, { title: 'db', category: 'LOGIN' }),
    );
    assert.equal(error.reason, 'Unavailable');
    assert.equal(error.status, 0);
    assert.match(error.message, /ECONNREFUSED/);
    assert.deepEqual(
      calls.map((call) => [call.attempt, call.status]),
      [
        [1, 0],
        [2, 0],
        [3, 0],
        [4, 0],
      ],
    );
  });

  it('sends item writes as JSON with the vault taken from the argument', async (t) => {
    const { client, stub } = await setUp(t, () => json(200, ITEM_BODY));
    await client.createItem(VAULT, { title: 'db', category: 'LOGIN', tags: ['a'] });
    const ops = [{ op: 'replace' as const, path: '/title', value: 'db2' }];
    await client.patchItem(VAULT, ITEM, ops);
    const [create, patch] = stub.received;
    assert.equal(create?.method, 'POST');
    assert.equal(create?.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(create?.body ?? ''), {
      title: 'db',
      category: 'LOGIN',
      tags: ['a'],
      vault: { id: VAULT },
    });
    assert.equal(patch?.method, 'PATCH');
    assert.deepEqual(JSON.parse(patch?.body ?? ''), ops);
  });

  it('treats a 404 on a retried DELETE as done', async (t) => {
    let count = 0;
    const { client, stub } = await setUp(t, () =>
      ++count === 1 ? fail(503, 'busy') : fail(404, 'item not found'),
    );
    await client.deleteItem(VAULT, ITEM);
    assert.equal(stub.received.length, 2);
  });

  it('reports a 404 on the first DELETE attempt', async (t) => {
    const { client } = await setUp(t, () => fail(404, 'item not found'));
    assert.equal((await connectRejection(client.deleteItem(VAULT, ITEM))).reason, 'NotFound');
  });

  it('accepts an empty 204 for DELETE', async (t) => {
    const { client, stub } = await setUp(t, () => json(204, undefined));
    await client.deleteItem(VAULT, ITEM);
    assert.equal(stub.received[0]?.method, 'DELETE');
  });

  it('refuses a 200 whose body is not the expected JSON shape, without retrying', async (t) => {
    const { client, stub } = await setUp(t, () => ({ status: 200, body: '<html></html>' }));
    const error = await connectRejection(client.listVaults());
    assert.equal(error.reason, 'InvalidResponse');
    assert.match(error.message, /not JSON/);
    const object = await setUp(t, () => json(200, {}));
    assert.match(
      (await connectRejection(object.client.listVaults())).message,
      /expected a JSON array/,
    );
    assert.equal(stub.received.length + object.stub.received.length, 2);
  });

  it('refuses file calls when the server sent no version header or one older than 1.3.0', async (t) => {
    for (const version of [null, '1.2.9', '0.9.0']) {
      const { client, stub } = await setUp(t, () => json(200, [], version));
      const error = await connectRejection(client.listFiles(VAULT, ITEM));
      assert.equal(error.reason, 'Unexpected');
      assert.match(error.message, /needs Connect 1\.3\.0 or later/);
      assert.equal(stub.received.length, 1);
      assert.equal(client.serverVersion, version ?? undefined);
      assert.deepEqual(await client.listItems(VAULT), [], 'other calls still work');
    }
  });

  it('serves files from 1.3.0 on, inline and as raw content', async (t) => {
    const content = Buffer.from([0, 1, 2, 255]);
    const { client, stub } = await setUp(t, (req) =>
      req.url.endsWith('/content')
        ? {
            status: 200,
            headers: {
              'content-type': 'application/octet-stream',
              '1Password-Connect-Version': '1.3.0',
            },
            body: content,
          }
        : json(200, { id: 'fileid', name: 'key.pem', size: 4, content_path: '/x' }, '1.3.0'),
    );
    await client.getFile(VAULT, ITEM, 'fileid', { inline: true });
    assert.deepEqual(await client.getFileContent(VAULT, ITEM, 'fileid'), content);
    assert.equal(
      stub.received[0]?.url,
      `/v1/vaults/${VAULT}/items/${ITEM}/files/fileid?inline_files=true`,
    );
    assert.equal(client.serverVersion, '1.3.0');
  });

  it('reads the activity page and its Content-Range', async (t) => {
    const { client, stub } = await setUp(t, () => ({
      ...json(200, []),
      headers: { 'content-type': 'application/json', 'content-range': '1-50/1134' },
    }));
    assert.deepEqual(await client.activity({ limit: 50, offset: 0 }), {
      requests: [],
      range: { first: 1, last: 50, total: 1134 },
    });
    assert.equal(stub.received[0]?.url, '/v1/activity?limit=50&offset=0');
  });

  it('answers heartbeat with one attempt: true on 200, false otherwise', async (t) => {
    const up = await setUp(t, () => ({ status: 200, body: '.' }));
    assert.equal(await up.client.heartbeat(), true);
    const down = await setUp(t, () => ({ status: 503, body: '' }));
    assert.equal(await down.client.heartbeat(), false);
    assert.equal(down.stub.received.length, 1);
  });

  it('survives an onCall hook that throws', async (t) => {
    const { client } = await setUp(t, () => json(200, []), {
      onCall: () => {
        throw new Error('metrics broke');
      },
    });
    assert.deepEqual(await client.listVaults(), []);
  });

  it('rejects calls in flight when closed', async (t) => {
    const { client } = await setUp(t, () => 'hang');
    const pending = connectRejection(client.listVaults());
    await new Promise((resolve) => setTimeout(resolve, 20));
    await client.close();
    const error = await pending;
    assert.match(error.message, /client closed/);
  });

  it('validates its options without echoing the token', () => {
    assert.throws(() => new ConnectClient({ host: 'ftp://x', token: TOKEN }), /http or https/);
    assert.throws(() => new ConnectClient({ host: 'http://x', token: '' }), TypeError);
    assert.throws(
      () => new ConnectClient({ host: 'http://x', token: `${TOKEN}\r\nX-Evil: 1` }),
      (error: Error) => !error.message.includes(TOKEN),
    );
    assert.throws(
      () => new ConnectClient({ host: 'http://x', token: TOKEN, retries: -1 }),
      RangeError,
    );
    assert.throws(
      () => new ConnectClient({ host: 'http://x', token: TOKEN, timeoutMs: 0 }),
      RangeError,
    );
  });
});

describe('the token stays secret', () => {
  function assertHidden(value: unknown): void {
    for (const text of [
      String(value),
      value instanceof Error ? value.message : '',
      value instanceof Error ? (value.stack ?? '') : '',
      JSON.stringify(value) ?? '',
      inspect(value, { showHidden: true, depth: Infinity }),
    ]) {
      assert.ok(!text.includes(TOKEN), `token leaked into: ${text}`);
      assert.ok(!text.includes('SECRET-SIGNATURE'), `part of the token leaked into: ${text}`);
    }
  }

  it('is not reachable from the client', async (t) => {
    const { client } = await setUp(t, () => json(200, []));
    await client.listVaults();
    assertHidden(client);
    assert.deepEqual(Object.keys(client), []);
  });

  it('is redacted from errors, even when the server echoes it', async (t) => {
    const echo = (req: { headers: { authorization?: string } }): Reply =>
      fail(401, `Invalid bearer token: ${req.headers.authorization ?? ''}`);
    const { client } = await setUp(t, echo);
    const error = await connectRejection(client.listVaults());
    assert.equal(error.reason, 'Unauthorized');
    assert.match(error.message, /\[redacted\]/);
    assertHidden(error);
  });

  it('is absent from timeout and network errors', async (t) => {
    const { client } = await setUp(t, () => 'hang', { timeoutMs: 50, retries: 0 });
    assertHidden(await connectRejection(client.listVaults()));
    const refused = new ConnectClient({
      host: `http://127.0.0.1:${await closedPort()}`,
      token: TOKEN,
      retries: 0,
    });
    t.after(() => refused.close());
    assertHidden(await connectRejection(refused.listVaults()));
  });
});
