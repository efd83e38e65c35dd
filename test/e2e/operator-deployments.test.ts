// Deployments annotated with item-path and item-name get a Secret, shared and released as 1Password does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppsV1Api } from '@kubernetes/client-node';
import { eventually, kubeConfigFor, kubectl, testNamespace } from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { startConnectLocal } from '../support/connect-local.ts';
import { annotatedDeployment, secretRequest } from '../support/deployments.ts';
import { startOperator } from '../support/operator.ts';
import { readSecret, secretText, secretValue } from '../support/secrets.ts';

const DATA = dataFile({
  name: 'Production',
  id: 'production0000000000000000',
  items: [passwordItem('database', 'one', { id: 'database000000000000000000' })],
});

const apps = kubeConfigFor().makeApiClient(AppsV1Api);

const request = secretRequest('vaults/Production/items/database', 'shared-db');

async function ownerNames(namespace: string): Promise<string[] | undefined> {
  const secret = await readSecret(namespace, 'shared-db');
  return secret && (secret.metadata?.ownerReferences ?? []).map((owner) => owner.name).sort();
}

describe('operator and annotated Deployments', () => {
  it('creates, shares, updates and releases the Secret a Deployment asks for', async (t) => {
    const namespace = await testNamespace(t, 'deploy');
    const connect = await startConnectLocal(t, { data: DATA });
    await startOperator(t, {
      connectUrl: connect.url,
      token: await connect.token({ vaults: ['Production,r'] }),
      namespaces: [namespace],
    });

    await apps.createNamespacedDeployment({
      namespace,
      body: annotatedDeployment('first', request),
    });
    const created = await eventually('the Secret', async () => {
      const secret = await readSecret(namespace, 'shared-db');
      return secret?.data?.password ? secret : undefined;
    });
    assert.equal(secretValue(created, 'password'), 'one');
    assert.equal(created.metadata?.labels?.['app.kubernetes.io/managed-by'], 'op-kube');

    // A second Deployment (annotated on its pod template) shares it.
    await apps.createNamespacedDeployment({
      namespace,
      body: annotatedDeployment('second', request, { onPodTemplate: true }),
    });
    await eventually('two owners', async () => {
      const owners = await ownerNames(namespace);
      return owners?.join(',') === 'first,second' ? true : undefined;
    });

    // The item changes: the shared Secret follows.
    const edit = await connect.admin(
      'PUT',
      '/admin/vaults/production0000000000000000/items/database000000000000000000',
      {
        title: 'database',
        fields: [{ label: 'password', value: 'two' }],
      },
    );
    assert.equal(edit.status, 200);
    await eventually('the new value', async () =>
      (await secretText(namespace, 'shared-db', 'password')) === 'two' ? true : undefined,
    );

    // The first drops its annotations: the Secret stays for the second.
    assert.equal(
      kubectl([
        'annotate',
        'deployment',
        'first',
        '-n',
        namespace,
        'operator.1password.io/item-path-',
        'operator.1password.io/item-name-',
      ]).status,
      0,
    );
    await eventually('one owner left', async () =>
      (await ownerNames(namespace))?.join(',') === 'second' ? true : undefined,
    );

    // The last one goes: so does the Secret, and nothing blocks the deletion.
    await apps.deleteNamespacedDeployment({ namespace, name: 'second' });
    await eventually(
      'the Secret to be removed',
      async () => ((await ownerNames(namespace)) === undefined ? true : undefined),
      {
        timeoutMs: 60_000,
      },
    );
    await eventually('the Deployment to be gone', async () =>
      (await apps
        .readNamespacedDeployment({ namespace, name: 'second' })
        .catch(() => undefined)) === undefined
        ? true
        : undefined,
    );
  });
});
