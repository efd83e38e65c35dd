// connect-local's audit over real HTTP: every spelling it serves is audited, anonymous floods cannot
// evict authenticated entries, and hostile file names still get a valid Content-Disposition.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import type { ApiRequest } from '../../src/connect/index.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import {
  activityOf,
  startConnectLocal,
  type ConnectLocalHandle,
} from '../support/connect-local.ts';
import { recordReliability } from '../support/reliability.ts';

const HOSTILE_NAMES = [
  '🔑 key.pem',
  'café.txt',
  'quote"in.txt',
  'back\\slash.txt',
  'line\r\nX-Injected: 1',
  '100%25.txt',
  "semi;colon='x'.txt",
  '../../etc/passwd',
  '\u0000\u001f\u007f',
  '日本語のファイル',
];

const DATA = dataFile(
  {
    name: 'Production',
    items: [
      {
        ...passwordItem('database', 's3cr3t', { purpose: 'PASSWORD' }),
        files: [
          { name: 'small.txt', content: 'hello file' },
          ...HOSTILE_NAMES.map((name, index) => ({ name, content: `content ${index}` })),
        ],
      },
    ],
  },
  { name: 'Staging', items: [passwordItem('other', 'other', { purpose: 'PASSWORD' })] },
);

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request with the path sent byte for byte: fetch() would normalise `..` and `%2e`. */
function raw(
  server: ConnectLocalHandle,
  method: string,
  path: string,
  token: string | undefined,
): Promise<Raw> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent: false,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

interface Setup {
  server: ConnectLocalHandle;
  token: string;
  vault: string;
  staging: string;
  item: string;
  files: { id: string; name: string }[];
}

async function setUp(t: { after(fn: () => Promise<void>): void }, args: string[] = []) {
  const server = await startConnectLocal(t, { data: DATA, args });
  const token = await server.token({ vaults: ['Production,r'], name: 'reader' });
  const lookup = await server.token({ vaults: ['Production', 'Staging'], name: 'lookup' });
  const vaults = JSON.parse((await raw(server, 'GET', '/v1/vaults', lookup)).body.toString()) as {
    id: string;
    name: string;
  }[];
  const vault = vaults.find((entry) => entry.name === 'Production')?.id ?? '';
  const staging = vaults.find((entry) => entry.name === 'Staging')?.id ?? '';
  const items = JSON.parse(
    (await raw(server, 'GET', `/v1/vaults/${vault}/items`, token)).body.toString(),
  ) as { id: string }[];
  const item = items[0]?.id ?? '';
  const files = JSON.parse(
    (await raw(server, 'GET', `/v1/vaults/${vault}/items/${item}/files`, token)).body.toString(),
  ) as { id: string; name: string }[];
  return { server, token, vault, staging, item, files } satisfies Setup;
}

const percentEncoded = (id: string): string =>
  [...id].map((char) => `%${char.charCodeAt(0).toString(16)}`).join('');

/** Decodes RFC 5987 `filename*=UTF-8''…`. */
function extendedFilename(header: string): string | undefined {
  const value = /filename\*=UTF-8''([^;\s]*)/i.exec(header)?.[1];
  return value === undefined ? undefined : decodeURIComponent(value);
}

