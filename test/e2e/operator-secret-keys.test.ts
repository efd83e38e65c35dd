// spec.keys end to end: the real operator and connect-local on the shared plane. Keys picked and
// renamed from an item, the rest kept or not, an item edit that takes a picked field away (the last
// good Secret stays), and what the CRD's schema and CEL rules refuse at kubectl apply.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { ConnectClient } from '../../src/connect/index.ts';
import { eventually, kubeConfigFor, kubectl, testNamespace } from '../support/cluster.ts';
import { startConnectLocal, type ConnectLocalHandle } from '../support/connect-local.ts';
import { eventsAbout } from '../support/events.ts';
import { readyWith } from '../support/item-status.ts';
import { createOnePasswordItem, startOperator } from '../support/operator.ts';
import { readSecret, secretData } from '../support/secrets.ts';

const VAULT = 'production0000000000000000';
const POSTGRES = 'postgres000000000000000000';
const DATA = `
vaults:
  - name: Production
    id: ${VAULT}
    items:
      - title: postgres
        id: ${POSTGRES}
        category: DATABASE
        sections: [{ id: admin, label: admin }]
        fields:
          - { label: username, value: app, purpose: USERNAME }
          - { label: password, value: "p@ss/w:rd", purpose: PASSWORD }
          - { label: server, value: db.internal }
          - { label: port, value: "5432" }
          - { label: database, value: orders }
          - { label: password, value: root-pw, section: admin }
        files:
          - { name: ca.pem, content: "CA PEM" }
`;

const config = kubeConfigFor();
const custom = config.makeApiClient(CustomObjectsApi);

function secretWith(
  namespace: string,
  name: string,
  check: (data: Record<string, string>) => boolean,
): Promise<V1Secret> {
  return eventually(`Secret ${namespace}/${name}`, async () => {
    const value = await readSecret(namespace, name);
    return value && check(secretData(value)) ? value : undefined;
  });
}

