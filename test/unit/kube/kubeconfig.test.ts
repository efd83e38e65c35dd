// Where the kubeconfig comes from: --kubeconfig, KUBECONFIG, the pod's ServiceAccount, ~/.kube/config.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { KubeConfigError, loadKubeConfig } from '../../../src/kube/client/kubeconfig.ts';

describe('loadKubeConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'op-kube-kubeconfig-'));

  function kubeconfigFile(name: string, clusters: string[], current?: string): string {
    const file = join(dir, name);
    const doc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: clusters.map((cluster) => ({
        name: cluster,
        cluster: { server: `https://${cluster}.${name}:6443`, 'certificate-authority': 'ca.crt' },
      })),
      users: [{ name: 'admin', user: { token: `token-${name}` } }],
      contexts: clusters.map((cluster) => ({
        name: cluster,
        context: { cluster, user: 'admin', namespace: `ns-${cluster}` },
      })),
      ...(current ? { 'current-context': current } : {}),
    };
    writeFileSync(file, JSON.stringify(doc));
    return file;
  }

  it('prefers --kubeconfig and makes relative paths absolute to the file', () => {
    const file = kubeconfigFile('flag', ['blue'], 'blue');
    const loaded = loadKubeConfig({ kubeconfig: file, env: { KUBECONFIG: '/nowhere' } });
    assert.equal(loaded.source, 'flag');
    assert.equal(loaded.cluster.server, 'https://blue.flag:6443');
    assert.equal(loaded.cluster.caFile, join(dir, 'ca.crt'));
    assert.equal(loaded.namespace, 'ns-blue');
  });

  it('merges KUBECONFIG files as kubectl does: first wins, missing files skipped', () => {
    const first = kubeconfigFile('first', ['a', 'shared']);
    const second = kubeconfigFile('second', ['shared', 'b'], 'shared');
    const loaded = loadKubeConfig({
      env: { KUBECONFIG: [join(dir, 'missing'), first, second].join(delimiter) },
    });
    assert.equal(loaded.source, 'KUBECONFIG');
    assert.deepEqual(loaded.files, [first, second]);
    assert.equal(loaded.context.name, 'shared');
    assert.equal(loaded.cluster.server, 'https://shared.first:6443');
    assert.equal(loaded.user.token, 'token-first');
    assert.equal(loaded.document.clusters.length, 3);
  });

  it('switches to --context, and refuses one that is not there', () => {
    const file = kubeconfigFile('contexts', ['red', 'green'], 'red');
    const loaded = loadKubeConfig({ kubeconfig: file, context: 'green', env: {} });
    assert.equal(loaded.cluster.name, 'green');
    assert.throws(
      () => loadKubeConfig({ kubeconfig: file, context: 'nope', env: {} }),
      (error) => error instanceof KubeConfigError && error.reason === 'Invalid',
    );
    const noCurrent = kubeconfigFile('no-current', ['red']);
    assert.throws(() => loadKubeConfig({ kubeconfig: noCurrent, env: {} }), /no current context/);
  });

  it('uses the ServiceAccount in a pod, and its namespace', () => {
    const serviceAccountDir = join(dir, 'sa');
    mkdirSync(serviceAccountDir, { recursive: true });
    writeFileSync(join(serviceAccountDir, 'token'), 'sa-token');
    writeFileSync(join(serviceAccountDir, 'namespace'), 'op-kube-system\n');
    const loaded = loadKubeConfig({
      env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443', HOME: dir },
      serviceAccountDir,
    });
    assert.equal(loaded.source, 'in-cluster');
    assert.equal(loaded.cluster.server, 'https://[fd00::1]:443');
    assert.equal(loaded.cluster.caFile, join(serviceAccountDir, 'ca.crt'));
    assert.equal(loaded.namespace, 'op-kube-system');
  });

  it('falls back to ~/.kube/config, and says what it tried when nothing is there', () => {
    const home = join(dir, 'home');
    mkdirSync(join(home, '.kube'), { recursive: true });
    const empty = join(dir, 'empty-sa');
    assert.throws(
      () => loadKubeConfig({ env: { HOME: home }, serviceAccountDir: empty }),
      (error) =>
        error instanceof KubeConfigError &&
        error.reason === 'NotFound' &&
        /--kubeconfig.*KUBECONFIG.*ServiceAccount/.test(error.message),
    );
    const source = kubeconfigFile('home-config', ['home'], 'home');
    writeFileSync(join(home, '.kube', 'config'), readFileSync(source, 'utf8'));
    const loaded = loadKubeConfig({ env: { HOME: home }, serviceAccountDir: empty });
    assert.equal(loaded.source, 'home');
    assert.throws(
      () => loadKubeConfig({ kubeconfig: join(dir, 'absent'), env: {} }),
      (error) => error instanceof KubeConfigError && error.reason === 'NotFound',
    );
  });
});
