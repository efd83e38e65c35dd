// A tenant who may only create OnePasswordItems and Deployments in its namespace cannot read a vault
// that namespace's `op-kube.io/allowed-vaults` annotation leaves out, nor edit that annotation; the
// operator checks before any item read (connect-local's activity log shows none in the vault).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  eventually,
  isStatus,
  kubeConfigFor,
  kubectl,
  serviceAccountCan,
  serviceAccountKubeconfig,
  testNamespace,
  suiteCleanups,
} from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import {
  activityOf,
  startConnectLocal,
  type ConnectLocalHandle,
} from '../support/connect-local.ts';
import { annotatedDeployment, secretRequest } from '../support/deployments.ts';
import { eventsAbout } from '../support/events.ts';
import { readyCondition, readyWith } from '../support/item-status.ts';
import { createOnePasswordItem, startOperator } from '../support/operator.ts';
import { recordReliability } from '../support/reliability.ts';
import { readSecret, secretText } from '../support/secrets.ts';

const PRODUCTION = 'production0000000000000000';
const PAYROLL = 'payroll0000000000000000000';
const DATABASE = 'database000000000000000000';
const BANK = 'bank0000000000000000000000';
const ANNOTATION = 'op-kube.io/allowed-vaults';

const DATA = dataFile(
  {
    name: 'Production',
    id: PRODUCTION,
    items: [passwordItem('database', 'db-one', { id: DATABASE })],
  },
  {
    name: 'Payroll',
    id: PAYROLL,
    items: [{ title: 'bank', id: BANK, fields: [{ label: 'iban', value: 'bank-one' }] }],
  },
);

const admin = kubeConfigFor();
const core = admin.makeApiClient(CoreV1Api);
const custom = admin.makeApiClient(CustomObjectsApi);

const suite = suiteCleanups();

function annotate(namespace: string, allowed: string | undefined): void {
  const result = kubectl([
    'annotate',
    'namespace',
    namespace,
    '--overwrite',
    allowed === undefined ? `${ANNOTATION}-` : `${ANNOTATION}=${allowed}`,
  ]);
  assert.equal(result.status, 0, result.stderr);
}

/** Whether a Warning Event with `reason` about `kind`/`name` was recorded. */
function warned(namespace: string, kind: string, name: string, reason: string): boolean {
  return eventsAbout(namespace, kind, name, reason).some((event) => event.type === 'Warning');
}

/** ServiceAccount `name` of `namespace`, bound by a RoleBinding to `role` (`--role=…` or `--clusterrole=…`). */
function boundServiceAccount(namespace: string, name: string, role: string): void {
  for (const args of [
    ['create', 'serviceaccount', name, '-n', namespace],
    ['create', 'rolebinding', name, '-n', namespace, role, `--serviceaccount=${namespace}:${name}`],
  ]) {
    const result = kubectl(args);
    assert.equal(result.status, 0, result.stderr);
  }
}

/** A ServiceAccount of `namespace` that may only create and read OnePasswordItems and Deployments. */
async function tenant(namespace: string): Promise<KubeConfig> {
  const role = kubectl([
    'create',
    'role',
    'tenant',
    '-n',
    namespace,
    '--verb=create,get,list,watch',
    '--resource=onepassworditems.onepassword.com,deployments.apps',
  ]);
  assert.equal(role.status, 0, role.stderr);
  boundServiceAccount(namespace, 'tenant', '--role=tenant');
  const config = new KubeConfig();
  config.loadFromFile(await serviceAccountKubeconfig(suite, namespace, 'tenant'));
  return config;
}

/** Item paths a curious tenant would try for the Payroll vault's `bank` item. */
const PAYROLL_PATHS: Record<string, string> = {
  'by-title': 'vaults/Payroll/items/bank',
  'by-id': `vaults/${PAYROLL}/items/${BANK}`,
  'other-case': 'vaults/pAYROLL/items/bank',
  'percent-encoded': 'vaults/Pay%72oll/items/bank',
  'comma-injection': 'vaults/Production%2C%20Payroll/items/bank',
  wildcard: 'vaults/*/items/bank',
};

