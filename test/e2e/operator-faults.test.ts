// The operator when Connect fails: outage and revoked token keep the Secret's data, recovery follows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { eventually, kubeConfigFor, testNamespace } from '../support/cluster.ts';
import { startConnectLocal } from '../support/connect-local.ts';
import { startOperator } from '../support/operator.ts';

const DATA = `
vaults:
  - name: Production
    id: production0000000000000000
    items:
      - title: database
        id: database000000000000000000
        fields:
          - { label: password, value: s3cr3t }
`;

const config = kubeConfigFor();
const core = config.makeApiClient(CoreV1Api);
const custom = config.makeApiClient(CustomObjectsApi);

async function ready(
  namespace: string,
  name: string,
): Promise<{ reason?: string; status?: string; message?: string }> {
  const object = (await custom.getNamespacedCustomObject({
    group: 'onepassword.com',
    version: 'v1',
    namespace,
    plural: 'onepassworditems',
    name,
  })) as {
    status?: { conditions?: { type: string; reason: string; status: string; message: string }[] };
  };
  return object.status?.conditions?.find((condition) => condition.type === 'Ready') ?? {};
}

async function password(namespace: string, name: string): Promise<string | undefined> {
  const secret = await core.readNamespacedSecret({ namespace, name });
  const value = secret.data?.password;
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString();
}

async function setUp(t: { after(fn: () => Promise<void>): void }, prefix: string) {
  const namespace = await testNamespace(t, prefix);
  const connect = await startConnectLocal(t, { data: DATA });
  const token = await connect.token({ vaults: ['Production,r'], name: 'operator' });
  const operator = await startOperator(t, {
    connectUrl: connect.url,
    token,
    namespaces: [namespace],
  });
  await custom.createNamespacedCustomObject({
    group: 'onepassword.com',
    version: 'v1',
    namespace,
    plural: 'onepassworditems',
    body: {
      apiVersion: 'onepassword.com/v1',
      kind: 'OnePasswordItem',
      metadata: { name: 'db' },
      spec: { itemPath: 'vaults/Production/items/database' },
    },
  });
  await eventually('the first sync', async () =>
    (await ready(namespace, 'db')).reason === 'Synced' ? true : undefined,
  );
  return { namespace, connect, operator };
}

describe('operator under Connect failures', () => {
  it('keeps the data through an outage (ConnectUnavailable, not ready) and recovers after it', async (t) => {
    const { namespace, connect, operator } = await setUp(t, 'outage');
    assert.equal((await connect.admin('POST', '/admin/outage', { enabled: true })).status, 200);
    await eventually('readyz to report Connect unreachable', async () => {
      const answer = await fetch(`${operator.probeUrl}/readyz`);
      return answer.status === 503 && (await answer.text()).includes('Connect') ? true : undefined;
    });
    // A restored Secret needs no Connect call: the cached item is enough.
    await core.deleteNamespacedSecret({ namespace, name: 'db' });
    await eventually('the Secret to come back during the outage', async () =>
      (await password(namespace, 'db').catch(() => undefined)) === 's3cr3t' ? true : undefined,
    );
    assert.equal(await password(namespace, 'db'), 's3cr3t');

    assert.equal((await connect.admin('POST', '/admin/outage', { enabled: false })).status, 200);
    await eventually('readyz to recover', async () =>
      (await fetch(`${operator.probeUrl}/readyz`)).ok ? true : undefined,
    );
    await eventually('Ready=Synced again after the outage', async () =>
      (await ready(namespace, 'db')).reason === 'Synced' ? true : undefined,
    );
  });

  it('reports Unauthorized when its token is revoked, and keeps the Secret as it was', async (t) => {
    const { namespace, connect } = await setUp(t, 'revoked');
    await connect.revoke('operator');
    const edited = await connect.admin(
      'PUT',
      '/admin/vaults/production0000000000000000/items/database000000000000000000',
      {
        title: 'database',
        fields: [{ label: 'password', value: 'changed-after-revocation' }],
      },
    );
    assert.equal(edited.status, 200);
    // The poll fails with 401; the reconcile it triggers reports it on the item.
    const condition = await eventually('Ready=False Unauthorized', async () => {
      const current = await ready(namespace, 'db');
      return current.reason === 'Unauthorized' ? current : undefined;
    });
    assert.equal(condition.status, 'False');
    assert.doesNotMatch(condition.message ?? '', /eyJ/);
    assert.equal(await password(namespace, 'db'), 's3cr3t');
  });
});
