// connect-local's REST contract over real HTTP: versions, filters, files, PATCH, bad input, crashes.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConnectClient } from '../../src/connect/index.ts';
import { CertificateAuthority } from '../../tools/cluster/pki.ts';
import { opKube, startConnectLocal, type ConnectLocalHandle } from '../support/connect-local.ts';

const DATA = `
vaults:
  - name: Production
    items:
      - title: database
        category: DATABASE
        tags: [team-a]
        sections: [{ id: extra, label: Extra }]
        fields:
          - { label: username, value: admin, purpose: USERNAME }
          - { label: password, value: s3cr3t, purpose: PASSWORD }
          - { label: port, value: "5432", section: extra }
        files:
          - { name: small.txt, content: "hello file" }
          - { name: big.bin, content: "${'x'.repeat(2048)}" }
      - title: Web Server
        tags: [team-b]
`;

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

function client(server: ConnectLocalHandle, token: string) {
  return async (
    path: string,
    init: { method?: string; body?: string; type?: string } = {},
  ): Promise<Answer> => {
    const response = await fetch(`${server.url}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': init.type ?? 'application/json',
      },
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, headers: response.headers, body, text };
  };
}

interface Setup {
  server: ConnectLocalHandle;
  api: ReturnType<typeof client>;
  vault: string;
  item: {
    id: string;
    version: number;
    files: { id: string; name: string; content_path: string }[];
  };
}

async function setUp(
  t: { after(fn: () => Promise<void>): void },
  args: string[] = [],
): Promise<Setup> {
  const server = await startConnectLocal(t, { data: DATA, args });
  const api = client(server, await server.token({ vaults: ['Production'] }));
  const vault = ((await api('/v1/vaults')).body as { id: string }[])[0]?.id ?? '';
  const summaries = (await api(`/v1/vaults/${vault}/items?filter=title eq "database"`)).body as {
    id: string;
  }[];
  const item = (await api(`/v1/vaults/${vault}/items/${summaries[0]?.id}`)).body as Setup['item'];
  return { server, api, vault, item };
}

describe('connect-local REST API', () => {
  it('sends the Connect version header, answers /heartbeat, /health and /metrics', async (t) => {
    const { server, api } = await setUp(t);
    assert.match(
      (await api('/v1/vaults')).headers.get('1password-connect-version') ?? '',
      /^\d+\.\d+\.\d+$/,
    );
    const heartbeat = await fetch(`${server.url}/heartbeat`);
    assert.equal(await heartbeat.text(), '.');
    const health = (await (await fetch(`${server.url}/health`)).json()) as {
      dependencies: { status: string }[];
    };
    assert.equal(health.dependencies[0]?.status, 'ACTIVE');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(
      metrics,
      /connect_local_http_requests_total\{method="GET",route="\/vaults",status="200"\} \d+/,
    );
  });

  it('filters with eq and co on title, name and tag, spaces as + or %20, with or without a trailing slash', async (t) => {
    const { api, vault } = await setUp(t);
    const titles = async (query: string): Promise<string[]> =>
      ((await api(`/v1/vaults/${vault}/items${query}`)).body as { title: string }[])
        .map((i) => i.title)
        .sort();
    assert.deepEqual(await titles('?filter=title+eq+"web+server"'), ['Web Server']);
    assert.deepEqual(await titles('/?filter=title%20eq%20%22Web%20Server%22'), ['Web Server']);
    assert.deepEqual(await titles('?filter=title co "a"'), ['database']);
    assert.deepEqual(await titles('?filter=tag eq "team-b"'), ['Web Server']);
    assert.deepEqual(await titles(''), ['Web Server', 'database']);
    for (const filter of ['name eq "production"', 'title eq "Production"']) {
      const vaults = (await api(`/v1/vaults/?filter=${encodeURIComponent(filter)}`)).body as {
        name: string;
      }[];
      assert.deepEqual(
        vaults.map((v) => v.name),
        ['Production'],
        filter,
      );
    }
    const summaries = (await api(`/v1/vaults/${vault}/items`)).body as Record<string, unknown>[];
    assert.ok(summaries.every((summary) => !('fields' in summary) && !('files' in summary)));
  });

  it('bumps the item version and the vault contentVersion on every change', async (t) => {
    const { api, vault, item } = await setUp(t);
    const contentVersion = async (): Promise<number> =>
      ((await api(`/v1/vaults/${vault}`)).body as { contentVersion: number }).contentVersion;
    const before = await contentVersion();
    const full = (await api(`/v1/vaults/${vault}/items/${item.id}`)).body as Record<
      string,
      unknown
    >;
    const replaced = await api(`/v1/vaults/${vault}/items/${item.id}`, {
      method: 'PUT',
      body: JSON.stringify({ ...full, title: 'database-2' }),
    });
    assert.equal(replaced.status, 200);
    assert.equal((replaced.body as { version: number }).version, item.version + 1);
    assert.equal(await contentVersion(), before + 1);

    const patched = await api(`/v1/vaults/${vault}/items/${item.id}`, {
      method: 'PATCH',
      body: JSON.stringify([
        { op: 'replace', path: '/fields/password/value', value: 'rotated' },
        { op: 'replace', path: '/title', value: 'database' },
      ]),
    });
    assert.equal(patched.status, 200);
    const after = patched.body as {
      version: number;
      title: string;
      fields: { id: string; value: string }[];
    };
    assert.equal(after.version, item.version + 2);
    assert.equal(after.title, 'database');
    assert.equal(after.fields.find((field) => field.id === 'password')?.value, 'rotated');
    assert.equal(after.fields.find((field) => field.id === 'username')?.value, 'admin');

    const created = await api(`/v1/vaults/${vault}/items`, {
      method: 'POST',
      body: JSON.stringify({
        title: 'new',
        category: 'LOGIN',
        fields: [
          {
            purpose: 'PASSWORD',
            generate: true,
            recipe: { length: 20, characterSets: ['DIGITS'] },
          },
        ],
      }),
    });
    assert.equal(created.status, 200);
    const generated = (created.body as { fields: { id: string; value: string }[] }).fields[0];
    assert.equal(generated?.id, 'password');
    assert.match(generated?.value ?? '', /^\d{20}$/);
    const deleted = await api(`/v1/vaults/${vault}/items/${(created.body as { id: string }).id}`, {
      method: 'DELETE',
    });
    assert.equal(deleted.status, 204);
    assert.equal(deleted.text, '');
    assert.equal(await contentVersion(), before + 4);
  });

  it('serves files: metadata, inline base64 content, raw content, and 413 past the inline limit', async (t) => {
    const { api, vault, item } = await setUp(t, ['--max-inline-file-bytes=1024']);
    const small = item.files.find((file) => file.name === 'small.txt');
    assert.ok(small);
    assert.equal(
      small.content_path,
      `/v1/vaults/${vault}/items/${item.id}/files/${small.id}/content`,
    );
    const base = `/v1/vaults/${vault}/items/${item.id}/files`;
    const inline = (await api(`${base}/${small.id}?inline_files=true`)).body as { content: string };
    assert.equal(Buffer.from(inline.content, 'base64').toString(), 'hello file');
    const plain = (await api(`${base}/${small.id}`)).body as Record<string, unknown>;
    assert.equal('content' in plain, false);
    const raw = await api(small.content_path);
    assert.equal(raw.text, 'hello file');
    assert.equal(raw.headers.get('content-disposition'), 'attachment; filename="small.txt"');
    const tooLarge = await api(`${base}?inline_files=true`);
    assert.equal(tooLarge.status, 413);
    assert.equal((tooLarge.body as { status: number }).status, 413);
    assert.equal((await api(`${base}`)).status, 200);
  });

  it('answers bad input with a clear JSON 4xx and keeps serving', async (t) => {
    const { api, vault, item } = await setUp(t, ['--max-body-bytes=4096']);
    const cases: [string, { method?: string; body?: string }, number, RegExp][] = [
      [`/v1/vaults/${vault}/items`, { method: 'POST', body: '{"title": ' }, 400, /not valid JSON/],
      [
        `/v1/vaults/${vault}/items`,
        { method: 'POST', body: JSON.stringify({ title: 'x'.repeat(8000) }) },
        413,
        /too large/,
      ],
      [
        `/v1/vaults/${vault}/items`,
        { method: 'POST', body: JSON.stringify({ title: 'doc', category: 'DOCUMENT' }) },
        400,
        /DOCUMENT/,
      ],
      [
        `/v1/vaults/${vault}/items`,
        { method: 'POST', body: JSON.stringify({ title: 'x', category: 'NOPE' }) },
        400,
        /invalid item category/,
      ],
      [`/v1/vaults/not-an-id/items`, {}, 400, /invalid vault id/],
      [`/v1/vaults/${vault}/items/BAD`, {}, 400, /invalid item id/],
      [`/v1/vaults/${vault}/items/${'a'.repeat(26)}`, {}, 404, /item a{26} not found/],
      [
        `/v1/vaults/${vault}/items?filter=title ne "x"`,
        {},
        400,
        /unsupported filter operator "ne"/,
      ],
      [`/v1/vaults/${vault}/items?filter=garbage`, {}, 400, /invalid filter/],
      [
        `/v1/vaults/${vault}/items/${item.id}`,
        { method: 'PATCH', body: JSON.stringify([{ op: 'move', path: '/title' }]) },
        400,
        /op must be/,
      ],
      [
        `/v1/vaults/${vault}/items/${item.id}`,
        { method: 'PATCH', body: JSON.stringify([{ op: 'replace', path: '/urls', value: [] }]) },
        400,
        /unsupported patch path/,
      ],
      [`/v1/activity?limit=0`, {}, 400, /limit/],
      [`/v1/nope`, {}, 404, /no such endpoint/],
    ];
    for (const [path, init, status, message] of cases) {
      const answer = await api(path, init);
      assert.equal(answer.status, status, `${init.method ?? 'GET'} ${path}`);
      const body = answer.body as { status: number; message: string };
      assert.equal(body.status, status);
      assert.match(body.message, message);
    }
    assert.equal((await api(`/v1/vaults/${vault}/items/${item.id}`)).status, 200);
  });

  it('keeps every acknowledged write through kill -9 in the middle of writes', async (t) => {
    const { server, api, vault } = await setUp(t);
    const total = 300;
    const acknowledged = new Map<string, number>();
    let killAfterTen: () => void = () => undefined;
    const tenAcknowledged = new Promise<void>((resolve) => (killAfterTen = resolve));
    const writes = Array.from({ length: total }, async (_, index) => {
      const answer = await api(`/v1/vaults/${vault}/items`, {
        method: 'POST',
        body: JSON.stringify({
          title: `crash-${index}`,
          fields: [{ label: 'n', value: String(index) }],
        }),
      }).catch(() => undefined);
      if (answer?.status === 200) acknowledged.set((answer.body as { id: string }).id, index);
      if (acknowledged.size >= 10) killAfterTen();
    });
    await tenAcknowledged;
    await server.kill();
    await Promise.allSettled(writes);
    assert.ok(acknowledged.size < total, 'the kill landed while writes were still in flight');

    const state = JSON.parse(
      await readFile(join(server.stateDir, 'state.json'), 'utf8'),
    ) as unknown;
    assert.ok(state, 'state.json parses after the crash');
    const restarted = await server.restart();
    const again = client(restarted, await restarted.token({ vaults: ['Production'] }));
    for (const [id, index] of acknowledged) {
      const item = await again(`/v1/vaults/${vault}/items/${id}`);
      assert.equal(item.status, 200, `acknowledged item ${index} survives`);
      assert.equal((item.body as { fields: { value: string }[] }).fields[0]?.value, String(index));
    }
  });

  it('refuses a data file whose file path leaves its directory, naming the entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'op-kube-traversal-'));
    writeFileSync(
      join(dir, 'data.yaml'),
      'vaults:\n  - name: V\n    items:\n      - title: t\n        files:\n          - { name: x, path: ../../etc/passwd }\n',
    );
    const result = opKube([
      'connect-local',
      `--data=${join(dir, 'data.yaml')}`,
      `--state-dir=${join(dir, 'state')}`,
      '--port=0',
    ]);
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /vaults\[0\]\.items\[0\]\.files\[0\]\.path "\.\.\/\.\.\/etc\/passwd" leaves the data file's directory/,
    );
  });

  it('answers 503 on every /v1 call during a forced outage and recovers after it', async (t) => {
    const { server, api } = await setUp(t);
    assert.equal((await server.admin('POST', '/admin/outage', { enabled: true })).status, 200);
    const during = await api('/v1/vaults');
    assert.equal(during.status, 503);
    assert.equal((during.body as { status: number }).status, 503);
    assert.equal((await server.admin('POST', '/admin/outage', { enabled: false })).status, 200);
    assert.equal((await api('/v1/vaults')).status, 200);
    const unauthorized = await fetch(`${server.adminUrl}/admin/faults`);
    assert.equal(unauthorized.status, 401);
  });

  it('serves HTTPS with --tls-cert/--tls-key, trusted by a client given the private CA', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'op-kube-tls-'));
    const ca = await CertificateAuthority.create('connect-local test CA', 1);
    const serving = await ca.issue({
      subject: 'CN=connect-local',
      server: true,
      ipAddresses: ['127.0.0.1'],
    });
    writeFileSync(join(dir, 'tls.crt'), serving.cert);
    writeFileSync(join(dir, 'tls.key'), serving.key);
    const server = await startConnectLocal(t, {
      data: DATA,
      args: [`--tls-cert=${join(dir, 'tls.crt')}`, `--tls-key=${join(dir, 'tls.key')}`],
    });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const token = await server.token({ vaults: ['Production,r'] });
    const trusting = new ConnectClient({ host: server.url, token, ca: (await ca.pem()).cert });
    t.after(() => trusting.close());
    const item = await trusting.resolveItem('Production', 'database');
    assert.equal(item.fields?.find((field) => field.id === 'password')?.value, 's3cr3t');

    const untrusting = new ConnectClient({ host: server.url, token, retries: 0 });
    t.after(() => untrusting.close());
    await assert.rejects(untrusting.listVaults(), { name: 'ConnectError', reason: 'Unavailable' });
  });

  it('keeps the activity log bounded by --activity-retention, across a restart', async (t) => {
    const { server, api, vault, item } = await setUp(t, ['--activity-retention=5']);
    for (let index = 0; index < 12; index += 1) await api(`/v1/vaults/${vault}/items/${item.id}`);
    const page = await api('/v1/activity?limit=100');
    assert.equal((page.body as unknown[]).length, 5);
    assert.equal(page.headers.get('content-range'), '1-5/5');
    await server.stop();
    const restarted = await server.restart();
    const again = client(restarted, await restarted.token({ vaults: ['Production'] }));
    const after = (await again('/v1/activity?limit=100')).body as {
      resource: { item?: { id: string } };
    }[];
    assert.equal(after.length, 5);
    assert.ok(after.every((entry) => entry.resource.item?.id === item.id));
  });
});
