// The operator when Connect fails: outage and revoked token keep the Secret's data, recovery follows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { CertificateAuthority } from '../../tools/cluster/pki.ts';
import { httpsGet } from '../../tools/cluster/probe.ts';
import { eventually, kubeConfigFor, kubectl, testNamespace } from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { startConnectLocal, type ConnectLocalHandle } from '../support/connect-local.ts';
import { readyCondition, readyWith } from '../support/item-status.ts';
import { createOnePasswordItem, startOperator, type OperatorOptions } from '../support/operator.ts';
import { recordReliability } from '../support/reliability.ts';
import { readSecret, secretText } from '../support/secrets.ts';

const DATA = dataFile({
  name: 'Production',
  id: 'production0000000000000000',
  items: [passwordItem('database', 's3cr3t', { id: 'database000000000000000000' })],
});

const config = kubeConfigFor();
const core = config.makeApiClient(CoreV1Api);
const custom = config.makeApiClient(CustomObjectsApi);

/** Edits the database item in 1Password: its one password becomes `value`, with `tags` if given. */
async function editPassword(
  connect: ConnectLocalHandle,
  value: string,
  tags?: readonly string[],
): Promise<void> {
  const edited = await connect.admin(
    'PUT',
    '/admin/vaults/production0000000000000000/items/database000000000000000000',
    { title: 'database', tags, fields: [{ label: 'password', value }] },
  );
  assert.equal(edited.status, 200);
}

/** Waits (as `what`) until the `db` Secret's password in `namespace` is `value`. */
async function passwordBecomes(what: string, namespace: string, value: string): Promise<void> {
  await eventually(what, async () =>
    (await secretText(namespace, 'db', 'password')) === value ? true : undefined,
  );
}

type TestContext = { after(fn: () => Promise<void>): void };

/** A test namespace, connect-local serving DATA, and the operator watching the namespace. */
async function startOperatorOnData(
  t: TestContext,
  prefix: string,
  options: Pick<OperatorOptions, 'args' | 'env'> = {},
) {
  const namespace = await testNamespace(t, prefix);
  const connect = await startConnectLocal(t, { data: DATA });
  const token = await connect.token({ vaults: ['Production,r'], name: 'operator' });
  const operator = await startOperator(t, {
    connectUrl: connect.url,
    token,
    namespaces: [namespace],
    ...options,
  });
  return { namespace, connect, operator };
}

/** startOperatorOnData, and the item `db` Synced. */
async function setUp(t: TestContext, prefix: string) {
  const { namespace, connect, operator } = await startOperatorOnData(t, prefix);
  await createOnePasswordItem(custom, namespace, {
    metadata: { name: 'db' },
    spec: { itemPath: 'vaults/Production/items/database' },
  });
  await readyWith(namespace, 'db', 'Synced');
  return { namespace, connect, operator };
}

describe('operator under Connect failures', () => {
  it('keeps the data through an outage (ConnectUnavailable, not ready) and recovers after it', async (t) => {
    const { namespace, connect, operator } = await setUp(t, 'outage');
    assert.equal((await connect.admin('POST', '/admin/outage', { enabled: true })).status, 200);
    const outageAt = Date.now();
    await readyWith(namespace, 'db', 'ConnectUnavailable');
    const detectMs = Date.now() - outageAt;
    await eventually('readyz to report Connect unreachable', async () => {
      const answer = await fetch(`${operator.probeUrl}/readyz`);
      return answer.status === 503 && (await answer.text()).includes('Connect') ? true : undefined;
    });
    // A restored Secret needs no Connect call: the cached item is enough.
    await core.deleteNamespacedSecret({ namespace, name: 'db' });
    await passwordBecomes('the Secret to come back during the outage', namespace, 's3cr3t');
    assert.equal(await secretText(namespace, 'db', 'password'), 's3cr3t');

    assert.equal((await connect.admin('POST', '/admin/outage', { enabled: false })).status, 200);
    const healedAt = Date.now();
    await eventually('readyz to recover', async () =>
      (await fetch(`${operator.probeUrl}/readyz`)).ok ? true : undefined,
    );
    await readyWith(namespace, 'db', 'Synced');
    await recordReliability({
      suite: 'operator-faults',
      fault: 'Connect outage: every /v1 call answers 503; the Secret deleted by hand meanwhile',
      expected:
        'False/ConnectUnavailable; /readyz 503 after 3 failed polls; Secret restored from cache',
      observed: 'False/ConnectUnavailable; /readyz 503; Secret restored with its last data',
      detectMs,
      recoveryMs: Date.now() - healedAt,
    });
  });

  it('reports a hung Connect on the items within seconds, and readiness only when it lasts', async (t) => {
    const { namespace, connect, operator } = await setUp(t, 'hang');
    const started = Date.now();
    // Every /v1 answer now takes 30 s: a hang, not a refusal.
    assert.equal((await connect.admin('POST', '/admin/latency', { ms: 30_000 })).status, 200);
    const condition = await readyWith(namespace, 'db', 'ConnectUnavailable', { timeoutMs: 25_000 });
    const reportedAfterMs = Date.now() - started;
    console.log(`hung Connect reported on the item after ${reportedAfterMs} ms`);
    assert.ok(reportedAfterMs < 15_000, `reported after ${reportedAfterMs} ms`);
    assert.equal(condition.status, 'False');
    assert.match(condition.message ?? '', /no response within/);
    assert.match(await operator.metrics(), /^op_kube_connect_up 0$/m);
    assert.equal(await secretText(namespace, 'db', 'password'), 's3cr3t');

    assert.equal((await connect.admin('POST', '/admin/latency', { ms: 0 })).status, 200);
    const healed = Date.now();
    await readyWith(namespace, 'db', 'Synced');
    const recoveryMs = Date.now() - healed;
    console.log(`recovered ${recoveryMs} ms after Connect healed`);
    assert.match(await operator.metrics(), /^op_kube_connect_up 1$/m);
    await recordReliability({
      suite: 'operator-faults',
      fault: 'Connect hangs: every /v1 answer delayed 30 s',
      expected: 'False/ConnectUnavailable within seconds; Secret unchanged; op_kube_connect_up 0',
      observed: 'False/ConnectUnavailable; Secret unchanged; op_kube_connect_up 0, then 1',
      detectMs: reportedAfterMs,
      recoveryMs,
    });
  });

  it('reports Unauthorized when its token is revoked, and keeps the Secret as it was', async (t) => {
    const { namespace, connect } = await setUp(t, 'revoked');
    await connect.revoke('operator');
    await editPassword(connect, 'changed-after-revocation');
    // The poll fails with 401; the reconcile it triggers reports it on the item.
    const condition = await readyWith(namespace, 'db', 'Unauthorized');
    assert.equal(condition.status, 'False');
    assert.doesNotMatch(condition.message ?? '', /eyJ/);
    assert.equal(await secretText(namespace, 'db', 'password'), 's3cr3t');
  });

  it('reports RateLimited when Connect answers 429, keeps the data, and recovers', async (t) => {
    const { namespace, connect } = await setUp(t, 'limited');
    assert.equal(
      (await connect.admin('POST', '/admin/rate-limit', { count: 100_000 })).status,
      200,
    );
    const condition = await readyWith(namespace, 'db', 'RateLimited');
    assert.equal(condition.status, 'False');
    assert.equal(await secretText(namespace, 'db', 'password'), 's3cr3t');
    assert.equal((await connect.admin('POST', '/admin/rate-limit', { count: 0 })).status, 200);
    await readyWith(namespace, 'db', 'Synced');
  });
});