describe('operator vault access policy', () => {
  let connect: ConnectLocalHandle;
  let token: string;
  let namespace: string;
  let tenantConfig: KubeConfig;

  before(async () => {
    connect = await startConnectLocal(suite, { data: DATA });
    // One token reaching both vaults, as one shared operator token does.
    token = await connect.token({ vaults: ['Production,r', 'Payroll,r'] });
    namespace = await testNamespace(suite, 'vault-policy');
    annotate(namespace, 'Production');
    tenantConfig = await tenant(namespace);
    await startOperator(suite, { connectUrl: connect.url, token, namespaces: [namespace] });
  });
  after(async () => {
    await suite.run();
  });

  it('denies a vault outside the allow-list, by any spelling, before reading anything in it', async () => {
    const tenantItems = tenantConfig.makeApiClient(CustomObjectsApi);
    const tenantApps = tenantConfig.makeApiClient(AppsV1Api);
    for (const [name, itemPath] of Object.entries(PAYROLL_PATHS)) {
      await createOnePasswordItem(tenantItems, namespace, {
        metadata: { name },
        spec: { itemPath },
      });
    }
    await tenantApps.createNamespacedDeployment({
      namespace,
      body: annotatedDeployment(
        'payroll-app',
        secretRequest('vaults/Payroll/items/bank', 'payroll-from-deployment'),
      ),
    });
    // Allowed: by the listed title, and by the id of the listed vault (matched through the vault list).
    await createOnePasswordItem(tenantItems, namespace, {
      metadata: { name: 'database' },
      spec: { itemPath: 'vaults/Production/items/database' },
    });
    await createOnePasswordItem(tenantItems, namespace, {
      metadata: { name: 'database-by-id' },
      spec: { itemPath: `vaults/${PRODUCTION}/items/${DATABASE}` },
    });

    for (const name of Object.keys(PAYROLL_PATHS)) {
      const condition = await readyWith(namespace, name);
      assert.deepEqual(
        [name, condition.status, condition.reason],
        [name, 'False', 'VaultNotAllowed'],
        `${name}: ${condition.message}`,
      );
      // The message names what the tenant wrote and the namespace's list, never the vault found.
      assert.match(condition.message ?? '', /allowed-vaults annotation allows Production$/);
      assert.doesNotMatch(
        condition.message ?? '',
        name === 'by-id' ? /Payroll/ : new RegExp(PAYROLL),
      );
      assert.doesNotMatch(condition.message ?? '', /bank-one/);
      assert.equal(await readSecret(namespace, name), undefined, `${name} has a Secret`);
      assert.ok(warned(namespace, 'OnePasswordItem', name, 'VaultNotAllowed'));
    }
    for (const name of ['database', 'database-by-id']) {
      assert.equal((await readyWith(namespace, name)).reason, 'Synced', name);
      assert.equal(await secretText(namespace, name, 'password'), 'db-one');
    }
    await eventually('a VaultNotAllowed Event on the Deployment', () =>
      Promise.resolve(
        warned(namespace, 'Deployment', 'payroll-app', 'VaultNotAllowed') ? true : undefined,
      ),
    );
    assert.equal(await readSecret(namespace, 'payroll-from-deployment'), undefined);

    // Not one request about the Payroll vault reached Connect: no item read, not even its item list.
    const payroll = (await activityOf(connect, token)).filter(
      (entry) => entry.resource.vault.id === PAYROLL,
    );
    assert.deepEqual(payroll, []);
    await recordReliability({
      suite: 'operator-vault-policy',
      fault: `A tenant (may only create OnePasswordItems and Deployments) asks for a vault outside the namespace's allow-list, ${Object.keys(PAYROLL_PATHS).length} spellings and an annotated Deployment`,
      expected: 'False/VaultNotAllowed, a Warning Event, no Secret, nothing of the vault read',
      observed: `False/VaultNotAllowed on all ${Object.keys(PAYROLL_PATHS).length}; Events; no Secret; 0 activity entries for the vault`,
    });
  });

  it('keeps the annotation out of the tenant’s reach, even with the built-in admin role', async () => {
    const tenantCore = tenantConfig.makeApiClient(CoreV1Api);
    const patch = (client: CoreV1Api): Promise<unknown> =>
      client.patchNamespace({
        name: namespace,
        body: [{ op: 'add', path: `/metadata/annotations/op-kube.io~1allowed-vaults`, value: '*' }],
      });
    await assert.rejects(patch(tenantCore), (error: unknown) => isStatus(error, 403));

    // A namespace admin (RoleBinding to the built-in `admin` ClusterRole) may read its Namespace
    // and edit RBAC inside it, but not update the Namespace object.
    boundServiceAccount(namespace, 'ns-admin', '--clusterrole=admin');
    const can = (...check: string[]): string =>
      serviceAccountCan(namespace, 'ns-admin', ...check, '-n', namespace);
    assert.equal(can('get', `namespace/${namespace}`), 'yes');
    assert.equal(can('create', 'rolebindings'), 'yes');
    assert.equal(can('patch', `namespace/${namespace}`), 'no');
    assert.equal(can('update', `namespace/${namespace}`), 'no');
    const nsAdmin = new KubeConfig();
    nsAdmin.loadFromFile(await serviceAccountKubeconfig(suite, namespace, 'ns-admin'));
    await assert.rejects(patch(nsAdmin.makeApiClient(CoreV1Api)), (error: unknown) =>
      isStatus(error, 403),
    );
    const annotations = (await core.readNamespace({ name: namespace })).metadata?.annotations;
    assert.equal(annotations?.[ANNOTATION], 'Production');
  });

  it('follows an annotation change within seconds; a newly denied item keeps its Secret', async () => {
    // Allowed by the admin: the denied item syncs without waiting for its 5-minute recheck.
    const allowedAt = Date.now();
    annotate(namespace, 'Production, payroll');
    const synced = await eventually(
      'by-title to sync',
      async () =>
        (await secretText(namespace, 'by-title', 'iban')) === 'bank-one' ? true : undefined,
      { timeoutMs: 15_000 },
    );
    const allowMs = Date.now() - allowedAt;
    assert.ok(synced);
    await eventually('the Deployment’s Secret', async () =>
      (await secretText(namespace, 'payroll-from-deployment', 'iban')) === 'bank-one'
        ? true
        : undefined,
    );

    // Denied again: reported at once, the Secret stays, and later item changes are not fetched.
    const deniedAt = Date.now();
    annotate(namespace, 'Production');
    await readyWith(namespace, 'by-title', 'VaultNotAllowed');
    const denyMs = Date.now() - deniedAt;
    const readsBefore = (await activityOf(connect, token)).length;
    const edit = await connect.admin('PUT', `/admin/vaults/${PAYROLL}/items/${BANK}`, {
      title: 'bank',
      fields: [{ label: 'iban', value: 'bank-two' }],
    });
    assert.equal(edit.status, 200);
    await sleep(4_000); // four polls
    assert.equal(await secretText(namespace, 'by-title', 'iban'), 'bank-one');
    assert.equal(await secretText(namespace, 'payroll-from-deployment', 'iban'), 'bank-one');
    assert.equal((await readyCondition(namespace, 'by-title')).reason, 'VaultNotAllowed');
    const itemReads = (await activityOf(connect, token))
      .slice(readsBefore)
      .filter((entry) => entry.resource.vault.id === PAYROLL && entry.resource.type === 'ITEM');
    assert.deepEqual(itemReads, []);
    console.log(`# allow took effect in ${allowMs} ms, deny in ${denyMs} ms`);
  });
});

