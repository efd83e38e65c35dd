// After 1Password's operator: its finalizer on items and annotated Deployments, and Secrets other
// Deployments still read. Deletes complete (real apiserver and garbage collector), Secrets are kept
// or removed as 1Password documents, nothing leaks, and namespace deletion completes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Deployment,
  type V1OwnerReference,
} from '@kubernetes/client-node';
import { eventually, isStatus, kubeConfigFor, kubectl, testNamespace } from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { startConnectLocal } from '../support/connect-local.ts';
import { annotatedDeployment, secretRequest } from '../support/deployments.ts';
import { createOnePasswordItem, installCrd, startOperator } from '../support/operator.ts';
import { readSecret, secretValue } from '../support/secrets.ts';

const FINALIZER = 'onepassword.com/finalizer.secret';
const VAULT_ID = 'production0000000000000000';
const ITEM_ID = 'database000000000000000000';
const ITEM_PATH = `vaults/${VAULT_ID}/items/${ITEM_ID}`;
const DATA = dataFile({
  name: 'Production',
  id: VAULT_ID,
  items: [passwordItem('database', 'one', { id: ITEM_ID })],
});

const config = kubeConfigFor();
const apps = config.makeApiClient(AppsV1Api);
const core = config.makeApiClient(CoreV1Api);
const custom = config.makeApiClient(CustomObjectsApi);

/** A Deployment as 1Password's operator leaves it: annotated, with its finalizer. */
function withFinalizer(deployment: V1Deployment): V1Deployment {
  return { ...deployment, metadata: { ...deployment.metadata, finalizers: [FINALIZER] } };
}

/** A Deployment that reads Secret `secretName` through one env variable. */
function reader(name: string, secretName: string): V1Deployment {
  return {
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'registry.invalid/app:1',
              env: [
                { name: 'P', valueFrom: { secretKeyRef: { name: secretName, key: 'password' } } },
              ],
            },
          ],
        },
      },
    },
  };
}

/** A Secret as 1Password's operator writes it: its annotations, one non-controller owner. */
async function secretBy1Password(
  namespace: string,
  name: string,
  owner: V1OwnerReference,
): Promise<void> {
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: {
        name,
        annotations: {
          'operator.1password.io/item-path': ITEM_PATH,
          'operator.1password.io/item-version': '1',
        },
        ownerReferences: [owner],
      },
      type: 'Opaque',
      data: { password: Buffer.from('one').toString('base64') },
    },
  });
}

async function deploymentGone(namespace: string, name: string): Promise<true | undefined> {
  try {
    await apps.readNamespacedDeployment({ namespace, name });
    return undefined;
  } catch (error) {
    if (isStatus(error, 404)) return true;
    throw error;
  }
}

async function ownerNames(namespace: string, name: string): Promise<string | undefined> {
  const secret = await readSecret(namespace, name);
  return (
    secret &&
    (secret.metadata?.ownerReferences ?? [])
      .map((owner) => owner.name)
      .sort()
      .join(',')
  );
}