describe('spec.keys', () => {
  const cleanups: (() => Promise<void>)[] = [];
  const registrar = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
  let connect: ConnectLocalHandle;
  let editor: ConnectClient;
  let namespace: string;
  let manifests: string;

  before(async () => {
    namespace = await testNamespace(registrar, 'keys');
    manifests = await mkdtemp(join(tmpdir(), 'op-kube-keys-'));
    connect = await startConnectLocal(registrar, { data: DATA });
    const token = await connect.token({ vaults: ['Production,r'], name: 'operator' });
    editor = new ConnectClient({
      host: connect.url,
      token: await connect.token({ vaults: ['Production,r'], name: 'editor' }),
    });
    await startOperator(registrar, { connectUrl: connect.url, token, namespaces: [namespace] });
  });

  after(async () => {
    await editor.close();
    await rm(manifests, { recursive: true, force: true });
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** kubectl apply of one OnePasswordItem manifest, as a user would. */
  async function apply(name: string, spec: Record<string, unknown>, type?: string) {
    const file = join(manifests, `${name}-${Date.now()}.yaml`);
    await writeFile(
      file,
      yaml.dump({
        apiVersion: 'onepassword.com/v1',
        kind: 'OnePasswordItem',
        metadata: { name, namespace },
        ...(type === undefined ? {} : { type }),
        spec: { itemPath: `vaults/Production/items/postgres`, ...spec },
      }),
    );
    return kubectl(['apply', '-f', file]);
  }

  async function editItem(fields: { label: string; value: string; section?: string }[]) {
    const current = await editor.getItem(VAULT, POSTGRES);
    const edit = await connect.admin('PUT', `/admin/vaults/${VAULT}/items/${POSTGRES}`, {
      ...current,
      fields: fields.map(({ section, ...field }) =>
        section === undefined ? field : { ...field, section: { id: section } },
      ),
    });
    assert.equal(edit.status, 200, JSON.stringify(edit.body));
  }

  it('writes only the picked keys, renamed: by label, section.label and file name', async () => {
    const applied = await apply('renamed', {
      keys: [
        { to: 'PGUSER', from: 'username' },
        { to: 'PGPASSWORD', from: 'password' },
        { to: 'ADMIN_PASSWORD', from: 'admin.password' },
        { to: 'ca.crt', fromFile: 'ca.pem' },
      ],
    });
    // Two fields are labelled password: the plain label is ambiguous, and says how to fix it.
    assert.equal(applied.status, 0, applied.stderr);
    const ambiguous = await readyWith(namespace, 'renamed', 'AmbiguousField');
    assert.match(ambiguous.message ?? '', /^spec\.keys\[1\]\.from: 2 fields of item "postgres"/);
    assert.equal(await readSecret(namespace, 'renamed'), undefined);

    assert.equal(
      (
        await apply('renamed', {
          keys: [
            { to: 'PGUSER', from: 'username' },
            { to: 'ADMIN_PASSWORD', from: 'admin.password' },
            { to: 'ca.crt', fromFile: 'ca.pem' },
          ],
        })
      ).status,
      0,
    );
    const secret = await secretWith(namespace, 'renamed', (data) => 'PGUSER' in data);
    assert.deepEqual(secretData(secret), {
      PGUSER: 'app',
      ADMIN_PASSWORD: 'root-pw',
      'ca.crt': 'CA PEM',
    });
    await readyWith(namespace, 'renamed', 'Synced');
  });

  it('adds the rest of the item with includeOtherKeys, the picked fields renamed', async () => {
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'rest' },
      spec: {
        itemPath: 'vaults/Production/items/postgres',
        keys: [{ to: 'DB_HOST', from: 'server' }],
        includeOtherKeys: true,
      },
    });
    const secret = await secretWith(namespace, 'rest', (data) => 'DB_HOST' in data);
    assert.deepEqual(secretData(secret), {
      DB_HOST: 'db.internal',
      username: 'app',
      // 1Password's mapping: both password fields map to one key, the last one is kept.
      password: 'root-pw',
      port: '5432',
      database: 'orders',
      'ca.pem': 'CA PEM',
    });
  });

  it('keeps the last good Secret when an edit takes a picked field away, and names the entry', async () => {
    assert.equal(
      (await apply('kept', { keys: [{ to: 'PGDATABASE', from: 'database' }] })).status,
      0,
    );
    const before = await secretWith(namespace, 'kept', (data) => data.PGDATABASE === 'orders');
    await editItem([
      { label: 'username', value: 'app' },
      { label: 'password', value: 'p@ss/w:rd' },
      { label: 'server', value: 'db.internal' },
      { label: 'port', value: '5432' },
      { label: 'db', value: 'renamed-field' },
      { label: 'password', value: 'root-pw', section: 'admin' },
    ]);
    const failed = await readyWith(namespace, 'kept', 'FieldNotFound');
    assert.match(
      failed.message ?? '',
      /^spec\.keys\[0\]\.from: item "postgres" has no field labelled "database"/,
    );
    await eventually('a FieldNotFound Event naming spec.keys[0].from', () =>
      Promise.resolve(
        eventsAbout(namespace, 'OnePasswordItem', 'kept', 'FieldNotFound').find((event) =>
          event.note?.includes('spec.keys[0].from'),
        ),
      ),
    );
    await sleep(2000);
    const during = await readSecret(namespace, 'kept');
    assert.deepEqual(secretData(during), { PGDATABASE: 'orders' });
    assert.equal(during?.metadata?.resourceVersion, before.metadata?.resourceVersion);
    const events = JSON.stringify(
      eventsAbout(namespace, 'OnePasswordItem', 'kept', 'FieldNotFound'),
    );
    assert.ok(!events.includes('renamed-field') && !events.includes('p@ss'), events);

    // Pointing the entry at the new label heals it.
    assert.equal((await apply('kept', { keys: [{ to: 'PGDATABASE', from: 'db' }] })).status, 0);
    await secretWith(namespace, 'kept', (data) => data.PGDATABASE === 'renamed-field');
    await readyWith(namespace, 'kept', 'Synced');
  });

  it('is refused at kubectl apply by the schema and CEL rules', async () => {
    const refusals: [string, Record<string, unknown>, RegExp][] = [
      [
        'two sources',
        { keys: [{ to: 'A', from: 'username', fromFile: 'ca.pem' }] },
        /names exactly one source/,
      ],
      ['no source', { keys: [{ to: 'A' }] }, /names exactly one source/],
      [
        'a key no Secret takes',
        { keys: [{ to: 'a key', from: 'username' }] },
        /spec\.keys\[0\]\.to/,
      ],
      [
        'a dot-dot key',
        { keys: [{ to: '..a', from: 'username' }] },
        /must not be '\.' nor start with '\.\.'/,
      ],
      [
        'the same key twice',
        {
          keys: [
            { to: 'A', from: 'username' },
            { to: 'A', from: 'server' },
          ],
        },
        /Duplicate value/,
      ],
      ['includeOtherKeys alone', { includeOtherKeys: true }, /includeOtherKeys needs keys/],
      ['an empty list', { keys: [] }, /spec\.keys/],
      ['an unknown field', { keys: [{ to: 'A', form: 'username' }] }, /unknown field/],
    ];
    for (const [what, spec, message] of refusals) {
      const result = await apply('refused', spec);
      assert.notEqual(result.status, 0, `${what}: accepted`);
      assert.match(result.stderr, message, what);
    }
    assert.equal(
      kubectl([
        'get',
        'onepassworditem',
        'refused',
        '-n',
        namespace,
        '--ignore-not-found',
        '-o',
        'name',
      ]).stdout,
      '',
    );
  });
});
