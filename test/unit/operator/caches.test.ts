import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Deployment, V1ManagedFieldsEntry, V1Secret } from '@kubernetes/client-node';
import { cachedObject } from '../../../src/operator/caches.ts';
import { claimSecret, deletableWhenReleased } from '../../../src/operator/secret-ownership.ts';
import { deploymentChanged } from '../../../src/operator/watches.ts';
import type { OnePasswordItem } from '../../../src/operator/api.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const fieldsV1 = { 'f:data': { 'f:password': {} }, 'f:metadata': { 'f:labels': {} } };

function managed(manager: string, subresource?: string): V1ManagedFieldsEntry {
  return {
    manager,
    operation: 'Apply',
    apiVersion: 'v1',
    time: new Date('2026-12-06T11:00:00Z'),
    fieldsType: 'FieldsV1',
    fieldsV1,
    ...(subresource ? { subresource } : {}),
  };
}

function opKubeSecret(): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'db',
      namespace: 'apps',
      uid: 's-1',
      resourceVersion: '42',
      labels: { 'app.kubernetes.io/managed-by': 'op-kube' },
      annotations: { 'operator.1password.io/item-path': 'vaults/v/items/i' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-1' }],
      managedFields: [managed('kubectl-client-side-apply'), managed('op-kube'), managed('op-kube')],
    },
    type: 'Opaque',
    data: { password: 'c2VjcmV0' },
  };
}

describe('cachedObject: a cached object keeps what reconciliation reads', () => {
  it('a Secret keeps its data, labels, annotations, owners and each writer once, by name only', () => {
    const raw = opKubeSecret();
    const cached = cachedObject(raw, { managers: true });
    assert.deepEqual(cached.metadata?.managedFields, [
      { manager: 'kubectl-client-side-apply' },
      { manager: 'op-kube' },
    ]);
    const { managedFields: _cachedFields, ...cachedMeta } = cached.metadata ?? {};
    const { managedFields: _rawFields, ...rawMeta } = raw.metadata ?? {};
    assert.deepEqual(cachedMeta, rawMeta);
    assert.deepEqual(cached.data, raw.data);
    assert.equal(cached.type, 'Opaque');
    // The ownership rule reads the same answer from the cached Secret as from the full one.
    assert.equal(deletableWhenReleased(cached), deletableWhenReleased(raw));
    assert.equal(deletableWhenReleased(cached), true);
    const claimant = {
      kind: 'OnePasswordItem',
      name: 'db',
      uid: 'opi-1',
      vaultId: 'v',
      itemId: 'i',
    } as const;
    assert.deepEqual(claimSecret(cached, claimant), claimSecret(raw, claimant));
  });

  it('a Secret another program wrote is still not op-kube’s', () => {
    const raw = opKubeSecret();
    raw.metadata!.managedFields = [managed('onepassword-operator')];
    const cached = cachedObject(raw, { managers: true });
    assert.equal(deletableWhenReleased(cached), false);
  });

  it('an item drops managedFields and last-applied-configuration, keeps spec, status and other annotations', () => {
    const raw: OnePasswordItem = {
      apiVersion: 'onepassword.com/v1',
      kind: 'OnePasswordItem',
      metadata: {
        name: 'db',
        namespace: 'apps',
        generation: 3,
        annotations: {
          [LAST_APPLIED]: '{"big":"copy"}',
          'operator.1password.io/auto-restart': 'true',
        },
        managedFields: [managed('kubectl'), managed('op-kube', 'status')],
      },
      spec: { itemPath: 'vaults/v/items/i' },
      status: { conditions: [] },
    };
    const cached = cachedObject(raw);
    assert.equal(cached.metadata?.managedFields, undefined);
    assert.deepEqual(cached.metadata?.annotations, {
      'operator.1password.io/auto-restart': 'true',
    });
    assert.deepEqual(cached.spec, raw.spec);
    assert.deepEqual(cached.status, raw.status);
    assert.equal(cached.metadata?.generation, 3);
    // The raw object is not modified.
    assert.equal(raw.metadata?.annotations?.[LAST_APPLIED], '{"big":"copy"}');
    assert.equal(raw.metadata?.managedFields?.length, 2);
  });

  it('a Deployment drops its status; a status write is still no change', () => {
    const deployment = (replicas: number): V1Deployment => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace: 'apps',
        generation: 1,
        annotations: { 'operator.1password.io/item-path': 'vaults/v/items/i' },
        managedFields: [managed('kube-controller-manager', 'status')],
      },
      spec: {
        selector: {},
        template: {
          spec: { containers: [{ name: 'web', envFrom: [{ secretRef: { name: 'db' } }] }] },
        },
      },
      status: { replicas, readyReplicas: replicas },
    });
    const before = cachedObject(deployment(1), { dropStatus: true });
    const after = cachedObject(deployment(2), { dropStatus: true });
    assert.equal('status' in before, false);
    assert.deepEqual(before.spec, deployment(1).spec);
    assert.equal(deploymentChanged(before, after), deploymentChanged(deployment(1), deployment(2)));
  });

  it('an object without metadata is kept as it is', () => {
    const raw = { apiVersion: 'v1', kind: 'Secret' };
    assert.equal(cachedObject(raw), raw);
  });
});