describe('operator vault access policy, --vault-policy=deny-unlisted', () => {
  it('denies every vault to a namespace without the annotation; ids and titles match both ways', async (t) => {
    const connect = await startConnectLocal(t, { data: DATA });
    const token = await connect.token({ vaults: ['Production,r', 'Payroll,r'] });
    const namespace = await testNamespace(t, 'vault-deny');
    await startOperator(t, {
      connectUrl: connect.url,
      token,
      namespaces: [namespace],
      args: ['--vault-policy=deny-unlisted'],
    });
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'database' },
      spec: { itemPath: 'vaults/production/items/database' },
    });
    const denied = await readyWith(namespace, 'database');
    assert.equal(denied.reason, 'VaultNotAllowed', denied.message);
    assert.match(denied.message ?? '', /deny-unlisted/);
    assert.equal(await readSecret(namespace, 'database'), undefined);

    // Listed by id, asked for by title (lower case): matched through the vault list.
    annotate(namespace, PRODUCTION);
    await readyWith(namespace, 'database', 'Synced');
    assert.equal(await secretText(namespace, 'database', 'password'), 'db-one');

    // An empty list allows nothing; `*` allows everything.
    annotate(namespace, ' , ');
    await readyWith(namespace, 'database', 'VaultNotAllowed');
    annotate(namespace, '*');
    await readyWith(namespace, 'database', 'Synced');
    assert.deepEqual(
      (await activityOf(connect, token)).filter((entry) => entry.resource.vault.id === PAYROLL),
      [],
    );
  });
});
