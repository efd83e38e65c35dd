// --token-source=namespace against connect-local and the real operator: each tenant's items are
// read with the token of the onepassword-token Secret in its own namespace, scoped by Connect to
// its own vault. Tenant A cannot read tenant B's vault (by title or id), revoking A's token stops
// only A, a namespace without a token says NoToken until one is created, and an idle operator
// makes one Connect request per poll per distinct token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { eventually, kubeConfigFor, testNamespace, suiteCleanups } from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { startConnectLocal, type ConnectLocalHandle } from '../support/connect-local.ts';
import { annotatedDeployment, secretRequest } from '../support/deployments.ts';
import { eventsAbout } from '../support/events.ts';
import { readyCondition, readyWith } from '../support/item-status.ts';
import { createOnePasswordItem, startOperator, type OperatorHandle } from '../support/operator.ts';
import { readSecret, secretText } from '../support/secrets.ts';

const VAULT_A = 'teama000000000000000000000';
const VAULT_B = 'teamb000000000000000000000';
const ITEM_A = 'itema000000000000000000000';
const ITEM_B = 'itemb000000000000000000000';

const DATA = dataFile(
  { name: 'TeamA', id: VAULT_A, items: [passwordItem('db', 'a-secret', { id: ITEM_A })] },
  { name: 'TeamB', id: VAULT_B, items: [passwordItem('db', 'b-secret', { id: ITEM_B })] },
);

const admin = kubeConfigFor();
const core = admin.makeApiClient(CoreV1Api);
const custom = admin.makeApiClient(CustomObjectsApi);
const apps = admin.makeApiClient(AppsV1Api);

const suite = suiteCleanups();

function tokenSecret(namespace: string, token: string): Promise<unknown> {
  return core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: 'onepassword-token' },
      stringData: { token },
    },
  });
}

function item(namespace: string, name: string, itemPath: string): Promise<object> {
  return createOnePasswordItem(custom, namespace, { metadata: { name }, spec: { itemPath } });
}

