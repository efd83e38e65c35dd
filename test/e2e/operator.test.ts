// The operator end to end: real control plane, connect-local over HTTP, the operator as a process.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { ConnectClient, type ApiRequest } from '../../src/connect/index.ts';
import { eventually, kubeConfigFor, kubectl, testNamespace } from '../support/cluster.ts';
import {
  activityOf,
  startConnectLocal,
  type ConnectLocalHandle,
} from '../support/connect-local.ts';
import { itemStatus, readyWith } from '../support/item-status.ts';
import { createOnePasswordItem, startOperator, type OperatorHandle } from '../support/operator.ts';
import { readSecret, secretData } from '../support/secrets.ts';

const DATA = `
vaults:
  - name: Production
    id: production0000000000000000
    items:
      - title: database
        id: database000000000000000000
        category: DATABASE
        urls:
          - { href: "https://db.example", label: website, primary: true }
          - { href: "https://other.example", label: website }
        sections: [{ id: extra, label: Extra }]
        fields:
          - { label: username, value: admin, purpose: USERNAME }
          - { label: password, value: s3cr3t, purpose: PASSWORD }
          - { label: "😄 ice-cream type", value: vanilla, section: extra }
          - { label: "AWS Access Key", value: AKIA123 }
          - { label: empty, value: "" }
        files:
          - { name: ca.pem, content: "PEM DATA" }
      - title: a/b
        fields:
          - { label: slash, value: ok }
      - title: rotating
        id: rotating000000000000000000
        fields:
          - { label: value, value: one }
`;

const config = kubeConfigFor();
const core = config.makeApiClient(CoreV1Api);
const custom = config.makeApiClient(CustomObjectsApi);

async function createItem(
  namespace: string,
  name: string,
  body: Record<string, unknown>,
): Promise<void> {
  await createOnePasswordItem(custom, namespace, { metadata: { name, namespace }, ...body });
}

async function secretWith(
  namespace: string,
  name: string,
  check: (data: Record<string, string>) => boolean,
  timeoutMs = 30_000,
): Promise<V1Secret> {
  return eventually(
    `Secret ${namespace}/${name}`,
    async () => {
      const value = await readSecret(namespace, name);
      return value && check(secretData(value)) ? value : undefined;
    },
    { timeoutMs },
  );
}

