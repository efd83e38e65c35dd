// The operator converges when the kube-apiserver restarts in the middle of a sync (private plane).
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { ControlPlane } from '../../tools/cluster/plane.ts';
import { eventually, kubeConfigFor } from '../support/cluster.ts';
import { startConnectLocal } from '../support/connect-local.ts';
import { createOnePasswordItem, installCrd, startOperator } from '../support/operator.ts';

const ITEMS = 30;
const DATA = `vaults:
  - name: Production
    id: production0000000000000000
    items:
${Array.from({ length: ITEMS }, (_, index) => `      - { title: item-${index}, id: item${String(index).padStart(22, '0')}, fields: [{ label: value, value: "v${index}" }] }`).join('\n')}
`;

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'op-kube-restart-plane-')));
const plane = new ControlPlane(dir);

describe('operator across a kube-apiserver restart', () => {
  before(async () => {
    await plane.up();
    await installCrd(plane);
  });
  after(async () => {
    await plane.down();
    await rm(dir, { recursive: true, force: true });
  });

  it('ends with every Secret current after the apiserver restarts mid-sync', async (t) => {
    const config = kubeConfigFor(plane);
    const core = config.makeApiClient(CoreV1Api);
    const custom = config.makeApiClient(CustomObjectsApi);
    const namespace = 'restart-test';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const connect = await startConnectLocal(t, { data: DATA });
    await startOperator(t, {
      connectUrl: connect.url,
      token: await connect.token({ vaults: ['Production,r'] }),
      namespaces: [namespace],
      plane,
    });
    for (let index = 0; index < ITEMS; index += 1) {
      await createOnePasswordItem(custom, namespace, {
        metadata: { name: `item-${index}` },
        spec: { itemPath: `vaults/Production/items/item-${index}` },
      });
    }
    await plane.restart('kube-apiserver');
    // While the operator reconnects, an item changes in Connect.
    const edited = await connect.admin(
      'PUT',
      `/admin/vaults/production0000000000000000/items/item${'0'.repeat(22)}`,
      {
        title: 'item-0',
        fields: [{ label: 'value', value: 'changed' }],
      },
    );
    assert.equal(edited.status, 200);

    const expected = (index: number): string => (index === 0 ? 'changed' : `v${index}`);
    await eventually(
      'every Secret to hold its current value',
      async () => {
        const secrets = await core.listNamespacedSecret({
          namespace,
          labelSelector: 'app.kubernetes.io/managed-by=op-kube',
        });
        const values = new Map(
          secrets.items.map((secret) => [
            secret.metadata?.name,
            Buffer.from(secret.data?.value ?? '', 'base64').toString(),
          ]),
        );
        const current = Array.from(
          { length: ITEMS },
          (_, index) => values.get(`item-${index}`) === expected(index),
        );
        return current.every(Boolean) ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
  });
});
