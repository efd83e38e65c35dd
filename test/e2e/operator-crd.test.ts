// The OnePasswordItem CRD on the real apiserver: 1Password's manifests apply, bad itemPaths do not.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { kubectl, testNamespace, testPlane } from '../support/cluster.ts';
import { installCrd } from '../support/operator.ts';

function apply(
  manifest: string,
  namespace: string,
): { status: number | null; stdout: string; stderr: string } {
  const plane = testPlane();
  const result = spawnSync(
    join(plane.binDir, 'kubectl'),
    ['--kubeconfig', plane.kubeconfigPath, 'apply', '-n', namespace, '-f', '-'],
    { input: manifest, encoding: 'utf8', timeout: 60_000 },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('OnePasswordItem CRD', () => {
  // Fails the suite, with kubectl's stderr, when the CRD does not apply.
  before(() => installCrd());

  it("applies 1Password's documented manifests unchanged, including OnePasswordItemList", async (t) => {
    const namespace = await testNamespace(t, 'crd-compat');
    const single = apply(
      `apiVersion: onepassword.com/v1
kind: OnePasswordItem
metadata:
  name: my-secret
spec:
  itemPath: "vaults/my-vault/items/my-item"
`,
      namespace,
    );
    assert.equal(single.status, 0, single.stderr);
    const typed = apply(
      `apiVersion: onepassword.com/v1
kind: OnePasswordItem
type: kubernetes.io/dockerconfigjson
metadata:
  name: registry
  annotations:
    operator.1password.io/auto-restart: "true"
spec:
  itemPath: "vaults/abcdefghijklmnopqrstuvwxyz/items/Docker Hub"
`,
      namespace,
    );
    assert.equal(typed.status, 0, typed.stderr);
    const list = apply(
      `apiVersion: onepassword.com/v1
kind: OnePasswordItemList
items:
  - apiVersion: onepassword.com/v1
    kind: OnePasswordItem
    metadata:
      name: first
    spec:
      itemPath: vaults/v/items/one
  - apiVersion: onepassword.com/v1
    kind: OnePasswordItem
    metadata:
      name: second
    spec:
      itemPath: vaults/v/items/two
`,
      namespace,
    );
    assert.equal(list.status, 0, list.stderr);
    const names = kubectl([
      'get',
      'opi',
      '-n',
      namespace,
      '-o',
      'jsonpath={.items[*].metadata.name}',
    ]);
    assert.deepEqual(names.stdout.split(' ').sort(), ['first', 'my-secret', 'registry', 'second']);
    const type = kubectl(['get', 'opi', 'registry', '-n', namespace, '-o', 'jsonpath={.type}']);
    assert.equal(type.stdout, 'kubernetes.io/dockerconfigjson');
  });

  it('refuses a malformed itemPath at apply time with a message naming the field', async (t) => {
    const namespace = await testNamespace(t, 'crd-invalid');
    for (const itemPath of [
      'vaults/only-a-vault',
      'vaults/v/items/a/b',
      'items/x/vaults/y',
      `vaults/v/items/${'x'.repeat(1100)}`,
    ]) {
      const result = apply(
        `apiVersion: onepassword.com/v1\nkind: OnePasswordItem\nmetadata:\n  name: bad\nspec:\n  itemPath: "${itemPath}"\n`,
        namespace,
      );
      assert.notEqual(result.status, 0, itemPath.slice(0, 40));
      assert.match(result.stderr, /spec\.itemPath/);
    }
  });

  it('shows Ready, Reason, Version and Synced columns and explains its fields', () => {
    const columns = kubectl([
      'get',
      'crd',
      'onepassworditems.onepassword.com',
      '-o',
      'jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}',
    ]);
    // Refresh (spec.refreshInterval) has priority 1: only in -o wide.
    assert.equal(columns.stdout, 'Ready Reason Version Synced Refresh Age');
    const priorities = kubectl([
      'get',
      'crd',
      'onepassworditems.onepassword.com',
      '-o',
      'jsonpath={.spec.versions[0].additionalPrinterColumns[?(@.name=="Refresh")].priority}',
    ]);
    assert.equal(priorities.stdout, '1');
    const explained = kubectl(['explain', 'onepassworditem.spec.itemPath']);
    assert.equal(explained.status, 0, explained.stderr);
    assert.match(explained.stdout, /%2F/);
    const keys = kubectl(['explain', 'onepassworditem.spec.keys.template']);
    assert.equal(keys.status, 0, keys.stderr);
    assert.match(keys.stdout, /urlescape, base64 and jsonescape/);
  });
});
