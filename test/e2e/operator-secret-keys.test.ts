// spec.keys end to end: the real operator and connect-local on the shared plane. Keys picked and
// renamed from an item, the rest kept or not, templates (a Postgres URL, an .env file, a
// kubernetes.io/dockerconfigjson Secret the apiserver accepts), each error keeping the last
// good Secret, labels and annotations on the Secret, two items into one Secret (following both,
// KeyCollision), and what the CRD's schema and CEL rules refuse at kubectl apply; then
// spec.refreshInterval under a 600 s polling interval: edits arrive within it, one request per poll.
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
import {
  activityOf,
  startConnectLocal,
  type ConnectLocalHandle,
} from '../support/connect-local.ts';
import { eventsAbout } from '../support/events.ts';
import { readyWith } from '../support/item-status.ts';
import { createOnePasswordItem, startOperator } from '../support/operator.ts';
import { readSecret, secretData } from '../support/secrets.ts';

const VAULT = 'production0000000000000000';
const POSTGRES = 'postgres000000000000000000';
const REGISTRY = 'registry000000000000000000';
const REGISTRY_PASSWORD = 'robot "pw" \\ :@/';
const BLOB = 'b'.repeat(600 * 1024);
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
      - title: registry
        id: ${REGISTRY}
        category: LOGIN
        fields:
          - { label: server, value: "registry.example:5000" }
          - { label: username, value: "robot$ci", purpose: USERNAME }
          - { label: password, value: ${JSON.stringify(REGISTRY_PASSWORD)}, purpose: PASSWORD }
      - title: big
        files:
          - { name: blob, content: ${BLOB} }
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
  async function apply(
    name: string,
    spec: Record<string, unknown>,
    { type, item = 'postgres' }: { type?: string; item?: string } = {},
  ) {
    const file = join(manifests, `${name}-${Date.now()}.yaml`);
    await writeFile(
      file,
      yaml.dump({
        apiVersion: 'onepassword.com/v1',
        kind: 'OnePasswordItem',
        metadata: { name, namespace },
        ...(type === undefined ? {} : { type }),
        spec: { itemPath: `vaults/Production/items/${item}`, ...spec },
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

  it('renders a Postgres URL and an .env file from templates', async () => {
    const url =
      'postgresql://{{#urlescape}}{{username}}{{/urlescape}}:{{#urlescape}}{{password}}{{/urlescape}}' +
      '@{{server}}:{{port}}/{{db}}?sslmode=require';
    assert.equal(
      (
        await apply('templated', {
          keys: [
            { to: 'DATABASE_URL', template: url.replace('{{password}}', '{{admin.password}}') },
            {
              to: '.env',
              template:
                'PGHOST={{server}}\nPGPORT={{port}}\nPGUSER={{username}}\nPGPASSWORD={{admin.password}}\n',
            },
          ],
        })
      ).status,
      0,
    );
    const secret = await secretWith(namespace, 'templated', (data) => 'DATABASE_URL' in data);
    const data = secretData(secret);
    // The item as the previous test's edit left it: 'db' (was 'database'), 'password' twice.
    const parsed = new URL(data.DATABASE_URL ?? '');
    assert.equal(decodeURIComponent(parsed.password), 'root-pw');
    assert.equal(parsed.host, 'db.internal:5432');
    assert.equal(parsed.pathname, '/renamed-field');
    assert.equal(data['.env'], 'PGHOST=db.internal\nPGPORT=5432\nPGUSER=app\nPGPASSWORD=root-pw\n');
    assert.deepEqual(Object.keys(data).sort(), ['.env', 'DATABASE_URL']);
  });

  it('builds a kubernetes.io/dockerconfigjson Secret with the base64 auth', async () => {
    const template =
      '{"auths":{"{{#jsonescape}}{{server}}{{/jsonescape}}":{' +
      '"username":"{{#jsonescape}}{{username}}{{/jsonescape}}",' +
      '"password":"{{#jsonescape}}{{password}}{{/jsonescape}}",' +
      '"auth":"{{#base64}}{{username}}:{{password}}{{/base64}}"}}}';
    const registry = { type: 'kubernetes.io/dockerconfigjson', item: 'registry' };
    const applied = await apply(
      'pull',
      { keys: [{ to: '.dockerconfigjson', template }] },
      registry,
    );
    assert.equal(applied.status, 0, applied.stderr);
    const secret = await secretWith(namespace, 'pull', (data) => '.dockerconfigjson' in data);
    assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
    const config = JSON.parse(secretData(secret)['.dockerconfigjson'] ?? '') as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    };
    const entry = config.auths['registry.example:5000'];
    assert.equal(entry?.password, REGISTRY_PASSWORD);
    assert.equal(
      Buffer.from(entry?.auth ?? '', 'base64').toString(),
      `robot$ci:${REGISTRY_PASSWORD}`,
    );

    // The same template without jsonescape breaks the JSON: refused before the apiserver, data kept.
    const broken = template.replace('{{#jsonescape}}{{password}}{{/jsonescape}}', '{{password}}');
    assert.equal(
      (await apply('pull', { keys: [{ to: '.dockerconfigjson', template: broken }] }, registry))
        .status,
      0,
    );
    const failed = await readyWith(namespace, 'pull', 'InvalidSecretData');
    assert.ok(!(failed.message ?? '').includes('robot'), failed.message);
    const kept = await readSecret(namespace, 'pull');
    assert.equal(kept?.metadata?.resourceVersion, secret.metadata?.resourceVersion);
  });

  it('keeps the last good Secret on a bad template and on data over 1 MiB, and heals', async () => {
    assert.equal(
      (await apply('guarded', { keys: [{ to: 'URL', template: 'postgres://{{server}}' }] })).status,
      0,
    );
    const good = await secretWith(
      namespace,
      'guarded',
      (data) => data.URL === 'postgres://db.internal',
    );
    const keptThrough = async (reason: string, pattern: RegExp) => {
      const condition = await readyWith(namespace, 'guarded', reason);
      assert.match(condition.message ?? '', pattern);
      await eventually(`a ${reason} Event`, () =>
        Promise.resolve(eventsAbout(namespace, 'OnePasswordItem', 'guarded', reason)[0]),
      );
      const now = await readSecret(namespace, 'guarded');
      assert.deepEqual(secretData(now), { URL: 'postgres://db.internal' });
      assert.equal(now?.metadata?.resourceVersion, good.metadata?.resourceVersion);
    };
    await apply('guarded', { keys: [{ to: 'URL', template: 'postgres://{{#server}}' }] });
    await keptThrough('InvalidTemplate', /^spec\.keys\[0\]\.template: Unclosed section "server"/);
    await apply('guarded', { keys: [{ to: 'URL', template: 'postgres://{{hostname}}' }] });
    await keptThrough(
      'FieldNotFound',
      /^spec\.keys\[0\]\.template: item "postgres" has no field labelled "hostname"/,
    );

    // Two keys of the same 600 KiB file: over the 1 MiB a Secret holds.
    const twice = [
      { to: 'a', fromFile: 'blob' },
      { to: 'b', fromFile: 'blob' },
    ];
    assert.equal((await apply('guarded', { keys: twice }, { item: 'big' })).status, 0);
    await keptThrough(
      'SecretTooLarge',
      /over the 1048576-byte \(1 MiB\) limit of a Secret \(largest keys, in bytes: a 614400, b 614400\)/,
    );

    await apply('guarded', { keys: [{ to: 'URL', template: 'postgres://{{server}}:{{port}}' }] });
    await secretWith(namespace, 'guarded', (data) => data.URL === 'postgres://db.internal:5432');
    await readyWith(namespace, 'guarded', 'Synced');
  });

  it('puts spec.secretMetadata on the Secret, and takes it off again', async () => {
    const labelled = {
      keys: [{ to: 'PGHOST', from: 'server' }],
      secretMetadata: {
        labels: { tier: 'db', team: 'payments' },
        annotations: { 'reloader.example/match': 'true' },
      },
    };
    assert.equal((await apply('labelled', labelled)).status, 0);
    const secret = await secretWith(namespace, 'labelled', (data) => 'PGHOST' in data);
    assert.equal(secret.metadata?.labels?.tier, 'db');
    assert.equal(secret.metadata?.labels?.team, 'payments');
    assert.equal(secret.metadata?.labels?.['app.kubernetes.io/managed-by'], 'op-kube');
    assert.equal(secret.metadata?.annotations?.['reloader.example/match'], 'true');

    // A label taken out of the spec goes; an annotation changed follows; the data is untouched.
    const edited = {
      ...labelled,
      secretMetadata: { labels: { tier: 'db' }, annotations: { 'reloader.example/match': 'no' } },
    };
    assert.equal((await apply('labelled', edited)).status, 0);
    const after = await eventually('team taken off the Secret', async () => {
      const now = await readSecret(namespace, 'labelled');
      return now?.metadata?.labels?.team === undefined ? now : undefined;
    });
    assert.equal(after.metadata?.labels?.tier, 'db');
    assert.equal(after.metadata?.annotations?.['reloader.example/match'], 'no');
    assert.deepEqual(secretData(after), { PGHOST: 'db.internal' });
    assert.equal(after.metadata?.uid, secret.metadata?.uid);
  });

  it('puts two items into one Secret, follows both, and refuses a key both give', async () => {
    const combined = {
      keys: [{ to: 'PGHOST', from: 'server' }],
      extraItems: [
        {
          itemPath: 'vaults/Production/items/registry',
          keys: [{ to: 'REGISTRY_USER', from: 'username' }],
        },
      ],
    };
    assert.equal((await apply('combined', combined)).status, 0);
    const secret = await secretWith(namespace, 'combined', (data) => 'REGISTRY_USER' in data);
    assert.deepEqual(secretData(secret), { PGHOST: 'db.internal', REGISTRY_USER: 'robot$ci' });
    const synced = await readyWith(namespace, 'combined', 'Synced');
    assert.match(synced.message ?? '', /of item postgres, version 1 of item registry/);

    // An edit of the second item reaches the Secret.
    const current = await editor.getItem(VAULT, REGISTRY);
    const edit = await connect.admin('PUT', `/admin/vaults/${VAULT}/items/${REGISTRY}`, {
      ...current,
      fields: (current.fields ?? []).map((field) =>
        field.label === 'username' ? { ...field, value: 'robot2' } : field,
      ),
    });
    assert.equal(edit.status, 200, JSON.stringify(edit.body));
    const followed = await secretWith(
      namespace,
      'combined',
      (data) => data.REGISTRY_USER === 'robot2',
    );

    // The whole registry item has a key 'server' too: KeyCollision, found at sync time.
    assert.equal(
      (
        await apply('combined', {
          keys: [{ to: 'server', from: 'server' }],
          extraItems: [{ itemPath: 'vaults/Production/items/registry' }],
        })
      ).status,
      0,
    );
    const collision = await readyWith(namespace, 'combined', 'KeyCollision');
    assert.equal(
      collision.message,
      'Secret key server comes from item "postgres" (spec) and from item "registry" (spec.extraItems[0]); give one another name with keys[].to, or leave it out',
    );
    await eventually('a KeyCollision Event', () =>
      Promise.resolve(eventsAbout(namespace, 'OnePasswordItem', 'combined', 'KeyCollision')[0]),
    );
    const kept = await readSecret(namespace, 'combined');
    assert.deepEqual(secretData(kept), { PGHOST: 'db.internal', REGISTRY_USER: 'robot2' });
    assert.equal(kept?.metadata?.resourceVersion, followed.metadata?.resourceVersion);
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
        'a template and a field',
        { keys: [{ to: 'A', from: 'username', template: '{{username}}' }] },
        /names exactly one source/,
      ],
      ['an empty template', { keys: [{ to: 'A', template: '' }] }, /spec\.keys\[0\]\.template/],
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
      [
        'a key given by the item and an extra item',
        {
          keys: [{ to: 'A', from: 'username' }],
          extraItems: [
            { itemPath: 'vaults/Production/items/registry', keys: [{ to: 'A', from: 'username' }] },
          ],
        },
        /a key of keys is also a key of extraItems\[\]\.keys/,
      ],
      [
        'a key given by two extra items',
        {
          extraItems: [
            { itemPath: 'vaults/Production/items/registry', keys: [{ to: 'B', from: 'username' }] },
            { itemPath: 'vaults/Production/items/big', keys: [{ to: 'B', fromFile: 'blob' }] },
          ],
        },
        /two entries of extraItems have a key of the same name/,
      ],
      [
        'the same extra item twice',
        {
          extraItems: [
            { itemPath: 'vaults/Production/items/registry' },
            { itemPath: 'vaults/Production/items/registry' },
          ],
        },
        /Duplicate value/,
      ],
      ['a refreshInterval under 1 s', { refreshInterval: '500ms' }, /from 1s to 24h/],
      ['a refreshInterval that is no duration', { refreshInterval: 'soon' }, /refreshInterval/],
      [
        'a label op-kube manages',
        { secretMetadata: { labels: { 'app.kubernetes.io/managed-by': 'me' } } },
        /op-kube manages/,
      ],
      [
        "1Password's annotation",
        { secretMetadata: { annotations: { 'operator.1password.io/auto-restart': 'true' } } },
        /op-kube manages/,
      ],
      [
        'a label key that is no qualified name',
        { secretMetadata: { labels: { 'a b': 'x' } } },
        /label keys are qualified names/,
      ],
      [
        'a label value too long',
        { secretMetadata: { labels: { a: 'x'.repeat(64) } } },
        /secretMetadata\.labels\.a/,
      ],
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

describe('spec.refreshInterval', () => {
  const cleanups: (() => Promise<void>)[] = [];
  const registrar = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('checks the item every refreshInterval under a 600 s polling interval, one request per idle poll', async (t) => {
    const namespace = await testNamespace(registrar, 'refresh');
    const connect = await startConnectLocal(registrar, {
      data: DATA,
      args: ['--activity-retention=100000'],
    });
    const token = await connect.token({ vaults: ['Production,r'], name: 'operator' });
    const jti = (
      JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { jti: string }
    ).jti;
    const auditor = await connect.token({ vaults: ['Production,r'], name: 'auditor' });
    const reader = new ConnectClient({ host: connect.url, token: auditor });
    registrar.after(() => reader.close());
    const operator = await startOperator(registrar, {
      connectUrl: connect.url,
      token,
      namespaces: [namespace],
      env: { POLLING_INTERVAL: '600' },
    });
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'fast' },
      spec: {
        itemPath: 'vaults/Production/items/postgres',
        keys: [{ to: 'PGHOST', from: 'server' }],
        refreshInterval: '2s',
      },
    });
    await secretWith(namespace, 'fast', (data) => data.PGHOST === 'db.internal');
    const wide = kubectl(['get', 'opi', 'fast', '-n', namespace, '-o', 'wide']);
    assert.match(wide.stdout, /REFRESH/);
    assert.match(wide.stdout.split('\n')[1] ?? '', /\b2s\b/);

    const polls = async () =>
      Number(
        /op_kube_polls_total\{result="success"\} (\d+)/.exec(await operator.metrics())?.[1] ?? 0,
      );
    const mine = async () =>
      (await activityOf(connect, auditor)).filter((request) => request.actor.jti === jti);
    const requestsBefore = (await mine()).length;
    const pollsBefore = await polls();
    await sleep(7000);
    const idle = (await mine()).slice(requestsBefore);
    const idlePolls = (await polls()) - pollsBefore;
    assert.ok(idlePolls >= 3 && idlePolls <= 5, `${idlePolls} polls in 7 s`);
    assert.ok(
      Math.abs(idle.length - idlePolls) <= 1,
      `${idle.length} requests, ${idlePolls} polls`,
    );
    assert.ok(
      idle.every((request) => request.resource.vault.id === ''),
      'only vault listings',
    );

    const current = await reader.getItem(VAULT, POSTGRES);
    const edited = Date.now();
    const edit = await connect.admin('PUT', `/admin/vaults/${VAULT}/items/${POSTGRES}`, {
      ...current,
      fields: (current.fields ?? []).map((field) =>
        field.label === 'server' ? { ...field, value: 'db2.internal' } : field,
      ),
    });
    assert.equal(edit.status, 200);
    await secretWith(namespace, 'fast', (data) => data.PGHOST === 'db2.internal');
    const latency = Date.now() - edited;
    assert.ok(latency < 5000, `${latency} ms from the edit to the Secret`);
    t.diagnostic(
      `idle: ${idlePolls} polls, ${idle.length} Connect requests in 7 s; edit to Secret ${latency} ms`,
    );
  });
});
