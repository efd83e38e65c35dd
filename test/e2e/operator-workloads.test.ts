// Auto-restart of workloads and migration from 1Password's operator, on the real control plane.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import { eventually, kubeConfigFor, kubectl, testNamespace } from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { startConnectLocal, type ConnectLocalHandle } from '../support/connect-local.ts';
import { createOnePasswordItem, installCrd, startOperator } from '../support/operator.ts';
import { secretText } from '../support/secrets.ts';

const DATA = dataFile({
  name: 'Production',
  id: 'production0000000000000000',
  items: [passwordItem('database', 'one', { id: 'database000000000000000000' })],
});
const ITEM_URL = '/admin/vaults/production0000000000000000/items/database000000000000000000';
const ITEM_PATH = 'vaults/production0000000000000000/items/database000000000000000000';
const RESTARTED = 'operator.1password.io/last-restarted';

const config = kubeConfigFor();
const core = config.makeApiClient(CoreV1Api);
const apps = config.makeApiClient(AppsV1Api);
const custom = config.makeApiClient(CustomObjectsApi);

function template(secretName: string, how: 'envFrom' | 'volume' | 'init'): V1PodTemplateSpec {
  const container = { name: 'app', image: 'registry.invalid/app:1' };
  return {
    metadata: { labels: { app: 'x' } },
    spec: {
      containers: [
        how === 'envFrom'
          ? { ...container, envFrom: [{ secretRef: { name: secretName } }] }
          : container,
      ],
      ...(how === 'init'
        ? {
            initContainers: [
              {
                ...container,
                name: 'init',
                env: [
                  { name: 'P', valueFrom: { secretKeyRef: { name: secretName, key: 'password' } } },
                ],
              },
            ],
          }
        : {}),
      ...(how === 'volume'
        ? { volumes: [{ name: 's', projected: { sources: [{ secret: { name: secretName } }] } }] }
        : {}),
    },
  };
}

async function rotate(connect: ConnectLocalHandle, value: string): Promise<void> {
  const edit = await connect.admin('PUT', ITEM_URL, {
    title: 'database',
    fields: [{ label: 'password', value }],
  });
  assert.equal(edit.status, 200);
}

async function passwordIs(namespace: string, name: string, value: string): Promise<void> {
  await eventually(`${namespace}/${name} password=${value}`, async () =>
    (await secretText(namespace, name, 'password')) === value ? true : undefined,
  );
}

async function createItem(
  namespace: string,
  name: string,
  annotations: Record<string, string> = {},
): Promise<void> {
  await createOnePasswordItem(custom, namespace, {
    metadata: { name, annotations },
    spec: { itemPath: 'vaults/Production/items/database' },
  });
}

