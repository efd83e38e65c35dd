// Every Connect answer is checked against the API's schema: malformed bodies are InvalidResponse, never data.
import assert from 'node:assert/strict';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { ConnectClient, type ConnectError } from '../../../src/connect/index.ts';
import { connectRejection } from '../../support/connect-rejection.ts';
import { fail, json, startStub, type Handler, type Reply } from './stub-server.ts';

const TOKEN = 'test-token-for-answers';
const VAULT = 'vaultvaultvaultvaultvault1';
const OTHER_VAULT = 'othervaultothervaultother1';
const ITEM = 'itemitemitemitemitemitem01';
const FILE = 'filefilefilefilefilefile01';
// Planted in bodies next to the fault: no error message may ever contain it.
const SECRET = 'SECRET-hunter2-value';

const ITEM_PATH = '/v1/vaults/{vault}/items/{item}';

function item(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: ITEM,
    title: 'db',
    vault: { id: VAULT },
    category: 'LOGIN',
    version: 3,
    createdAt: '2024-01-01T00:00:00Z',
    updatedAt: '2024-01-02T00:00:00Z',
    urls: [{ href: 'https://db.example', label: 'website', primary: true }],
    fields: [
      { id: 'username', type: 'STRING', purpose: 'USERNAME', label: 'username', value: 'admin' },
      { id: 'password', type: 'CONCEALED', purpose: 'PASSWORD', label: 'password', value: SECRET },
    ],
    files: [{ id: FILE, name: 'key.pem', size: 5, content_path: `/v1/x/${FILE}/content` }],
    ...overrides,
  };
}

function vault(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: VAULT,
    name: 'Production',
    attributeVersion: 1,
    contentVersion: 7,
    items: 2,
    type: 'USER_CREATED',
    createdAt: '2024-01-01T00:00:00Z',
    updatedAt: '2024-01-01T00:00:00Z',
    ...overrides,
  };
}

async function setUp(
  t: TestContext,
  handler: Handler,
): Promise<{
  client: ConnectClient;
  stub: Awaited<ReturnType<typeof startStub>>;
}> {
  const stub = await startStub(t, handler);
  const client = new ConnectClient({
    host: stub.url,
    token: TOKEN,
    backoff: { baseMs: 1, maxMs: 2 },
  });
  t.after(() => client.close());
  return { client, stub };
}

/** The failure every malformed answer must produce: named endpoint and path, no value, status kept. */
function assertInvalid(
  error: ConnectError,
  endpoint: string,
  path: RegExp | string,
  status = 200,
): void {
  assert.equal(error.reason, 'InvalidResponse', error.message);
  assert.equal(error.status, status);
  assert.equal(error.endpoint, endpoint);
  assert.ok(error.message.includes(endpoint), error.message);
  if (typeof path === 'string') assert.ok(error.message.includes(path), error.message);
  else assert.match(error.message, path);
  assert.ok(!error.message.includes(SECRET), `the message leaks a value: ${error.message}`);
  assert.ok(!error.message.includes('hunter2'), error.message);
}