/** The sum of a counter's samples whose labels contain every `labels` entry. */
function counter(metrics: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
      continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('operator --token-source=namespace', () => {
  let connect: ConnectLocalHandle;
  let tokenA: string;
  let tokenB: string;
  let tenantA: string;
  let tenantB: string;
  let late: string;
  let operator: OperatorHandle;

  before(async () => {
    connect = await startConnectLocal(suite, { data: DATA });
    tokenA = await connect.token({ vaults: ['TeamA,r'], name: `tenant-a-${process.pid}` });
    tokenB = await connect.token({ vaults: ['TeamB,r'], name: `tenant-b-${process.pid}` });
    tenantA = await testNamespace(suite, 'tenant-a');
    tenantB = await testNamespace(suite, 'tenant-b');
    late = await testNamespace(suite, 'tenant-late');
    await tokenSecret(tenantA, tokenA);
    await tokenSecret(tenantB, tokenB);
    operator = await startOperator(suite, {
      connectUrl: connect.url,
      token: '',
      namespaces: [tenantA, tenantB, late],
      // The idle count below wants no safety-net full check in its window.
      args: ['--token-source=namespace', '--full-check-every=1000'],
    });
  });
  after(async () => {
    await suite.run();
  });

  it("syncs each tenant from its own token's vault; A's items naming B's vault get nothing of B", async () => {
    await item(tenantA, 'own', 'vaults/TeamA/items/db');
    await item(tenantB, 'own', 'vaults/TeamB/items/db');
    await item(tenantA, 'steal-by-title', 'vaults/TeamB/items/db');
    await item(tenantA, 'steal-by-id', `vaults/${VAULT_B}/items/${ITEM_B}`);
    await readyWith(tenantA, 'own', 'Synced');
    await readyWith(tenantB, 'own', 'Synced');
    assert.equal(await secretText(tenantA, 'own', 'password'), 'a-secret');
    assert.equal(await secretText(tenantB, 'own', 'password'), 'b-secret');
    const byTitle = await readyWith(tenantA, 'steal-by-title', ['VaultNotFound', 'Forbidden']);
    const byId = await readyWith(tenantA, 'steal-by-id', ['Forbidden', 'VaultNotFound']);
    for (const name of ['steal-by-title', 'steal-by-id']) {
      assert.equal(await readSecret(tenantA, name), undefined, `${name}: no Secret`);
    }
    for (const condition of [byTitle, byId]) {
      assert.doesNotMatch(condition.message ?? '', /b-secret/);
      assert.doesNotMatch(condition.message ?? '', new RegExp(tokenB.slice(-20)));
    }
    console.log(`# A naming B's vault: by title ${byTitle.reason}, by id ${byId.reason}`);
    const logs = operator.logs();
    for (const secret of [tokenA, tokenB, 'a-secret', 'b-secret'])
      assert.ok(!logs.includes(secret), 'no token or value in the logs');
    // Their retries (with backoff) would add lookups to the idle count below.
    for (const name of ['steal-by-title', 'steal-by-id']) {
      await custom.deleteNamespacedCustomObject({
        group: 'onepassword.com',
        version: 'v1',
        namespace: tenantA,
        plural: 'onepassworditems',
        name,
      });
    }
  });

  it('says NoToken in a namespace without the Secret, then syncs once it is created', async () => {
    await item(late, 'own', 'vaults/TeamA/items/db');
    await apps.createNamespacedDeployment({
      namespace: late,
      body: annotatedDeployment('app', secretRequest('vaults/TeamA/items/db', 'from-deployment')),
    });
    const noToken = await readyWith(late, 'own', 'NoToken');
    assert.match(noToken.message ?? '', /Secret onepassword-token in namespace/);
    assert.ok(
      eventsAbout(late, 'OnePasswordItem', 'own', 'NoToken').some(
        (event) => event.type === 'Warning',
      ),
    );
    assert.equal(await readSecret(late, 'own'), undefined);
    await eventually('a NoToken Warning on the annotated Deployment', () =>
      eventsAbout(late, 'Deployment', 'app', 'NoToken').some((event) => event.type === 'Warning')
        ? true
        : undefined,
    );
    assert.equal(await readSecret(late, 'from-deployment'), undefined);
    const createdAt = Date.now();
    // The same token as tenant A: deduplicated onto A's source and poll.
    await tokenSecret(late, tokenA);
    await readyWith(late, 'own', 'Synced');
    console.log(`# NoToken -> Synced ${Date.now() - createdAt} ms after the Secret was created`);
    assert.equal(await secretText(late, 'own', 'password'), 'a-secret');
    await eventually("the annotated Deployment's Secret", async () =>
      (await secretText(late, 'from-deployment', 'password').catch(() => '')) === 'a-secret'
        ? true
        : undefined,
    );
  });

  it('makes one Connect request per idle poll per distinct token', async () => {
    await sleep(2_000); // settle
    const before = await operator.metrics();
    const seconds = 6;
    await sleep(seconds * 1000);
    const afterwards = await operator.metrics();
    const delta = (name: string, labels?: Record<string, string>) =>
      counter(afterwards, name, labels) - counter(before, name, labels);
    const polls = delta('op_kube_polls_total', { result: 'success' });
    const requests = delta('op_kube_connect_requests_total');
    const vaultLists = delta('op_kube_connect_requests_total', { endpoint: '/v1/vaults' });
    console.log(
      `# idle ${seconds} s, 2 distinct tokens (3 namespaces), 1 s interval: ${polls} polls, ${requests} Connect requests (${vaultLists} vault lists)`,
    );
    assert.equal(requests, polls, 'one request per poll');
    assert.equal(vaultLists, polls);
    // Two tokens polling once a second each.
    assert.ok(polls >= 2 * (seconds - 1) && polls <= 2 * (seconds + 1), `${polls} polls`);
  });

  it("revoking A's token stops A only: B keeps syncing and the operator stays ready", async () => {
    await connect.revoke(`tenant-a-${process.pid}`);
    const revokedAt = Date.now();
    await readyWith(tenantA, 'own', 'Unauthorized');
    await readyWith(late, 'own', 'Unauthorized');
    console.log(`# A's items Unauthorized ${Date.now() - revokedAt} ms after the revocation`);
    // The data stays (as with any Connect failure).
    assert.equal(await secretText(tenantA, 'own', 'password'), 'a-secret');
    const edit = await connect.admin('PUT', `/admin/vaults/${VAULT_B}/items/${ITEM_B}`, {
      title: 'db',
      fields: [{ label: 'password', value: 'b-secret-2' }],
    });
    assert.equal(edit.status, 200);
    await eventually("B's edit in B's Secret", async () =>
      (await secretText(tenantB, 'own', 'password')) === 'b-secret-2' ? true : undefined,
    );
    assert.equal((await readyCondition(tenantB, 'own')).reason, 'Synced');
    const ready = await fetch(`${operator.probeUrl}/readyz`);
    assert.equal(ready.status, 200, 'one revoked tenant does not make the operator unready');
  });

  it('follows a rotated token Secret and closes the clients of the token no namespace uses', async () => {
    const rotated = await connect.token({ vaults: ['TeamB,r'] });
    await core.replaceNamespacedSecret({
      namespace: tenantB,
      name: 'onepassword-token',
      body: { metadata: { name: 'onepassword-token' }, stringData: { token: rotated } },
    });
    await eventually('the old token of B closed', () =>
      operator.logs().includes('a Connect token is no longer used') ? true : undefined,
    );
    await connect.revoke(`tenant-b-${process.pid}`);
    const edit = await connect.admin('PUT', `/admin/vaults/${VAULT_B}/items/${ITEM_B}`, {
      title: 'db',
      fields: [{ label: 'password', value: 'b-secret-3' }],
    });
    assert.equal(edit.status, 200);
    // Read with the new token: the old one is revoked, yet B keeps syncing.
    await eventually("B's edit through the rotated token", async () =>
      (await secretText(tenantB, 'own', 'password')) === 'b-secret-3' ? true : undefined,
    );
    assert.equal((await readyCondition(tenantB, 'own')).reason, 'Synced');
    const logs = operator.logs();
    for (const secret of [tokenA, tokenB, rotated])
      assert.ok(!logs.includes(secret), 'no token in the logs');
  });
});
