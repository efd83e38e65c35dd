// A second, private plane: free ports beside the shared one, per-component restarts, and a clean down.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { ControlPlane } from '../../tools/cluster/plane.ts';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { processesMentioning } from '../../tools/cluster/processes.ts';
import { eventually, isStatus, kubeConfigFor, kubectl, testPlane } from '../support/cluster.ts';

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'op-kube-plane-')));
const plane = new ControlPlane(dir);

function clusterCli(action: string): { status: number | null; stderr: string } {
  const result = spawnSync(
    process.execPath,
    [join(repoRoot, 'tools', 'cluster', 'cli.ts'), action],
    {
      encoding: 'utf8',
      env: { ...process.env, OP_KUBE_CLUSTER_DIR: dir },
      timeout: 180_000,
    },
  );
  return { status: result.status, stderr: result.stderr };
}

async function readConfigMapValue(core: CoreV1Api): Promise<string | undefined> {
  return (await core.readNamespacedConfigMap({ name: 'survivor', namespace: 'default' })).data
    ?.value;
}

describe('a private control plane', () => {
  let core: CoreV1Api;

  before(async () => {
    assert.equal(await plane.up(), 'started');
    core = kubeConfigFor(plane).makeApiClient(CoreV1Api);
  });

  after(async () => {
    await plane.down();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs beside the shared plane on different ports', async () => {
    assert.notEqual(await plane.apiserverUrl(), await testPlane().apiserverUrl());
    const ready = kubectl(['get', '--raw', '/readyz'], plane);
    assert.equal(ready.stdout.trim(), 'ok', ready.stderr);
  });

  it('`cluster:up` on a running plane reports it and exits 0', () => {
    const result = clusterCli('up');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /already up/);
  });

  it('keeps its data across an apiserver restart', async () => {
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'survivor' }, data: { value: 'kept' } },
    });
    const pidBefore = (await plane.status())['kube-apiserver'].pid;
    await plane.restart('kube-apiserver');
    const pidAfter = (await plane.status())['kube-apiserver'].pid;
    assert.notEqual(pidAfter, pidBefore);
    assert.equal(
      await eventually('the ConfigMap after the restart', () => readConfigMapValue(core)),
      'kept',
    );
  });

  it('goes unready without etcd and recovers when etcd starts again', async () => {
    await plane.stop('etcd');
    assert.equal((await plane.status()).etcd.running, false);
    await eventually('/readyz to fail without etcd', () => {
      const ready = kubectl(['get', '--raw', '/readyz'], plane);
      return Promise.resolve(ready.status !== 0 ? true : undefined);
    });
    await plane.start('etcd');
    await eventually(
      '/readyz to recover',
      () => {
        const ready = kubectl(['get', '--raw', '/readyz'], plane);
        return Promise.resolve(ready.stdout.trim() === 'ok' ? true : undefined);
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(
      await eventually('the ConfigMap after etcd returns', () => readConfigMapValue(core)),
      'kept',
    );
  });

  it('restarts the controller-manager, waiting for its port while something still holds it', async () => {
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as {
      ports: { controllerManager: number };
    };
    await plane.stop('kube-controller-manager');
    // As the threads of the stopped process would, for a moment (CI saw the restart refused).
    const holder = createServer();
    await new Promise<void>((resolve) =>
      holder.listen(state.ports.controllerManager, '127.0.0.1', resolve),
    );
    setTimeout(() => holder.close(), 2_000);
    await plane.start('kube-controller-manager');
    assert.equal((await plane.status())['kube-controller-manager'].running, true);
    assert.match(
      await readFile(join(dir, 'logs', 'kube-controller-manager.log'), 'utf8'),
      /address already in use/,
      'the first try met the held port',
    );
  });

  it('restarts the controller-manager, which then collects garbage again', async () => {
    await plane.restart('kube-controller-manager');
    const owner = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'owner' } },
    });
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: {
        metadata: {
          name: 'owned',
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' },
          ],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: 'default' });
    await eventually(
      'garbage collection after the restart',
      async () => {
        try {
          await core.readNamespacedConfigMap({ name: 'owned', namespace: 'default' });
          return undefined;
        } catch (error) {
          return isStatus(error, 404) ? true : undefined;
        }
      },
      { timeoutMs: 60_000 },
    );
  });

  it('`cluster:down` stops every process it started and leaves none behind', async () => {
    const running = Object.values(await plane.status()).filter((entry) => entry.running).length;
    assert.equal(running, 3);
    const result = clusterCli('down');
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(processesMentioning(`${dir}/`), []);
    const status = await plane.status();
    assert.deepEqual(
      Object.values(status).map((entry) => entry.running),
      [false, false, false],
    );
  });
});