describe('item answers', () => {
  const malformed: [string, unknown, string][] = [
    ['an empty object', {}, 'id'],
    ['"fields": null', item({ fields: null }), 'fields'],
    ['fields as an object', item({ fields: { password: SECRET } }), 'fields'],
    ['fields as a string', item({ fields: SECRET }), 'fields'],
    ['a field that is a string', item({ fields: [item().fields, SECRET].flat() }), 'fields[2]'],
    ['a field that is null', item({ fields: [null] }), 'fields[0]'],
    [
      'a field label that is a number',
      item({ fields: [{ id: 'x', type: 'STRING', label: 5, value: SECRET }] }),
      'fields[0].label',
    ],
    [
      'a field value that is an object',
      item({ fields: [{ id: 'x', type: 'STRING', label: 'p', value: { secret: SECRET } }] }),
      'fields[0].value',
    ],
    [
      'a field value that is a number',
      item({ fields: [{ id: 'x', type: 'STRING', label: 'p', value: 1234 }] }),
      'fields[0].value',
    ],
    ['no version', item({ version: undefined }), 'version'],
    ['a version as a string', item({ version: '3' }), 'version'],
    ['a negative version', item({ version: -1 }), 'version'],
    ['a fractional version', item({ version: 1.5 }), 'version'],
    ['no vault', item({ vault: undefined }), 'vault'],
    ['a vault without id', item({ vault: {} }), 'vault.id'],
    ['an empty id', item({ id: '' }), 'id'],
    ['urls as null', item({ urls: null }), 'urls'],
    ['a url without href', item({ urls: [{ label: 'website' }] }), 'urls[0].href'],
    ['files as a string', item({ files: 'key.pem' }), 'files'],
    [
      'a file size that is not an integer',
      item({ files: [{ id: FILE, name: 'k', size: 2.5, content_path: '/x' }] }),
      'files[0].size',
    ],
    [
      'a file without a name',
      item({ files: [{ id: FILE, size: 2, content_path: '/x' }] }),
      'files[0].name',
    ],
    ['tags as a string', item({ tags: 'a,b' }), 'tags'],
    ['sections as an object', item({ sections: { id: 's' } }), 'sections'],
  ];
  for (const [what, body, path] of malformed) {
    it(`refuses ${what} (path ${path}) without retrying`, async (t) => {
      const { client, stub } = await setUp(t, () => json(200, body));
      const error = await connectRejection(client.getItem(VAULT, ITEM));
      assertInvalid(error, ITEM_PATH, path);
      assert.equal(stub.received.length, 1, 'a malformed answer is not retried');
    });
  }

  it('refuses a list where an object belongs', async (t) => {
    const { client } = await setUp(t, () => json(200, [item()]));
    assertInvalid(await connectRejection(client.getItem(VAULT, ITEM)), ITEM_PATH, /object/);
  });

  it('refuses HTML with 200, describing it by type only', async (t) => {
    const { client } = await setUp(t, () => ({
      status: 200,
      headers: { 'content-type': 'text/html' },
      body: `<html><body>${SECRET}</body></html>`,
    }));
    const error = await connectRejection(client.getItem(VAULT, ITEM));
    assertInvalid(error, ITEM_PATH, /not JSON/);
    assert.doesNotMatch(error.message, /<html>|body>/);
  });

  it('refuses an empty 200 body', async (t) => {
    const { client } = await setUp(t, () => ({ status: 200, body: '' }));
    assertInvalid(await connectRejection(client.getItem(VAULT, ITEM)), ITEM_PATH, /not JSON/);
  });

  it('refuses an item other than the one asked for (a confused proxy)', async (t) => {
    const other = 'otheritemotheritemotherit1';
    const { client } = await setUp(t, () => json(200, item({ id: other })));
    assertInvalid(await connectRejection(client.getItem(VAULT, ITEM)), ITEM_PATH, /another item/);
  });

  it('refuses an item of another vault than the one asked for', async (t) => {
    const { client } = await setUp(t, () => json(200, item({ vault: { id: OTHER_VAULT } })));
    assertInvalid(await connectRejection(client.getItem(VAULT, ITEM)), ITEM_PATH, /another vault/);
  });

  it('accepts a complete item without fields, urls and files (Connect omits empty arrays)', async (t) => {
    const body = item({ fields: undefined, urls: undefined, files: undefined });
    const { client } = await setUp(t, () => json(200, body));
    const answer = await client.getItem(VAULT, ITEM);
    assert.equal(answer.id, ITEM);
    assert.equal(answer.version, 3);
    assert.equal(answer.fields, undefined);
    assert.equal(answer.files, undefined);
  });

  it('accepts empty arrays, version 0 and fields without label or value', async (t) => {
    const body = item({ version: 0, fields: [{ id: 'x', type: 'STRING' }], urls: [], files: [] });
    const { client } = await setUp(t, () => json(200, body));
    const answer = await client.getItem(VAULT, ITEM);
    assert.equal(answer.version, 0);
    assert.deepEqual(answer.fields, [{ id: 'x', type: 'STRING' }]);
  });

  it('passes unknown properties and unknown category, field type and purpose through', async (t) => {
    const body = item({
      category: 'CRYPTO_WALLET',
      futureProperty: { nested: true },
      fields: [{ id: 'x', type: 'PASSKEY', purpose: 'RECOVERY', label: 'k', value: 'v', extra: 1 }],
    });
    const { client } = await setUp(t, () => json(200, body));
    const answer = await client.getItem(VAULT, ITEM);
    assert.equal(answer.category, 'CRYPTO_WALLET');
    assert.equal(answer.fields?.[0]?.type, 'PASSKEY');
    assert.equal(answer.fields?.[0]?.purpose, 'RECOVERY');
    assert.deepEqual((answer as unknown as Record<string, unknown>).futureProperty, {
      nested: true,
    });
  });

  it('takes the zero value for what Connect leaves out when empty (items, dates, category)', async (t) => {
    const body = {
      id: ITEM,
      title: 'db',
      vault: { id: VAULT },
      version: 1,
    };
    const { client } = await setUp(t, () => json(200, body));
    const answer = await client.getItem(VAULT, ITEM);
    assert.equal(answer.createdAt, '');
    assert.equal(answer.category, '');
  });

  it('checks the answers of writes too', async (t) => {
    const { client } = await setUp(t, () => json(200, { ...item(), fields: null }));
    const error = await connectRejection(
      client.createItem(VAULT, { title: 'db', category: 'LOGIN' }),
    );
    assertInvalid(error, '/v1/vaults/{vault}/items', 'fields');
    const put = await connectRejection(
      client.replaceItem(VAULT, { id: ITEM, title: 'db', category: 'LOGIN' }),
    );
    assertInvalid(put, ITEM_PATH, 'fields');
  });

  it('keeps an error answer an error: a 404 is NotFound, not InvalidResponse', async (t) => {
    const { client } = await setUp(t, () => fail(404, 'item not found'));
    assert.equal((await connectRejection(client.getItem(VAULT, ITEM))).reason, 'NotFound');
  });
});

