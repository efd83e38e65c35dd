// The annotated-Deployment reconciler on in-memory ports: shared Secrets, releases, and what it never touches.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Deployment } from '@kubernetes/client-node';
import { DeploymentReconciler } from '../../../src/operator/deployment-reconciler.ts';
import {
  ITEM,
  MemoryLister,
  VAULT,
  fullItem,
  managedSecret,
  reconcilerFakes,
} from '../../support/operator-fakes.ts';

const OTHER = 'o'.repeat(26);

function deployment(name: string, itemId: string | undefined, secretName = 'shared'): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      namespace: 'apps',
      name,
      uid: `uid-${name}`,
      annotations:
        itemId === undefined
          ? {}
          : {
              'operator.1password.io/item-path': `vaults/${VAULT}/items/${itemId}`,
              'operator.1password.io/item-name': secretName,
            },
    },
    spec: { selector: {}, template: {} },
  };
}

function setUp() {
  const deployments = new MemoryLister<V1Deployment>();
  const { store, events, source, ports } = reconcilerFakes();
  source.put(fullItem({ password: 'one' }, { id: ITEM, title: ITEM, type: 'CONCEALED' }));
  source.put(fullItem({ password: 'other' }, { id: OTHER, title: OTHER, type: 'CONCEALED' }));
  const reconciler = new DeploymentReconciler({ ...ports, deployments });
  const owners = (name = 'shared') =>
    store
      .get('apps', name)
      ?.metadata?.ownerReferences?.map((owner) => owner.name)
      .sort();
  return { deployments, store, events, reconciler, owners };
}

describe('DeploymentReconciler', () => {
  it('shares one Secret between Deployments asking for the same item', async () => {
    const { deployments, reconciler, owners } = setUp();
    deployments.put(deployment('web', ITEM));
    deployments.put(deployment('worker', ITEM));
    await reconciler.reconcile('apps/web');
    await reconciler.reconcile('apps/worker');
    assert.deepEqual(owners(), ['web', 'worker']);
  });

  it('deletes a released Secret only when no Deployment asks for it any more', async () => {
    const { deployments, store, reconciler, owners } = setUp();
    deployments.put(deployment('web', ITEM));
    deployments.put(deployment('worker', ITEM));
    await reconciler.reconcile('apps/web');
    await reconciler.reconcile('apps/worker');
    deployments.put(deployment('web', undefined));
    await reconciler.reconcile('apps/web');
    assert.deepEqual(owners(), ['worker']);
    deployments.put(deployment('worker', undefined));
    await reconciler.reconcile('apps/worker');
    assert.equal(store.get('apps', 'shared'), undefined);
    assert.equal(store.writes.at(-1), 'delete shared');
  });

  it('refuses another item under a name Deployments hold, and looks again later', async () => {
    const { deployments, store, events, reconciler, owners } = setUp();
    deployments.put(deployment('web', ITEM));
    await reconciler.reconcile('apps/web');
    deployments.put(deployment('intruder', OTHER));
    const writes = store.writes.length;
    assert.deepEqual(await reconciler.reconcile('apps/intruder'), {
      requeueAfterMs: 300_000,
    });
    assert.equal(store.writes.length, writes);
    assert.deepEqual(owners(), ['web']);
    assert.ok(
      events.recorded.some(
        (event) => event.name === 'intruder' && event.reason === 'SecretOwnedByOther',
      ),
    );
  });

  it('never writes or deletes a OnePasswordItem’s Secret; releasing drops only its own reference', async () => {
    const { deployments, store, events, reconciler } = setUp();
    const itemSecret = managedSecret(
      [
        {
          apiVersion: 'onepassword.com/v1',
          kind: 'OnePasswordItem',
          name: 'db',
          uid: 'opi',
          controller: true,
        },
        // Left by an older op-kube that let a Deployment in.
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web' },
      ],
      'the item’s',
    );
    store.put(structuredClone(itemSecret));
    deployments.put(deployment('web', OTHER, 'db'));
    assert.deepEqual(await reconciler.reconcile('apps/web'), { requeueAfterMs: 300_000 });
    assert.deepEqual(store.writes, []);
    assert.ok(
      events.recorded.some(
        (event) => event.kind === 'OnePasswordItem' && event.reason === 'SecretOwnedByOther',
      ),
    );

    deployments.put(deployment('web', undefined));
    await reconciler.reconcile('apps/web');
    assert.deepEqual(store.writes, ['drop owner uid-web from db']);
    assert.equal(store.get('apps', 'db')?.data?.password, itemSecret.data?.password);
  });
});
