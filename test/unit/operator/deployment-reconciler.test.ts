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
  const { store, events, source, finalizers, ports } = reconcilerFakes();
  source.put(fullItem({ password: 'one' }, { id: ITEM, title: ITEM, type: 'CONCEALED' }));
  source.put(fullItem({ password: 'other' }, { id: OTHER, title: OTHER, type: 'CONCEALED' }));
  const reconciler = new DeploymentReconciler({ ...ports, deployments });
  const owners = (name = 'shared') =>
    store
      .get('apps', name)
      ?.metadata?.ownerReferences?.map((owner) => owner.name)
      .sort();
  return { deployments, store, events, finalizers, reconciler, owners };
}

/** As setUp, with the Secret changes that would restart workloads recorded. */
function setUpWithRestarts() {
  const deployments = new MemoryLister<V1Deployment>();
  const { store, source, ports } = reconcilerFakes();
  source.put(fullItem({ password: 'one' }, { id: ITEM, title: ITEM, type: 'CONCEALED' }));
  const restarts: string[] = [];
  const reconciler = new DeploymentReconciler({
    ...ports,
    deployments,
    onSecretChanged: (namespace, name) => {
      restarts.push(`${namespace}/${name}`);
      return Promise.resolve();
    },
  });
  return { deployments, store, source, reconciler, restarts };
}