describe('list, vault, file, activity and health answers', () => {
  it('refuses a vault list that is an object, or holds an entry without id or contentVersion', async (t) => {
    for (const [body, path] of [
      [{ vaults: [] }, /array/],
      [[vault(), { ...vault(), id: undefined }], 'entries[1].id'],
      [[vault({ contentVersion: '7' })], 'entries[0].contentVersion'],
      [[vault({ contentVersion: null })], 'entries[0].contentVersion'],
      [[vault(), 'Production'], 'entries[1]'],
      [[vault({ name: 5 })], 'entries[0].name'],
    ] as const) {
      const { client } = await setUp(t, () => json(200, body));
      assertInvalid(await connectRejection(client.listVaults()), '/v1/vaults', path);
    }
  });

  it('refuses a vault other than the one asked for', async (t) => {
    const { client } = await setUp(t, () => json(200, vault({ id: OTHER_VAULT })));
    assertInvalid(
      await connectRejection(client.getVault(VAULT)),
      '/v1/vaults/{vault}',
      /another vault/,
    );
  });

  it('refuses an item list entry without id or version, or of another vault', async (t) => {
    const summary = (overrides: Record<string, unknown>): Record<string, unknown> => {
      const { fields: _f, files: _files, ...rest } = item(overrides);
      return rest;
    };
    for (const [body, path] of [
      [[summary({}), summary({ version: undefined })], 'entries[1].version'],
      [[summary({ id: undefined })], 'entries[0].id'],
      [[summary({ version: 'x' })], 'entries[0].version'],
      [[summary({ vault: { id: OTHER_VAULT } })], /another vault/],
      [null, /array/],
    ] as const) {
      const { client } = await setUp(t, () => json(200, body));
      assertInvalid(
        await connectRejection(client.listItems(VAULT)),
        '/v1/vaults/{vault}/items',
        path,
      );
    }
  });

  it('accepts a vault that leaves out zero values (an empty vault has no items count)', async (t) => {
    const { client } = await setUp(t, () =>
      json(200, [{ id: VAULT, name: 'Empty', contentVersion: 1 }]),
    );
    const [answer] = await client.listVaults();
    assert.equal(answer?.items, 0);
    assert.equal(answer?.contentVersion, 1);
  });

  const fileEndpoint = '/v1/vaults/{vault}/items/{item}/files/{file}';
  const file = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
    id: FILE,
    name: 'key.pem',
    size: 5,
    content_path: `/v1/vaults/${VAULT}/items/${ITEM}/files/${FILE}/content`,
    ...overrides,
  });

  it('refuses file metadata with a size that is not a non-negative integer', async (t) => {
    for (const size of ['5', -1, 1.5, null]) {
      const { client } = await setUp(t, () => json(200, [file({ size })]));
      assertInvalid(
        await connectRejection(client.listFiles(VAULT, ITEM)),
        '/v1/vaults/{vault}/items/{item}/files',
        'entries[0].size',
      );
    }
  });

  it('refuses a file other than the one asked for', async (t) => {
    const { client } = await setUp(t, () => json(200, file({ id: 'x'.repeat(26) })));
    assertInvalid(
      await connectRejection(client.getFile(VAULT, ITEM, FILE)),
      fileEndpoint,
      /another file/,
    );
  });

  it('refuses inline content whose length differs from the declared size, or that is not base64', async (t) => {
    for (const [content, path] of [
      [Buffer.from('1234').toString('base64'), /content.*size|size.*content/],
      [Buffer.from('123456').toString('base64'), /content.*size|size.*content/],
      ['not base64!!', /content/],
    ] as const) {
      const { client } = await setUp(t, () => json(200, file({ content })));
      assertInvalid(
        await connectRejection(client.getFile(VAULT, ITEM, FILE, { inline: true })),
        fileEndpoint,
        path,
      );
    }
    const { client } = await setUp(t, () =>
      json(200, file({ content: Buffer.from('12345').toString('base64') })),
    );
    assert.equal((await client.getFile(VAULT, ITEM, FILE, { inline: true })).size, 5);
  });

  it('refuses activity entries without requestId or with a non-array body', async (t) => {
    const entry = {
      requestId: 'r1',
      timestamp: '2024-01-01T00:00:00Z',
      action: 'READ',
      result: 'SUCCESS',
      actor: { id: 'a', account: 'b', jti: 'c', userAgent: 'd', requestIp: 'e' },
      resource: { type: 'ITEM', vault: { id: VAULT }, item: { id: ITEM }, itemVersion: 1 },
    };
    const ok = await setUp(t, () => json(200, [entry]));
    assert.equal((await ok.client.activity()).requests.length, 1);
    for (const [body, path] of [
      [[{ ...entry, requestId: undefined }], 'entries[0].requestId'],
      [
        [{ ...entry, resource: { ...entry.resource, itemVersion: 'one' } }],
        'entries[0].resource.itemVersion',
      ],
      [{}, /array/],
    ] as const) {
      const { client } = await setUp(t, () => json(200, body));
      assertInvalid(await connectRejection(client.activity()), '/v1/activity', path);
    }
  });

  it('refuses a health answer whose dependencies are not a list', async (t) => {
    const { client } = await setUp(t, () =>
      json(200, { name: 'Connect', version: '1.7.3', dependencies: 'sync' }),
    );
    assertInvalid(await connectRejection(client.health()), '/health', 'dependencies');
    const ok = await setUp(t, () =>
      json(200, {
        name: 'Connect',
        version: '1.7.3',
        dependencies: [{ service: 'sync', status: 'ACTIVE' }],
      }),
    );
    assert.equal((await ok.client.health()).dependencies.length, 1);
  });
});