describe('operator', () => {
  const namespaces: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const registrar = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
  let connect: ConnectLocalHandle;
  let operator: OperatorHandle;
  let jti: string;
  let operatorToken: string;
  let auditor: ConnectClient;
  let auditorToken: string;

  before(async () => {
    for (let index = 0; index < 8; index += 1)
      namespaces.push(await testNamespace(registrar, `op${index}`));
    connect = await startConnectLocal(registrar, {
      data: DATA,
      args: ['--activity-retention=100000'],
    });
    const token = await connect.token({ vaults: ['Production,r'], name: 'operator' });
    operatorToken = token;
    jti = (
      JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { jti: string }
    ).jti;
    auditorToken = await connect.token({ vaults: ['Production,r'], name: 'auditor' });
    auditor = new ConnectClient({ host: connect.url, token: auditorToken });
    operator = await startOperator(registrar, { connectUrl: connect.url, token, namespaces });
  });

  after(async () => {
    await auditor.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const ns = (index: number): string => namespaces[index] ?? '';

  it('maps the item to a Secret exactly as 1Password does, with status, labels and an ownerReference', async () => {
    await createItem(ns(0), 'database', {
      metadata: { name: 'database', namespace: ns(0), labels: { team: 'a' } },
      spec: { itemPath: 'vaults/Production/items/database' },
    });
    const value = await secretWith(ns(0), 'database', (data) => 'password' in data);
    assert.deepEqual(secretData(value), {
      website: 'https://db.example',
      username: 'admin',
      password: 's3cr3t',
      'ice-cream-type': 'vanilla',
      'AWS-Access-Key': 'AKIA123',
      'ca.pem': 'PEM DATA',
    });
    assert.equal(value.type, 'Opaque');
    assert.equal(value.metadata?.labels?.team, 'a');
    assert.equal(value.metadata?.labels?.['app.kubernetes.io/managed-by'], 'op-kube');
    assert.equal(
      value.metadata?.annotations?.['operator.1password.io/item-path'],
      'vaults/production0000000000000000/items/database000000000000000000',
    );
    assert.equal(value.metadata?.annotations?.['operator.1password.io/item-version'], '1');
    const reference = value.metadata?.ownerReferences?.[0];
    assert.equal(reference?.kind, 'OnePasswordItem');
    assert.equal(reference?.controller, true);
    const ready = await readyWith(ns(0), 'database', 'Synced');
    assert.equal(ready.status, 'True');
    const status = await itemStatus(ns(0), 'database');
    assert.equal(status.itemVersion, 1);
    assert.equal(status.secretName, 'database');
    assert.equal(status.observedGeneration, 1);
    assert.ok(status.lastSyncTime);
    const events = kubectl([
      'get',
      'events',
      '-n',
      ns(0),
      '-o',
      'jsonpath={range .items[*]}{.reason}{" "}{end}',
    ]);
    assert.match(events.stdout, /Synced/);
  });

  it('follows id paths and percent-encoded titles', async () => {
    await createItem(ns(1), 'by-id.secret', {
      spec: { itemPath: 'vaults/production0000000000000000/items/database000000000000000000' },
    });
    await createItem(ns(1), 'slash', { spec: { itemPath: 'vaults/production/items/a%2Fb' } });
    assert.equal(
      secretData(await secretWith(ns(1), 'by-id.secret', (data) => 'password' in data)).password,
      's3cr3t',
    );
    assert.equal(
      secretData(await secretWith(ns(1), 'slash', (data) => 'slash' in data)).slash,
      'ok',
    );
  });

  it('brings an item edited in Connect into its Secret within a poll, at one request per idle poll', async () => {
    await createItem(ns(2), 'rotating', { spec: { itemPath: 'vaults/Production/items/rotating' } });
    await secretWith(ns(2), 'rotating', (data) => data.value === 'one');
    const firstSync = (await itemStatus(ns(2), 'rotating')).lastSyncTime;

    const mine = async (): Promise<ApiRequest[]> =>
      (await activityOf(connect, auditorToken)).filter((request) => request.actor.jti === jti);
    // Idle: with nothing changing, every poll is one GET /v1/vaults.
    const idleStart = (await mine()).length;
    const pollsBefore = Number(
      /op_kube_polls_total\{result="success"\} (\d+)/.exec(await operator.metrics())?.[1] ?? 0,
    );
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const pollsAfter = Number(
      /op_kube_polls_total\{result="success"\} (\d+)/.exec(await operator.metrics())?.[1] ?? 0,
    );
    const idleRequests = (await mine()).slice(idleStart);
    const polls = pollsAfter - pollsBefore;
    assert.ok(polls >= 2, `${polls} polls`);
    assert.ok(
      Math.abs(idleRequests.length - polls) <= 1,
      `${idleRequests.length} requests for ${polls} polls`,
    );
    assert.ok(
      idleRequests.every((request) => request.resource.vault.id === ''),
      'only vault listings',
    );

    const current = await auditor.getItem(
      'production0000000000000000',
      'rotating000000000000000000',
    );
    const edit = await connect.admin(
      'PUT',
      '/admin/vaults/production0000000000000000/items/rotating000000000000000000',
      {
        ...current,
        fields: [{ label: 'value', value: 'two' }],
      },
    );
    assert.equal(edit.status, 200);
    await secretWith(ns(2), 'rotating', (data) => data.value === 'two', 10_000);
    const status = await eventually('itemVersion 2', async () => {
      const value = await itemStatus(ns(2), 'rotating');
      return value.itemVersion === 2 ? value : undefined;
    });
    assert.notEqual(status.lastSyncTime, undefined);
    assert.ok((status.lastSyncTime ?? '') >= (firstSync ?? ''));
  });

  it('restores a deleted or hand-edited Secret, keeping what other tools added', async () => {
    await createItem(ns(3), 'restore', { spec: { itemPath: 'vaults/Production/items/database' } });
    await secretWith(ns(3), 'restore', (data) => data.password === 's3cr3t');
    await core.deleteNamespacedSecret({ namespace: ns(3), name: 'restore' });
    await secretWith(ns(3), 'restore', (data) => data.password === 's3cr3t', 10_000);
    assert.equal(kubectl(['label', 'secret', 'restore', '-n', ns(3), 'gitops=keep']).status, 0);
    assert.equal(
      kubectl([
        'patch',
        'secret',
        'restore',
        '-n',
        ns(3),
        '--type=merge',
        '-p',
        '{"data":{"password":"aGFja2Vk"}}',
      ]).status,
      0,
    );
    const restored = await secretWith(
      ns(3),
      'restore',
      (data) => data.password === 's3cr3t',
      10_000,
    );
    assert.equal(restored.metadata?.labels?.gitops, 'keep');
  });

  it('lets the garbage collector delete the Secret with its OnePasswordItem', async () => {
    await createItem(ns(4), 'gone', { spec: { itemPath: 'vaults/Production/items/database' } });
    await secretWith(ns(4), 'gone', (data) => 'password' in data);
    await custom.deleteNamespacedCustomObject({
      group: 'onepassword.com',
      version: 'v1',
      namespace: ns(4),
      plural: 'onepassworditems',
      name: 'gone',
    });
    await eventually(
      'the Secret to be collected',
      async () => ((await readSecret(ns(4), 'gone')) ? undefined : true),
      { timeoutMs: 60_000 },
    );
  });

  it('reports precise reasons for bad paths and missing vaults or items, and writes nothing', async () => {
    await createItem(ns(5), 'no-path', { spec: {} });
    await createItem(ns(5), 'no-vault', { spec: { itemPath: 'vaults/Nope/items/database' } });
    await createItem(ns(5), 'no-item', { spec: { itemPath: 'vaults/Production/items/nope' } });
    assert.equal((await readyWith(ns(5), 'no-path', 'InvalidItemPath')).status, 'False');
    assert.match((await readyWith(ns(5), 'no-vault', 'VaultNotFound')).message ?? '', /Nope/);
    assert.match((await readyWith(ns(5), 'no-item', 'ItemNotFound')).message ?? '', /nope/);
    for (const name of ['no-path', 'no-vault', 'no-item'])
      assert.equal(await readSecret(ns(5), name), undefined);
  });

  it('leaves a Secret it does not own untouched (SecretNotOwned) and refuses a type change', async () => {
    await core.createNamespacedSecret({
      namespace: ns(6),
      body: { metadata: { name: 'taken' }, stringData: { mine: 'yes' } },
    });
    const before = await readSecret(ns(6), 'taken');
    await createItem(ns(6), 'taken', { spec: { itemPath: 'vaults/Production/items/database' } });
    await readyWith(ns(6), 'taken', 'SecretNotOwned');
    // The create-only apply (decision 029) was refused whole: not one field, label or manager added.
    const after = await readSecret(ns(6), 'taken');
    assert.deepEqual(secretData(after), { mine: 'yes' });
    assert.equal(after?.metadata?.resourceVersion, before?.metadata?.resourceVersion);
    assert.deepEqual(after?.metadata?.managedFields, before?.metadata?.managedFields);

    await createItem(ns(6), 'typed', { spec: { itemPath: 'vaults/Production/items/database' } });
    await secretWith(ns(6), 'typed', (data) => 'password' in data);
    // Created by apply: op-kube owns its fields as an applier, so a field it stops sending goes.
    assert.deepEqual(
      (await readSecret(ns(6), 'typed'))?.metadata?.managedFields
        ?.filter((entry) => entry.manager === 'op-kube')
        .map((entry) => entry.operation),
      ['Apply'],
    );
    const patched = kubectl([
      'patch',
      'opi',
      'typed',
      '-n',
      ns(6),
      '--type=merge',
      '-p',
      '{"type":"kubernetes.io/basic-auth"}',
    ]);
    assert.equal(patched.status, 0, patched.stderr);
    assert.match(
      (await readyWith(ns(6), 'typed', 'SecretTypeConflict')).message ?? '',
      /delete the Secret/,
    );
    assert.equal((await readSecret(ns(6), 'typed'))?.type, 'Opaque');
  });

  it('never puts a secret value or the token in its logs, status or Events', async () => {
    await readyWith(ns(0), 'database', 'Synced');
    const logs = operator.logs();
    for (const value of ['s3cr3t', 'AKIA123', 'vanilla', 'PEM DATA', operatorToken]) {
      assert.equal(logs.includes(value), false, value.slice(0, 12));
    }
    assert.ok(logs.length > 0, 'the operator logged something to search');
    const statuses = JSON.stringify(
      await Promise.all(
        namespaces.slice(0, 7).map((namespace) =>
          custom.listNamespacedCustomObject({
            group: 'onepassword.com',
            version: 'v1',
            namespace,
            plural: 'onepassworditems',
          }),
        ),
      ),
    );
    const events = namespaces
      .map((namespace) => kubectl(['get', 'events', '-n', namespace, '-o', 'json']).stdout)
      .join('');
    for (const value of ['s3cr3t', 'AKIA123', 'vanilla']) {
      assert.equal(statuses.includes(value), false, `status holds ${value}`);
      assert.equal(events.includes(value), false, `an Event holds ${value}`);
    }
  });
});