describe('DeploymentReconciler', () => {
  it('moves item-version (not the data, no restart) of its Secret when the item carries ignore-secret, as 1Password does', async () => {
    const { deployments, store, source, reconciler, restarts } = setUpWithRestarts();
    deployments.put(deployment('web', ITEM));
    await reconciler.reconcile('apps/web');
    const before = store.get('apps', 'shared')?.data;
    source.put({
      ...fullItem(
        { password: 'changed' },
        { id: ITEM, title: ITEM, type: 'CONCEALED', version: 7 },
      ),
      tags: ['operator.1password.io:ignore-secret'],
    });
    await reconciler.reconcile('apps/web');
    const secret = store.get('apps', 'shared');
    assert.deepEqual(secret?.data, before);
    assert.equal(secret?.metadata?.annotations?.['operator.1password.io/item-version'], '7');
    assert.deepEqual(restarts, []);
  });

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

describe('DeploymentReconciler and 1Password migrations', () => {
  const FINALIZER = 'onepassword.com/finalizer.secret';
  const deleting = (object: V1Deployment, finalizers = [FINALIZER]): V1Deployment => ({
    ...object,
    metadata: {
      ...object.metadata,
      deletionTimestamp: new Date('2026-01-01T00:00:00Z'),
      finalizers,
    },
  });
  /** A Deployment that only reads Secret `secretName` (no 1Password annotation). */
  const reader = (name: string, how: 'env' | 'envFrom' | 'volume', secretName = 'shared') => {
    const base = deployment(name, undefined);
    const container = {
      name: 'app',
      ...(how === 'env' && {
        env: [{ name: 'P', valueFrom: { secretKeyRef: { name: secretName, key: 'password' } } }],
      }),
      ...(how === 'envFrom' && { envFrom: [{ secretRef: { name: secretName } }] }),
    };
    const volumes = how === 'volume' ? [{ name: 'v', secret: { secretName } }] : [];
    return {
      ...base,
      spec: { selector: {}, template: { spec: { containers: [container], volumes } } },
    };
  };

  it('ignores item-path without item-name, as 1Password does (no InvalidAnnotation)', async () => {
    const { deployments, events, reconciler, store } = setUp();
    const lone = deployment('web', ITEM);
    delete lone.metadata?.annotations?.['operator.1password.io/item-name'];
    deployments.put(lone);
    assert.deepEqual(await reconciler.reconcile('apps/web'), {});
    assert.deepEqual(events.recorded, []);
    assert.deepEqual(store.writes, []);
  });

  for (const how of ['env', 'envFrom', 'volume'] as const) {
    it(`makes a Deployment reading the Secret through ${how} one of its owners, so the garbage collector keeps it`, async () => {
      const { deployments, reconciler, owners } = setUp();
      deployments.put(deployment('web', ITEM));
      deployments.put(reader('reader', how));
      await reconciler.reconcile('apps/web');
      assert.deepEqual(owners(), ['reader', 'web']);
    });
  }

  it('adds a Deployment that starts reading an existing Secret as an owner', async () => {
    const { deployments, reconciler, owners } = setUp();
    deployments.put(deployment('web', ITEM));
    await reconciler.reconcile('apps/web');
    deployments.put(reader('reader', 'env'));
    await reconciler.reconcile('apps/reader');
    assert.deepEqual(owners(), ['reader', 'web']);
    // And drops it when it stops reading.
    deployments.put(deployment('reader', undefined));
    await reconciler.reconcile('apps/reader');
    assert.deepEqual(owners(), ['web']);
  });

  it('keeps the owners of a Deployment being deleted in the foreground (no stripped ownerReferences, no leak)', async () => {
    const { deployments, reconciler, owners, store } = setUp();
    deployments.put(deployment('web', ITEM));
    await reconciler.reconcile('apps/web');
    const web = deployments.get('apps', 'web');
    assert.ok(web);
    deployments.put(deleting(web, ['foregroundDeletion']));
    store.writes.length = 0;
    await reconciler.reconcile('apps/web');
    assert.deepEqual(owners(), ['web']);
    assert.deepEqual(store.writes, []);
  });

  it("runs 1Password's clean-up for a Deployment being deleted with its finalizer: the unread Secret goes", async () => {
    const { deployments, reconciler, store, finalizers } = setUp();
    deployments.put(deployment('web', ITEM));
    await reconciler.reconcile('apps/web');
    const web = deployments.get('apps', 'web');
    assert.ok(web);
    deployments.put(deleting(web));
    await reconciler.reconcile('apps/web');
    assert.equal(store.get('apps', 'shared'), undefined);
    assert.deepEqual(finalizers.removed, [`deployments apps/web ${FINALIZER}`]);
  });

  it("keeps the Secret another Deployment still reads when one with 1Password's finalizer is deleted", async () => {
    const { deployments, reconciler, store, finalizers, owners } = setUp();
    deployments.put(deployment('web', ITEM));
    await reconciler.reconcile('apps/web');
    // The reader appeared while op-kube was not looking: it is not an owner yet.
    deployments.put(reader('reader', 'volume'));
    const web = deployments.get('apps', 'web');
    assert.ok(web);
    deployments.put(deleting(web));
    await reconciler.reconcile('apps/web');
    assert.ok(store.get('apps', 'shared'));
    assert.deepEqual(owners(), ['reader']);
    assert.deepEqual(finalizers.removed, [`deployments apps/web ${FINALIZER}`]);
  });

  it("deletes a Secret 1Password's operator made for the Deployment being deleted, never one someone else owns", async () => {
    const { deployments, reconciler, store, finalizers } = setUp();
    const web = deleting(deployment('web', ITEM));
    deployments.put(web);
    const leftBy1Password = managedSecret(
      [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web' }],
      'one',
      { 'operator.1password.io/item-path': `vaults/${VAULT}/items/${ITEM}` },
    );
    store.put({
      ...leftBy1Password,
      metadata: { ...leftBy1Password.metadata, name: 'shared', labels: {}, managedFields: [] },
    });
    await reconciler.reconcile('apps/web');
    assert.equal(store.get('apps', 'shared'), undefined);

    const users = managedSecret([], 'mine');
    store.put({ ...users, metadata: { ...users.metadata, name: 'shared', managedFields: [] } });
    deployments.put(deleting(deployment('web', ITEM)));
    await reconciler.reconcile('apps/web');
    assert.ok(store.get('apps', 'shared'));
    assert.equal(finalizers.removed.length, 2);
  });

  it("removes 1Password's finalizer from a Deployment being deleted whose annotations are gone", async () => {
    const { deployments, reconciler, finalizers, store } = setUp();
    deployments.put(deleting(deployment('web', undefined)));
    await reconciler.reconcile('apps/web');
    assert.deepEqual(finalizers.removed, [`deployments apps/web ${FINALIZER}`]);
    assert.deepEqual(store.writes, []);
  });

  it("leaves 1Password's finalizer on a Deployment that is not being deleted", async () => {
    const { deployments, reconciler, finalizers } = setUp();
    const web = deployment('web', ITEM);
    deployments.put({ ...web, metadata: { ...web.metadata, finalizers: [FINALIZER] } });
    await reconciler.reconcile('apps/web');
    assert.deepEqual(finalizers.removed, []);
  });
});
