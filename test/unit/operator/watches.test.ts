// The operator's watch predicates: which Deployment and OnePasswordItem changes reach the reconcilers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Deployment } from '@kubernetes/client-node';
import type { OnePasswordItem } from '../../../src/operator/api.ts';
import {
  deploymentChanged,
  deploymentMatters,
  itemChanged,
} from '../../../src/operator/watches.ts';

const FINALIZER = 'onepassword.com/finalizer.secret';

function deployment(patch: Partial<V1Deployment['metadata']> = {}, reads = false): V1Deployment {
  return {
    metadata: { namespace: 'apps', name: 'web', generation: 1, ...patch },
    spec: {
      selector: {},
      template: {
        spec: {
          containers: [
            {
              name: 'app',
              ...(reads && { envFrom: [{ secretRef: { name: 'shared' } }] }),
            },
          ],
        },
      },
    },
  };
}

describe('deployment watches', () => {
  it("enqueue a Deployment being deleted with 1Password's finalizer, even without annotations", () => {
    const before = deployment({ finalizers: [FINALIZER] });
    const after = deployment({ finalizers: [FINALIZER], deletionTimestamp: new Date() });
    assert.equal(deploymentMatters(after), true);
    assert.equal(deploymentChanged(before, after), true);
  });

  it('enqueue a Deployment that reads a Secret when its pod template changes, not on status writes', () => {
    const before = deployment({}, true);
    assert.equal(deploymentMatters(before), true);
    assert.equal(deploymentChanged(before, { ...before, status: { replicas: 2 } }), false);
    assert.equal(deploymentChanged(before, deployment({ generation: 2 }, false)), true);
  });

  it('leave a Deployment that neither asks for nor reads a Secret alone', () => {
    const plain = deployment();
    assert.equal(deploymentMatters(plain), false);
    assert.equal(deploymentChanged(plain, deployment({ generation: 2 })), false);
  });
});

describe('item watches', () => {
  it('enqueue an item whose deletion started', () => {
    const item: OnePasswordItem = {
      metadata: { namespace: 'apps', name: 'db', generation: 1, finalizers: [FINALIZER] },
      spec: { itemPath: 'vaults/v/items/i' },
    };
    const deleting = { ...item, metadata: { ...item.metadata, deletionTimestamp: new Date() } };
    assert.equal(itemChanged(item, deleting), true);
  });
});
