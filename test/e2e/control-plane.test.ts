// Proves the local control plane is real: CRDs, RBAC, admission, garbage collection, kubectl and helm.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { KUBERNETES_VERSION, HELM_VERSION } from '../../tools/cluster/versions.ts';
import {
  eventually,
  helm,
  isStatus,
  kubeConfigFor,
  kubectl,
  testNamespace,
  waitForDefaultServiceAccount,
} from '../support/cluster.ts';
import { crdEstablished, onePasswordItemCrd } from '../support/crd.ts';

const config = kubeConfigFor();
const core = config.makeApiClient(CoreV1Api);

async function applyOnePasswordItemCrd(): Promise<void> {
  const manifest = await onePasswordItemCrd();
  // Server-side apply is idempotent, so test files that run side by side can all apply it.
  await KubernetesObjectApi.makeApiClient(config).patch(
    manifest,
    undefined,
    undefined,
    'op-kube-e2e',
    true,
    PatchStrategy.ServerSideApply,
  );
  await crdEstablished(config, manifest);
}

describe('local control plane', () => {
  it('answers /readyz and runs the pinned Kubernetes version with a matching kubectl', () => {
    const ready = kubectl(['get', '--raw', '/readyz']);
    assert.equal(ready.status, 0, ready.stderr);
    assert.equal(ready.stdout.trim(), 'ok');

    const version = kubectl(['version', '--output=json']);
    assert.equal(version.status, 0, version.stderr);
    const parsed = JSON.parse(version.stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    assert.equal(parsed.serverVersion.gitVersion, `v${KUBERNETES_VERSION}`);
    assert.equal(parsed.clientVersion.gitVersion, `v${KUBERNETES_VERSION}`);
  });

  it('ships the pinned helm', () => {
    const result = helm(['version', '--short']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^v${HELM_VERSION.replaceAll('.', '\\.')}\\b`));
  });

  it('serves the OnePasswordItem CRD: create, get by short name, list', async (t) => {
    await applyOnePasswordItemCrd();
    const namespace = await testNamespace(t, 'crd');
    const custom = config.makeApiClient(CustomObjectsApi);
    const item = {
      apiVersion: 'onepassword.com/v1',
      kind: 'OnePasswordItem',
      metadata: { name: 'database', namespace },
      type: 'Opaque',
      spec: { itemPath: 'vaults/Production/items/database' },
    };
    await custom.createNamespacedCustomObject({
      group: 'onepassword.com',
      version: 'v1',
      namespace,
      plural: 'onepassworditems',
      body: item,
    });

    const list = (await custom.listNamespacedCustomObject({
      group: 'onepassword.com',
      version: 'v1',
      namespace,
      plural: 'onepassworditems',
    })) as {
      kind: string;
      items: { metadata: { name: string }; spec: { itemPath: string }; type: string }[];
    };
    assert.equal(list.kind, 'OnePasswordItemList');
    assert.deepEqual(
      list.items.map((entry) => [entry.metadata.name, entry.spec.itemPath, entry.type]),
      [['database', 'vaults/Production/items/database', 'Opaque']],
    );

    const byShortName = kubectl([
      'get',
      'opi',
      'database',
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.itemPath}',
    ]);
    assert.equal(byShortName.status, 0, byShortName.stderr);
    assert.equal(byShortName.stdout, 'vaults/Production/items/database');
  });

  it('garbage-collects a Secret whose owner is deleted (kube-controller-manager runs)', async (t) => {
    const namespace = await testNamespace(t, 'gc');
    const owner = await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'owner' }, data: { purpose: 'owner' } },
    });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: {
          name: 'owned',
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              name: 'owner',
              uid: owner.metadata?.uid ?? '',
              controller: true,
            },
          ],
        },
        stringData: { key: 'value' },
      },
    });
    assert.equal(
      (await core.readNamespacedSecret({ name: 'owned', namespace })).metadata?.name,
      'owned',
    );

    await core.deleteNamespacedConfigMap({ name: 'owner', namespace });
    await eventually(
      'the garbage collector to delete the owned Secret',
      async () => {
        try {
          await core.readNamespacedSecret({ name: 'owned', namespace });
          return undefined;
        } catch (error) {
          if (isStatus(error, 404)) return true;
          throw error;
        }
      },
      { timeoutMs: 60_000 },
    );
  });

  it('enforces RBAC: kubectl auth can-i reflects roles and bindings', async (t) => {
    const namespace = await testNamespace(t, 'rbac');
    const serviceAccount = `system:serviceaccount:${namespace}:default`;
    const serviceAccountCanI = (verb: string) =>
      kubectl(['auth', 'can-i', verb, 'secrets', '-n', namespace, '--as', serviceAccount]);

    const admin = kubectl(['auth', 'can-i', 'create', 'secrets', '-n', namespace]);
    assert.equal(admin.status, 0, admin.stderr);
    assert.equal(admin.stdout.trim(), 'yes');

    const before = serviceAccountCanI('get');
    assert.equal(before.stdout.trim(), 'no');
    assert.notEqual(before.status, 0);

    const rbac = config.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'secret-reader' },
        rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'secret-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace }],
      },
    });
    await eventually('the new RoleBinding to take effect', () => {
      const after = serviceAccountCanI('get');
      return Promise.resolve(after.stdout.trim() === 'yes' ? true : undefined);
    });
    const stillDenied = serviceAccountCanI('delete');
    assert.equal(stillDenied.stdout.trim(), 'no');
  });

  it('admits Pods once the default ServiceAccount exists, with a projected token mounted', async (t) => {
    const namespace = await testNamespace(t, 'pods');
    await waitForDefaultServiceAccount(namespace);
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'app' },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    });
    assert.equal(pod.spec?.serviceAccountName, 'default');
    const tokenVolume = pod.spec?.volumes?.find((volume) =>
      volume.projected?.sources?.some((s) => s.serviceAccountToken),
    );
    assert.ok(tokenVolume, 'ServiceAccount admission adds the projected token volume');
  });
});