describe('operator options and item tags', () => {
  it('copies annotations with --enable-annotations and honours the ignore-secret tag', async (t) => {
    const { namespace, connect } = await startOperatorOnData(t, 'options', {
      args: ['--enable-annotations'],
    });
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'db', annotations: { 'example.com/owner': 'team-a' } },
      spec: { itemPath: 'vaults/Production/items/database' },
    });
    const secret = await eventually('the Secret', async () => {
      const value = await readSecret(namespace, 'db');
      return value?.data?.password ? value : undefined;
    });
    assert.equal(secret.metadata?.annotations?.['example.com/owner'], 'team-a');

    // Tagged ignore-secret in 1Password: the Secret's data is frozen.
    await editPassword(connect, 'frozen-change', ['operator.1password.io:ignore-secret']);
    await eventually('the frozen condition', async () =>
      /frozen/.test((await readyCondition(namespace, 'db')).message ?? '') ? true : undefined,
    );
    assert.equal(await secretText(namespace, 'db', 'password'), 's3cr3t');

    // Untagged again: the next change flows.
    await editPassword(connect, 'thawed');
    await passwordBecomes('the thawed value', namespace, 'thawed');
  });

  it('re-fetches an item at once when op-kube.io/resync changes, long before the next poll', async (t) => {
    const { namespace, connect } = await startOperatorOnData(t, 'resync', {
      env: { POLLING_INTERVAL: '3600' },
    });
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'db' },
      spec: { itemPath: 'vaults/Production/items/database' },
    });
    await passwordBecomes('the first sync', namespace, 's3cr3t');
    await editPassword(connect, 'resynced');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(
      await secretText(namespace, 'db', 'password'),
      's3cr3t',
      'nothing polls within the hour',
    );
    assert.equal(
      kubectl(['annotate', 'opi', 'db', '-n', namespace, 'op-kube.io/resync=1']).status,
      0,
    );
    await passwordBecomes('the re-synced value', namespace, 'resynced');
  });

  it('serves /metrics over HTTPS with --metrics-secure and a certificate directory, to reviewed callers only', async (t) => {
    const certDir = mkdtempSync(join(tmpdir(), 'op-kube-metrics-tls-'));
    t.after(() => rm(certDir, { recursive: true, force: true }));
    const ca = await CertificateAuthority.create('metrics test CA', 1);
    const serving = await ca.issue({
      subject: 'CN=op-kube-metrics',
      server: true,
      ipAddresses: ['127.0.0.1'],
    });
    writeFileSync(join(certDir, 'tls.crt'), serving.cert);
    writeFileSync(join(certDir, 'tls.key'), serving.key);
    const namespace = await testNamespace(t, 'metrics-tls');
    const connect = await startConnectLocal(t, { data: DATA });
    const operator = await startOperator(t, {
      connectUrl: connect.url,
      token: await connect.token({ vaults: ['Production,r'] }),
      namespaces: [namespace],
      args: ['--metrics-secure', `--metrics-cert-path=${certDir}`],
    });
    const url = `${operator.metricsUrl.replace('http:', 'https:')}/metrics`;
    // The directory's certificate verifies; without a token the caller is refused (the reviews
    // with tokens: operator-metrics-secure.test.ts).
    const answer = await httpsGet(url, { ca: (await ca.pem()).cert });
    assert.equal(answer.status, 401);
    assert.doesNotMatch(answer.body, /op_kube_/);
    await assert.rejects(fetch(`${operator.metricsUrl}/metrics`));
  });
});