describe('operator and workloads', () => {
  it('restarts Deployments, StatefulSets and DaemonSets using a changed Secret, by precedence', async (t) => {
    const namespace = await testNamespace(t, 'restart');
    assert.equal(
      kubectl(['annotate', 'namespace', namespace, 'operator.1password.io/auto-restart=true'])
        .status,
      0,
    );
    const connect = await startConnectLocal(t, { data: DATA });
    await startOperator(t, {
      connectUrl: connect.url,
      token: await connect.token({ vaults: ['Production,r'] }),
      namespaces: [namespace],
    });
    await createItem(namespace, 'db');
    await passwordIs(namespace, 'db', 'one');

    const selector = { matchLabels: { app: 'x' } };
    await apps.createNamespacedDeployment({
      namespace,
      body: { metadata: { name: 'web' }, spec: { selector, template: template('db', 'envFrom') } },
    });
    await apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: 'store' },
        spec: { selector, serviceName: 'store', template: template('db', 'volume') },
      },
    });
    await apps.createNamespacedDaemonSet({
      namespace,
      body: { metadata: { name: 'agent' }, spec: { selector, template: template('db', 'init') } },
    });
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: {
          name: 'opted-out',
          annotations: { 'operator.1password.io/auto-restart': 'false' },
        },
        spec: { selector, template: template('db', 'envFrom') },
      },
    });
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'unrelated' },
        spec: { selector, template: template('other', 'envFrom') },
      },
    });

    await rotate(connect, 'two');
    await passwordIs(namespace, 'db', 'two');
    const restartedAt = async (): Promise<Record<string, string | undefined>> => {
      const [web, store, agent, optedOut, unrelated] = await Promise.all([
        apps.readNamespacedDeployment({ namespace, name: 'web' }),
        apps.readNamespacedStatefulSet({ namespace, name: 'store' }),
        apps.readNamespacedDaemonSet({ namespace, name: 'agent' }),
        apps.readNamespacedDeployment({ namespace, name: 'opted-out' }),
        apps.readNamespacedDeployment({ namespace, name: 'unrelated' }),
      ]);
      return Object.fromEntries(
        Object.entries({ web, store, agent, optedOut, unrelated }).map(([key, workload]) => [
          key,
          workload.spec?.template.metadata?.annotations?.[RESTARTED],
        ]),
      );
    };
    const after = await eventually('the restarts', async () => {
      const stamps = await restartedAt();
      return stamps.web && stamps.store && stamps.agent ? stamps : undefined;
    });
    assert.equal(after.optedOut, undefined, 'the workload annotation beats the namespace');
    assert.equal(after.unrelated, undefined, 'a workload not using the Secret is left alone');

    // Nothing changed in the item: no further restart.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.deepEqual(await restartedAt(), after);
  });

  it("adopts a Secret left by 1Password's operator with no data change and no restart", async (t) => {
    const namespace = await testNamespace(t, 'migrate');
    await installCrd();
    // As 1Password's operator leaves things: the item, its Secret (written with Update), a workload.
    await createItem(namespace, 'db', { 'operator.1password.io/auto-restart': 'true' });
    const item = (await custom.getNamespacedCustomObject({
      group: 'onepassword.com',
      version: 'v1',
      namespace,
      plural: 'onepassworditems',
      name: 'db',
    })) as { metadata: { uid: string } };
    await core.createNamespacedSecret({
      namespace,
      fieldManager: 'manager',
      body: {
        metadata: {
          name: 'db',
          annotations: {
            'operator.1password.io/item-path': ITEM_PATH,
            'operator.1password.io/item-version': '1',
          },
          ownerReferences: [
            {
              apiVersion: 'onepassword.com/v1',
              kind: 'OnePasswordItem',
              name: 'db',
              uid: item.metadata.uid,
              controller: true,
            },
          ],
        },
        data: {
          password: Buffer.from('one').toString('base64'),
          removed: Buffer.from('old key').toString('base64'),
        },
      },
    });
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: { selector: { matchLabels: { app: 'x' } }, template: template('db', 'envFrom') },
      },
    });
    const before = await core.readNamespacedSecret({ namespace, name: 'db' });

    const connect = await startConnectLocal(t, { data: DATA });
    await startOperator(t, {
      connectUrl: connect.url,
      token: await connect.token({ vaults: ['Production,r'] }),
      namespaces: [namespace],
    });
    const adopted = await eventually('adoption', async () => {
      const secret = await core.readNamespacedSecret({ namespace, name: 'db' });
      return secret.metadata?.managedFields?.some((entry) => entry.manager === 'op-kube') &&
        !secret.data?.removed
        ? secret
        : undefined;
    });
    assert.equal(adopted.data?.password, before.data?.password);
    assert.equal(adopted.metadata?.labels?.['app.kubernetes.io/managed-by'], 'op-kube');
    const web = await apps.readNamespacedDeployment({ namespace, name: 'web' });
    assert.equal(
      web.spec?.template.metadata?.annotations?.[RESTARTED],
      undefined,
      'no restart for current data',
    );
  });

  it('elects one writer among two replicas, and the other takes over when it leaves', async (t) => {
    const namespace = await testNamespace(t, 'leader');
    const connect = await startConnectLocal(t, { data: DATA });
    const token = await connect.token({ vaults: ['Production,r'] });
    const replica = (): Promise<Awaited<ReturnType<typeof startOperator>>> =>
      startOperator(t, {
        connectUrl: connect.url,
        token,
        namespaces: [namespace],
        args: ['--leader-elect', `--leader-election-namespace=${namespace}`],
      });
    const first = await replica();
    const second = await replica();
    await createItem(namespace, 'db');
    await passwordIs(namespace, 'db', 'one');
    const writers = (): number =>
      [first, second].filter((operator) => /became leader/.test(operator.logs())).length;
    assert.equal(writers(), 1);
    const lease = await config
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ namespace, name: 'c26807fd.onepassword.com' });
    assert.ok(lease.spec?.holderIdentity);

    const leader = /became leader/.test(first.logs()) ? first : second;
    const follower = leader === first ? second : first;
    await leader.stop();
    await eventually(
      'the follower to lead',
      () => Promise.resolve(/became leader/.test(follower.logs()) ? true : undefined),
      { timeoutMs: 30_000 },
    );
    await rotate(connect, 'after-failover');
    await passwordIs(namespace, 'db', 'after-failover');
  });
});