describe("operator and 1Password's finalizer", () => {
  it('completes deletes of items and annotated Deployments, keeps a Secret still read, leaks nothing', async (t) => {
    await installCrd();
    const namespace = await testNamespace(t, 'finalizers');
    const connect = await startConnectLocal(t, { data: DATA });

    // The state 1Password's operator leaves behind.
    const item = (await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'db', finalizers: [FINALIZER] },
      spec: { itemPath: ITEM_PATH },
    })) as { metadata: { uid: string } };
    await secretBy1Password(namespace, 'db', {
      apiVersion: 'onepassword.com/v1',
      kind: 'OnePasswordItem',
      name: 'db',
      uid: item.metadata.uid,
    });
    const deployments: Record<string, string> = {};
    for (const [name, secretName] of [
      ['web', 'shared-db'],
      ['solo', 'solo-db'],
    ] as const) {
      const created = await apps.createNamespacedDeployment({
        namespace,
        body: withFinalizer(annotatedDeployment(name, secretRequest(ITEM_PATH, secretName))),
      });
      deployments[name] = created.metadata?.uid ?? '';
      await secretBy1Password(namespace, secretName, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name,
        uid: created.metadata?.uid ?? '',
      });
    }
    await apps.createNamespacedDeployment({ namespace, body: reader('reader', 'shared-db') });

    await startOperator(t, {
      connectUrl: connect.url,
      token: await connect.token({ vaults: ['Production,r'] }),
      namespaces: [namespace],
    });

    // Taken over: the Deployment that reads shared-db holds it too, data unchanged.
    await eventually('reader and web to own shared-db', async () =>
      (await ownerNames(namespace, 'shared-db')) === 'reader,web' ? true : undefined,
    );
    assert.equal(secretValue(await readSecret(namespace, 'shared-db'), 'password'), 'one');

    // The item: deletion completes, its Secret goes (1Password deletes it too).
    await custom.deleteNamespacedCustomObject({
      group: 'onepassword.com',
      version: 'v1',
      namespace,
      plural: 'onepassworditems',
      name: 'db',
    });
    await eventually('the item and its Secret to be gone', async () => {
      const items = (await custom.listNamespacedCustomObject({
        group: 'onepassword.com',
        version: 'v1',
        namespace,
        plural: 'onepassworditems',
      })) as { items: unknown[] };
      return items.items.length === 0 && (await readSecret(namespace, 'db')) === undefined
        ? true
        : undefined;
    });

    // A Deployment nobody else reads after: deletion completes, its Secret goes.
    await apps.deleteNamespacedDeployment({ namespace, name: 'solo' });
    await eventually('solo and solo-db to be gone', async () =>
      (await deploymentGone(namespace, 'solo')) &&
      (await readSecret(namespace, 'solo-db')) === undefined
        ? true
        : undefined,
    );

    // web, deleted in the foreground while reader still reads shared-db: web goes, the Secret stays.
    assert.equal(
      kubectl([
        'delete',
        'deployment',
        'web',
        '-n',
        namespace,
        '--cascade=foreground',
        '--wait=false',
      ]).status,
      0,
    );
    await eventually('web to be gone', () => deploymentGone(namespace, 'web'), {
      timeoutMs: 60_000,
    });
    await eventually('reader alone to own shared-db', async () =>
      (await ownerNames(namespace, 'shared-db')) === 'reader' ? true : undefined,
    );
    assert.equal(secretValue(await readSecret(namespace, 'shared-db'), 'password'), 'one');

    // The last reader goes: so does the Secret (no leak).
    await apps.deleteNamespacedDeployment({ namespace, name: 'reader' });
    await eventually(
      'shared-db to be removed with its last reader',
      async () => ((await readSecret(namespace, 'shared-db')) === undefined ? true : undefined),
      { timeoutMs: 60_000 },
    );
  });

  it('removes a Secret with its only Deployment deleted in the foreground (no stripped ownerReferences)', async (t) => {
    const namespace = await testNamespace(t, 'foreground');
    const connect = await startConnectLocal(t, { data: DATA });
    await startOperator(t, {
      connectUrl: connect.url,
      token: await connect.token({ vaults: ['Production,r'] }),
      namespaces: [namespace],
    });
    await apps.createNamespacedDeployment({
      namespace,
      body: annotatedDeployment('only', secretRequest(ITEM_PATH, 'only-db')),
    });
    await eventually('only-db', async () =>
      (await ownerNames(namespace, 'only-db')) === 'only' ? true : undefined,
    );
    assert.equal(
      kubectl(['delete', 'deployment', 'only', '-n', namespace, '--cascade=foreground']).status,
      0,
    );
    await eventually(
      'only-db to be removed',
      async () => ((await readSecret(namespace, 'only-db')) === undefined ? true : undefined),
      { timeoutMs: 60_000 },
    );
  });

  it("completes a namespace's deletion whose items and Deployments carry 1Password's finalizer", async (t) => {
    const namespace = await testNamespace(t, 'ns-finalizers');
    const connect = await startConnectLocal(t, { data: DATA });
    await createOnePasswordItem(custom, namespace, {
      metadata: { name: 'db', finalizers: [FINALIZER] },
      spec: { itemPath: ITEM_PATH },
    });
    await apps.createNamespacedDeployment({
      namespace,
      body: withFinalizer(annotatedDeployment('web', secretRequest(ITEM_PATH, 'web-db'))),
    });
    await startOperator(t, {
      connectUrl: connect.url,
      token: await connect.token({ vaults: ['Production,r'] }),
      namespaces: [namespace],
    });
    await eventually('the Secrets', async () =>
      (await readSecret(namespace, 'db')) && (await readSecret(namespace, 'web-db'))
        ? true
        : undefined,
    );
    await core.deleteNamespace({ name: namespace });
    await eventually(
      'the namespace to be gone',
      async () => {
        try {
          await core.readNamespace({ name: namespace });
          return undefined;
        } catch (error) {
          if (isStatus(error, 404)) return true;
          throw error;
        }
      },
      { timeoutMs: 120_000 },
    );
  });
});