/**
 * A raw HTTP/1.1 server for answers node:http will not write: a Content-Length larger than the
 * body, then the connection closed.
 */
async function startRaw(
  t: TestContext,
  answer: (socket: Socket, path: string) => void,
): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      const [requestLine = ''] = buffered.slice(0, end).split('\r\n');
      buffered = buffered.slice(end + 4);
      requests += 1;
      answer(socket, requestLine.split(' ')[1] ?? '');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { url: `http://127.0.0.1:${address.port}`, requests: () => requests };
}

function head(status: number, headers: Record<string, string | number>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return [`HTTP/1.1 ${status} OK`, ...lines, '', ''].join('\r\n');
}

describe('truncated and mis-sized bodies', () => {
  it('refuses a JSON body cut short of its Content-Length, as InvalidResponse after retries', async (t) => {
    const body = JSON.stringify(item());
    const raw = await startRaw(t, (socket) => {
      socket.write(
        head(200, {
          'content-type': 'application/json',
          'content-length': body.length + 100,
          '1Password-Connect-Version': '1.7.3',
        }),
      );
      socket.end(body.slice(0, 40));
    });
    const client = new ConnectClient({
      host: raw.url,
      token: TOKEN,
      retries: 2,
      backoff: { baseMs: 1, maxMs: 2 },
    });
    t.after(() => client.close());
    const error = await connectRejection(client.getItem(VAULT, ITEM));
    assertInvalid(error, ITEM_PATH, /cut short|truncated/);
    assert.equal(raw.requests(), 3, 'a cut transfer is retried like a 5xx');
  });

  const contentEndpoint = '/v1/vaults/{vault}/items/{item}/files/{file}/content';
  const content = (bytes: Buffer): Reply => ({
    status: 200,
    headers: { 'content-type': 'application/octet-stream', '1Password-Connect-Version': '1.7.3' },
    body: bytes,
  });

  it('refuses file content shorter or longer than the declared size, without retrying', async (t) => {
    for (const bytes of [Buffer.from('1234'), Buffer.from('123456'), Buffer.alloc(0)]) {
      const { client, stub } = await setUp(t, () => content(bytes));
      const error = await connectRejection(
        client.getFileContent(VAULT, ITEM, FILE, { expectedSize: 5 }),
      );
      assertInvalid(error, contentEndpoint, /5 bytes/);
      assert.match(error.message, new RegExp(`${bytes.length} bytes`));
      assert.equal(stub.received.length, 1);
    }
  });

  it('returns file content of exactly the declared size', async (t) => {
    const { client } = await setUp(t, () => content(Buffer.from('12345')));
    assert.equal(
      (await client.getFileContent(VAULT, ITEM, FILE, { expectedSize: 5 })).toString(),
      '12345',
    );
  });

  it('refuses file content cut short of its Content-Length', async (t) => {
    const raw = await startRaw(t, (socket) => {
      socket.write(
        head(200, {
          'content-type': 'application/octet-stream',
          'content-length': 5000,
          '1Password-Connect-Version': '1.7.3',
        }),
      );
      socket.end(Buffer.alloc(100, 1));
    });
    const client = new ConnectClient({ host: raw.url, token: TOKEN, retries: 0 });
    t.after(() => client.close());
    const error = await connectRejection(
      client.getFileContent(VAULT, ITEM, FILE, { expectedSize: 5000 }),
    );
    assertInvalid(error, contentEndpoint, /cut short|truncated/);
  });

  it('reports a connection reset before any answer as Unavailable, not InvalidResponse', async (t) => {
    const raw = await startRaw(t, (socket) => socket.resetAndDestroy());
    const client = new ConnectClient({ host: raw.url, token: TOKEN, retries: 0 });
    t.after(() => client.close());
    const error = await connectRejection(client.getItem(VAULT, ITEM));
    assert.equal(error.reason, 'Unavailable');
    assert.equal(error.status, 0);
  });

  it('reports a body that trickles past the timeout as Unavailable, naming the slow body', async (t) => {
    const raw = await startRaw(t, (socket) => {
      socket.write(
        head(200, {
          'content-type': 'application/json',
          'content-length': 1000,
          '1Password-Connect-Version': '1.7.3',
        }),
      );
      const timer = setInterval(() => socket.write(' '), 20);
      socket.on('close', () => clearInterval(timer));
    });
    const client = new ConnectClient({ host: raw.url, token: TOKEN, retries: 0, timeoutMs: 200 });
    t.after(() => client.close());
    const error = await connectRejection(client.getItem(VAULT, ITEM));
    assert.equal(error.reason, 'Unavailable');
    assert.match(error.message, /body/);
  });
});
