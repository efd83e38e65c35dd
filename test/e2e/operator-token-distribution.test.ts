// --token-distribution-selector with the real operator (and --token-source=namespace, so the copies
// are what the items read): labelling a namespace brings the token Secret, its items then sync;
// unlabelling removes it; a rotated source reaches the copies; a copy deleted by hand comes back;
// a user's own Secret of that name is never written or deleted.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import {
  eventually,
  kubeConfigFor,
  kubectl,
  testNamespace,
  suiteCleanups,
} from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { startConnectLocal, type ConnectLocalHandle } from '../support/connect-local.ts';
import { readyWith } from '../support/item-status.ts';
import { createOnePasswordItem, startOperator } from '../support/operator.ts';
import { readSecret, secretData, secretText } from '../support/secrets.ts';

const DATA = dataFile({ name: 'TeamA', items: [passwordItem('db', 'a-secret')] });
const NAME = 'onepassword-token';

const admin = kubeConfigFor();
const core = admin.makeApiClient(CoreV1Api);
const custom = admin.makeApiClient(CustomObjectsApi);

const suite = suiteCleanups();

/** A label unique to this run, so namespaces of other test files never match. */
const LABEL = `op-kube-e2e/token-copy-${randomBytes(3).toString('hex')}`;

function label(namespace: string, on: boolean): void {
  const result = kubectl([
    'label',
    'namespace',
    namespace,
    '--overwrite',
    on ? `${LABEL}=yes` : `${LABEL}-`,
  ]);
  assert.equal(result.status, 0, result.stderr);
}

function secretWith(namespace: string, token: string): Promise<unknown> {
  return core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: NAME }, stringData: { token } },
  });
}

describe('operator --token-distribution-selector', () => {
  let connect: ConnectLocalHandle;
  let token: string;
  let source: string;
  let tenant: string;
  let owner: string;

  before(async () => {
    connect = await startConnectLocal(suite, { data: DATA });
    token = await connect.token({ vaults: ['TeamA,r'] });
    source = await testNamespace(suite, 'token-src');
    tenant = await testNamespace(suite, 'token-tenant');
    owner = await testNamespace(suite, 'token-own');
    await secretWith(source, token);
    await secretWith(owner, 'the-owners-own-token');
    await startOperator(suite, {
      connectUrl: connect.url,
      token: '',
      namespaces: [source, tenant, owner],
      args: [
        '--token-source=namespace',
        `--token-distribution-selector=${LABEL}=yes`,
        `--token-distribution-source=${source}/${NAME}`,
      ],
    });
  });
  after(async () => {
    await suite.run();
  });

  it('copies the token into a namespace when it is labelled and removes it when unlabelled', async () => {
    await createOnePasswordItem(custom, tenant, {
      metadata: { name: 'db' },
      spec: { itemPath: 'vaults/TeamA/items/db' },
    });
    await readyWith(tenant, 'db', 'NoToken');
    const labelledAt = Date.now();
    label(tenant, true);
    const copy = await eventually('the token copy', () => readSecret(tenant, NAME));
    const copiedMs = Date.now() - labelledAt;
    assert.equal(copy.metadata?.labels?.['op-kube.io/token-copy'], 'true');
    assert.equal(copy.metadata?.annotations?.['op-kube.io/token-copy-of'], `${source}/${NAME}`);
    // Compared, never printed: a failure message must not carry a token.
    assert.ok(secretData(copy).token === token, 'the copy holds the source token');
    await readyWith(tenant, 'db', 'Synced');
    assert.equal(await secretText(tenant, 'db', 'password'), 'a-secret');

    // Deleted by hand while the namespace matches: made again.
    await core.deleteNamespacedSecret({ namespace: tenant, name: NAME });
    await eventually('the copy made again', async () =>
      (await readSecret(tenant, NAME))?.metadata?.labels?.['op-kube.io/token-copy'] === 'true'
        ? true
        : undefined,
    );

    // The source rotated: the copy follows.
    const rotated = await connect.token({ vaults: ['TeamA,r'] });
    token = rotated;
    await core.patchNamespacedSecret({
      namespace: source,
      name: NAME,
      body: [
        { op: 'replace', path: '/data/token', value: Buffer.from(rotated).toString('base64') },
      ],
    });
    await eventually('the rotated token in the copy', async () =>
      secretData(await readSecret(tenant, NAME)).token === rotated ? true : undefined,
    );

    const unlabelledAt = Date.now();
    label(tenant, false);
    await eventually('the copy removed', async () =>
      (await readSecret(tenant, NAME)) === undefined ? true : undefined,
    );
    console.log(
      `# copy made ${copiedMs} ms after labelling, removed ${Date.now() - unlabelledAt} ms after unlabelling`,
    );
    await readyWith(tenant, 'db', 'NoToken');
    // The item's own Secret keeps its last data.
    assert.equal(await secretText(tenant, 'db', 'password'), 'a-secret');
  });

  it("never writes or deletes a user's own Secret of that name", async () => {
    const before = await readSecret(owner, NAME);
    label(owner, true);
    await sleep(3_000);
    label(owner, false);
    await sleep(2_000);
    const afterwards = await readSecret(owner, NAME);
    assert.equal(afterwards?.metadata?.resourceVersion, before?.metadata?.resourceVersion);
    assert.deepEqual(secretData(afterwards), { token: 'the-owners-own-token' });
    // Nor the source in its own namespace, whatever its labels.
    label(source, true);
    await sleep(1_000);
    const sourceSecret = await readSecret(source, NAME);
    assert.ok(secretData(sourceSecret).token === token, 'the source is unchanged');
    assert.equal(sourceSecret?.metadata?.labels?.['op-kube.io/token-copy'], undefined);
  });
});
