// The operator's item source against connect-local over HTTP: lookups, caching, and what a poll costs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectClient, type ApiRequest } from '../../src/connect/index.ts';
import { ItemSource, type ItemRef } from '../../src/operator/item-source.ts';
import { startConnectLocal, type ConnectLocalHandle } from '../support/connect-local.ts';

function dataFile(vaults: number, itemsPerVault: number): string {
  const lines = ['vaults:'];
  for (let v = 0; v < vaults; v += 1) {
    lines.push(`  - name: vault-${v}`, '    items:');
    for (let i = 0; i < itemsPerVault; i += 1) {
      lines.push(
        `      - title: item-${i}`,
        '        fields:',
        `          - { label: password, value: "v${v}-i${i}" }`,
      );
      if (i === 0)
        lines.push('        files:', `          - { name: cert.pem, content: "file-of-${v}" }`);
    }
  }
  return `${lines.join('\n')}\n`;
}

interface Fixture {
  server: ConnectLocalHandle;
  client: ConnectClient;
  source: ItemSource;
  jti: string;
  /** Requests this token made, from connect-local's audit log. */
  requests: () => Promise<ApiRequest[]>;
}

async function setUp(
  t: { after(fn: () => Promise<void>): void },
  vaults: number,
  items: number,
): Promise<Fixture> {
  const server = await startConnectLocal(t, {
    data: dataFile(vaults, items),
    args: ['--activity-retention=100000'],
  });
  const token = await server.token({
    vaults: Array.from({ length: vaults }, (_, v) => `vault-${v},r`),
  });
  const jti = (
    JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { jti: string }
  ).jti;
  const client = new ConnectClient({ host: server.url, token });
  t.after(() => client.close());
  const auditor = new ConnectClient({
    host: server.url,
    token: await server.token({ vaults: ['vault-0,r'] }),
  });
  t.after(() => auditor.close());
  return {
    server,
    client,
    source: new ItemSource({ client }),
    jti,
    requests: async () => {
      const all: ApiRequest[] = [];
      for (let offset = 0; ; offset += 1000) {
        const page = await auditor.activity({ limit: 1000, offset });
        all.push(...page.requests);
        if (page.requests.length < 1000) break;
      }
      return all.filter((request) => request.actor.jti === jti);
    },
  };
}

describe('operator item source', () => {
  it('resolves titles once, fetches each item once per version, and shares files', async (t) => {
    const { source, requests } = await setUp(t, 1, 2);
    const ref = await source.resolve({ vault: 'VAULT-0', item: 'item-0' });
    const again = await source.resolve({ vault: 'VAULT-0', item: 'item-0' });
    assert.deepEqual(again, ref);
    const [first, second] = await Promise.all([source.get(ref), source.get(ref)]);
    assert.equal(first, second);
    assert.equal(first.item.title, 'item-0');
    assert.equal([...first.files.values()][0]?.toString(), 'file-of-0');
    const before = (await requests()).length;
    await source.get(ref);
    assert.equal((await requests()).length, before, 'a current item costs no request');
  });

  it('costs one Connect request per idle poll, whatever the number of items', async (t) => {
    const { source, requests } = await setUp(t, 5, 20);
    const refs: ItemRef[] = [];
    for (let v = 0; v < 5; v += 1) {
      for (let i = 0; i < 20; i += 1)
        refs.push(await source.resolve({ vault: `vault-${v}`, item: `item-${i}` }));
    }
    await Promise.all(refs.map((ref) => source.get(ref)));
    assert.deepEqual(await source.poll(refs, 1000), []);
    const before = (await requests()).length;
    for (let poll = 0; poll < 3; poll += 1) assert.deepEqual(await source.poll(refs, 1000), []);
    const pollRequests = (await requests()).slice(before);
    assert.equal(pollRequests.length, 3);
    assert.ok(
      pollRequests.every(
        (request) => request.resource.type === 'VAULT' && request.resource.vault.id === '',
      ),
    );
  });

  it('reports an edited item on the next poll, lists only its vault, and serves the new version', async (t) => {
    const { server, source, requests } = await setUp(t, 3, 2);
    const refs = await Promise.all(
      [0, 1, 2].map((v) => source.resolve({ vault: `vault-${v}`, item: 'item-1' })),
    );
    await Promise.all(refs.map((ref) => source.get(ref)));
    await source.poll(refs, 1000);
    const target = refs[1] as ItemRef;
    const current = (await source.get(target)).item;
    const edit = await server.admin(
      'PUT',
      `/admin/vaults/${target.vaultId}/items/${target.itemId}`,
      {
        ...current,
        fields: [{ label: 'password', value: 'rotated' }],
      },
    );
    assert.equal(edit.status, 200);
    const before = (await requests()).length;
    assert.deepEqual(await source.poll(refs, 1000), [target]);
    const pollRequests = (await requests()).slice(before);
    assert.deepEqual(
      pollRequests.map((request) => request.resource.vault.id),
      ['', target.vaultId],
    );
    const updated = await source.get(target);
    assert.equal(updated.item.version, current.version + 1);
    assert.equal(updated.item.fields?.[0]?.value, 'rotated');
    assert.deepEqual(await source.poll(refs, 1000), []);
  });

  it('makes no full check while connect-local moves contentVersion on every change (issue #15)', async (t) => {
    const { source, requests } = await setUp(t, 2, 1);
    const refs = await Promise.all(
      [0, 1].map((v) => source.resolve({ vault: `vault-${v}`, item: 'item-0' })),
    );
    await Promise.all(refs.map((ref) => source.get(ref)));
    await source.poll(refs, 2);
    const before = (await requests()).length;
    await source.poll(refs, 2);
    await source.poll(refs, 2);
    // Polls 2 and 3, one a full-check poll: one GET /v1/vaults each, no item list (the safety net
    // only runs once a server is caught not moving contentVersion: unit item-source-requests).
    assert.equal((await requests()).length - before, 2, 'one request per idle poll');
    assert.equal(source.fullChecksNeeded, false);
  });
});