describe('connect-local audit', () => {
  it('audits every request it serves, whatever the spelling; spellings Connect does not serve are 404', async (t) => {
    const { server, token, vault, item, files } = await setUp(t);
    const file = files[0]?.id ?? '';
    const itemPath = `/v1/vaults/${vault}/items/${item}`;
    // [method, path, expected status]
    const spellings: [string, string, number][] = [
      ['GET', itemPath, 200],
      ['GET', `${itemPath}/`, 200],
      ['GET', `${itemPath}?fields=x&filter=title%20eq%20%22x%22`, 200],
      ['GET', `${itemPath}/?a=b`, 200],
      ['HEAD', itemPath, 200],
      ['HEAD', `${itemPath}/files/${file}/content`, 200],
      ['GET', `${itemPath}/files/${file}/content/`, 200],
      ['GET', `/v1/vaults/${vault}/items/${percentEncoded(item)}`, 200],
      ['GET', `/v1/vaults/${percentEncoded(vault)}/items/${item}`, 200],
      ['GET', `/v1/VAULTS/${vault}/ITEMS/${item}`, 404],
      ['GET', `/V1/vaults/${vault}/items/${item}`, 404],
      ['GET', `/v1/Vaults/${vault}/Items/${item}/Files/${file}/Content`, 404],
      ['GET', `/v1/vaults/${vault}/items/${item}//`, 404],
      ['GET', `/v1//vaults/${vault}/items/${item}`, 404],
      ['GET', `/v1/vaults//${vault}/items/${item}`, 404],
      ['GET', `/v1/vaults/${vault}//items/${item}`, 404],
      ['GET', `/v1/vaults/${vault}/items/x/../${item}`, 404],
      ['GET', `/v1/vaults/${vault}/items/${item}/..`, 404],
      ['GET', `/v1/vaults/${vault}/items/${item}/%2e%2e`, 404],
      ['GET', `/v1/vaults/${vault}%2Fitems%2F${item}`, 400],
      ['GET', `/v1/vaults/${vault}/items/${item}%2F`, 400],
      ['GET', `/v1/vaults/${vault}/items/${item.toUpperCase()}`, 400],
    ];
    let before = (await activityOf(server, token)).length;
    for (const [method, path, status] of spellings) {
      const answer = await raw(server, method, path, token);
      assert.equal(answer.status, status, `${method} ${path}`);
      const entries = await activityOf(server, token);
      const added = entries.slice(before);
      before = entries.length;
      if (answer.status < 300) {
        assert.equal(added.length, 1, `${method} ${path} answered ${answer.status}: audited once`);
        assert.equal(added[0]?.action, 'READ');
        assert.equal(added[0]?.result, 'SUCCESS');
        assert.equal(added[0]?.resource.vault.id, vault);
        assert.equal(added[0]?.resource.item?.id, item, `${method} ${path}`);
      } else {
        assert.equal(added.length, 0, `${method} ${path} answered ${answer.status}: not audited`);
      }
    }
  });

  it('audits a denial under every spelling it answers, with the vault named', async (t) => {
    const { server, token, staging } = await setUp(t);
    const spellings = [
      `/v1/vaults/${staging}/items`,
      `/v1/vaults/${staging}/items/`,
      `/v1/vaults/${percentEncoded(staging)}/items`,
    ];
    for (const path of spellings) {
      const before = (await activityOf(server, token)).length;
      assert.equal((await raw(server, 'GET', path, token)).status, 403, path);
      const added = (await activityOf(server, token)).slice(before);
      assert.deepEqual(
        added.map((entry) => [entry.action, entry.result, entry.resource.vault.id]),
        [['READ', 'DENY', staging]],
        path,
      );
    }
  });

  it('keeps every authenticated entry through an anonymous flood of 20x the retention, across a restart', async (t) => {
    const retention = 20;
    const anonymousRetention = 5;
    const { server, token, vault, item } = await setUp(t, [
      `--activity-retention=${retention}`,
      `--activity-anonymous-retention=${anonymousRetention}`,
    ]);
    const revoked = await server.token({ vaults: ['Production'], name: 'revoked' });
    await server.revoke('revoked');
    const itemPath = `/v1/vaults/${vault}/items/${item}`;
    const readsOf = (entries: ApiRequest[]): ApiRequest[] =>
      entries.filter((entry) => entry.result === 'SUCCESS' && entry.resource.item?.id === item);
    const earlier = readsOf(await activityOf(server, token)).length;
    const reads = 10;
    for (let index = 0; index < reads; index += 1) {
      assert.equal((await raw(server, 'GET', itemPath, token)).status, 200);
    }
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(86)}`;
    const intruders = [undefined, 'not-a-token', forged, revoked];
    const flood = retention * 20;
    for (let index = 0; index < flood; index += 1) {
      const answer = await raw(
        server,
        'GET',
        index % 2 ? itemPath : '/v1/vaults',
        intruders[index % intruders.length],
      );
      assert.equal(answer.status, 401);
    }
    const check = async (handle: ConnectLocalHandle, reader: string): Promise<void> => {
      const entries = await activityOf(handle, reader);
      assert.equal(readsOf(entries).length, earlier + reads, 'every authenticated READ is kept');
      const denied = entries.filter((entry) => entry.result === 'DENY');
      assert.equal(denied.length, anonymousRetention, 'the latest anonymous denials are kept');
      assert.ok(entries.length <= retention + anonymousRetention);
    };
    await check(server, token);
    await server.stop();
    const restarted = await server.restart();
    await check(restarted, await restarted.token({ vaults: ['Production,r'], name: 'after' }));
    await recordReliability({
      suite: 'connect-local-audit',
      fault: `${flood} unauthenticated requests (none, garbage, forged, revoked) against a retention of ${retention}`,
      expected: 'every authenticated entry kept; denials recorded, bounded on their own',
      observed: `${reads}/${reads} READs kept, the last ${anonymousRetention} denials kept, also after a restart`,
    });
  });

  it('serves files with hostile names: RFC 6266 Content-Disposition, ASCII only, the name recoverable', async (t) => {
    const { server, token, vault, item, files } = await setUp(t);
    for (const [index, name] of HOSTILE_NAMES.entries()) {
      const file = files.find((candidate) => candidate.name === name);
      assert.ok(file, `file ${JSON.stringify(name)} is listed`);
      const answer = await raw(
        server,
        'GET',
        `/v1/vaults/${vault}/items/${item}/files/${file.id}/content`,
        token,
      );
      assert.equal(answer.status, 200, JSON.stringify(name));
      assert.equal(answer.body.toString(), `content ${index}`);
      assert.equal(answer.headers['x-injected'], undefined);
      const header = String(answer.headers['content-disposition']);
      assert.match(
        header,
        /^attachment; filename="[\x20-\x7e]*"(; filename\*=UTF-8''[\x21-\x7e]+)?$/,
      );
      const fallback = /filename="([^"]*)"/.exec(header)?.[1] ?? '';
      assert.doesNotMatch(fallback, /["\\/%\r\n]/, `fallback for ${JSON.stringify(name)}`);
      assert.equal(extendedFilename(header) ?? fallback, name);
    }
    const small = files.find((candidate) => candidate.name === 'small.txt');
    const plain = await raw(
      server,
      'GET',
      `/v1/vaults/${vault}/items/${item}/files/${small?.id}/content`,
      token,
    );
    assert.equal(plain.headers['content-disposition'], 'attachment; filename="small.txt"');
  });
});
