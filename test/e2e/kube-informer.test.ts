// The informer against a real kube-apiserver: list and watch, selectors, namespaces, an apiserver restart, a clean exit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { ControlPlane } from '../../tools/cluster/plane.ts';
import { repoRoot } from '../../tools/cluster/paths.ts';
import {
  Informer,
  type InformerEvent,
  type InformerOptions,
} from '../../src/kube/cache/informer.ts';
import { objectKey } from '../../src/kube/cache/store.ts';
import {
  eventually,
  kubeClientFor,
  kubeConfigFor,
  testNamespace,
  testPlane,
} from '../support/cluster.ts';
import type { KubeClient } from '../../src/kube/client/client.ts';

const SECRETS = '/api/v1/namespaces/{namespace}/secrets';

interface Watched {
  readonly informer: Informer<V1Secret>;
  /** What the handlers heard: `add ns/a`, `update ns/a`, `delete ns/a`, `delete ns/a (inferred)`. */
  readonly heard: string[];
  /** The cache as rebuilt from handler calls alone: key → resourceVersion. */
  readonly replayed: Map<string, string>;
  readonly observed: InformerEvent[];
}

function watch(
  t: TestContext,
  client: KubeClient,
  options: Partial<InformerOptions<V1Secret>> & { namespaces: readonly string[] },
): Watched {
  const heard: string[] = [];
  const replayed = new Map<string, string>();
  const observed: InformerEvent[] = [];
  const informer = new Informer<V1Secret>({
    client,
    path: SECRETS,
    observe: (event) => observed.push(event),
    ...options,
  });
  const version = (secret: V1Secret): string => secret.metadata?.resourceVersion ?? '';
  informer.onAdd((secret) => {
    heard.push(`add ${objectKey(secret)}`);
    assert.equal(replayed.has(objectKey(secret)), false, `add of a known ${objectKey(secret)}`);
    replayed.set(objectKey(secret), version(secret));
  });
  informer.onUpdate((old, secret) => {
    heard.push(`update ${objectKey(secret)}`);
    assert.equal(replayed.get(objectKey(old)), version(old));
    replayed.set(objectKey(secret), version(secret));
  });
  informer.onDelete((secret, { finalStateUnknown }) => {
    heard.push(`delete ${objectKey(secret)}${finalStateUnknown ? ' (inferred)' : ''}`);
    assert.equal(
      replayed.delete(objectKey(secret)),
      true,
      `delete of an unknown ${objectKey(secret)}`,
    );
  });
  t.after(() => informer.stop());
  return { informer, heard, replayed, observed };
}

/** key → resourceVersion of what the apiserver holds now. */
async function freshList(
  core: CoreV1Api,
  namespaces: readonly string[],
): Promise<Map<string, string>> {
  const listed = new Map<string, string>();
  for (const namespace of namespaces) {
    for (const secret of (await core.listNamespacedSecret({ namespace })).items) {
      listed.set(objectKey(secret), secret.metadata?.resourceVersion ?? '');
    }
  }
  return listed;
}

function cached(informer: Informer<V1Secret>): Map<string, string> {
  return new Map(
    informer.list().map((secret) => [objectKey(secret), secret.metadata?.resourceVersion ?? '']),
  );
}

function sorted(map: ReadonlyMap<string, string>): [string, string][] {
  return [...map].sort(([a], [b]) => a.localeCompare(b));
}

/** Resolves once the informer's cache and the handlers' replay both equal a fresh list. */
async function converged(
  core: CoreV1Api,
  watched: Watched,
  namespaces: readonly string[],
  timeoutMs = 30_000,
): Promise<void> {
  let last = '';
  try {
    await eventually(
      'the cache and the handlers to match a fresh list',
      async () => {
        const truth = sorted(await freshList(core, namespaces));
        const cache = sorted(cached(watched.informer));
        const replay = sorted(watched.replayed);
        last = JSON.stringify({ truth, cache, replay });
        const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
        return same(truth, cache) && same(truth, replay) ? true : undefined;
      },
      { timeoutMs, intervalMs: 100 },
    );
  } catch (error) {
    assert.fail(`${(error as Error).message}: ${last}`);
  }
  // The handlers assert that adds, updates and deletes arrive in an order that makes sense.
  const broken = watched.observed.flatMap((event) =>
    event.type === 'handler-failed' ? [String(event.error)] : [],
  );
  assert.deepEqual(broken, []);
}

function secret(name: string, labels?: Record<string, string>, type?: string): V1Secret {
  return {
    metadata: { name, ...(labels ? { labels } : {}) },
    stringData: { value: name },
    ...(type ? { type } : {}),
  };
}

describe('Informer against the shared control plane', () => {
  const config = kubeConfigFor();
  const core = config.makeApiClient(CoreV1Api);
  const client = kubeClientFor();

  it('fills its cache from the first list, then hears creates, updates and deletes', async (t) => {
    const namespace = await testNamespace(t, 'informer');
    await core.createNamespacedSecret({ namespace, body: secret('first') });
    await core.createNamespacedSecret({ namespace, body: secret('second') });
    const watched = watch(t, client, { namespaces: [namespace] });
    watched.informer.start();
    await watched.informer.waitForSync(AbortSignal.timeout(30_000));
    assert.deepEqual(watched.informer.keys().sort(), [`${namespace}/first`, `${namespace}/second`]);
    const first = watched.informer.get(namespace, 'first');
    assert.equal(Buffer.from(first?.data?.value ?? '', 'base64').toString(), 'first');
    assert.equal(first?.kind, 'Secret');

    await core.createNamespacedSecret({ namespace, body: secret('third') });
    await core.replaceNamespacedSecret({
      name: 'first',
      namespace,
      body: { ...secret('first'), stringData: { value: 'changed' } },
    });
    await core.deleteNamespacedSecret({ name: 'second', namespace });
    await converged(core, watched, [namespace]);
    assert.deepEqual(watched.heard, [
      `add ${namespace}/first`,
      `add ${namespace}/second`,
      `add ${namespace}/third`,
      `update ${namespace}/first`,
      `delete ${namespace}/second`,
    ]);
    const changed = watched.informer.get(namespace, 'first');
    assert.equal(Buffer.from(changed?.data?.value ?? '', 'base64').toString(), 'changed');
    assert.equal(watched.informer.get(namespace, 'second'), undefined);
    assert.equal(watched.observed.filter((event) => event.type === 'failure').length, 0);
  });

  it('sees only what its label selector selects, as objects enter and leave the selection', async (t) => {
    const namespace = await testNamespace(t, 'informer-labels');
    await core.createNamespacedSecret({ namespace, body: secret('in', { app: 'selected' }) });
    await core.createNamespacedSecret({ namespace, body: secret('out', { app: 'other' }) });
    const watched = watch(t, client, { namespaces: [namespace], labelSelector: 'app=selected' });
    watched.informer.start();
    await watched.informer.waitForSync(AbortSignal.timeout(30_000));
    assert.deepEqual(watched.informer.keys(), [`${namespace}/in`]);

    await core.replaceNamespacedSecret({
      name: 'out',
      namespace,
      body: secret('out', { app: 'selected' }),
    });
    await core.replaceNamespacedSecret({
      name: 'in',
      namespace,
      body: secret('in', { app: 'gone' }),
    });
    await eventually('out to enter and in to leave', () =>
      Promise.resolve(
        watched.informer.get(namespace, 'out') && !watched.informer.get(namespace, 'in')
          ? true
          : undefined,
      ),
    );
    assert.deepEqual(watched.heard, [
      `add ${namespace}/in`,
      `add ${namespace}/out`,
      `delete ${namespace}/in`,
    ]);
  });

  it('sees only what its field selector selects', async (t) => {
    const namespace = await testNamespace(t, 'informer-fields');
    await core.createNamespacedSecret({
      namespace,
      body: secret('typed', undefined, 'op-kube.test/typed'),
    });
    await core.createNamespacedSecret({ namespace, body: secret('opaque') });
    const watched = watch(t, client, {
      namespaces: [namespace],
      fieldSelector: 'type=op-kube.test/typed',
    });
    watched.informer.start();
    await watched.informer.waitForSync(AbortSignal.timeout(30_000));
    assert.deepEqual(watched.informer.keys(), [`${namespace}/typed`]);
    await core.createNamespacedSecret({
      namespace,
      body: secret('typed-later', undefined, 'op-kube.test/typed'),
    });
    await core.createNamespacedSecret({ namespace, body: secret('opaque-later') });
    await eventually('typed-later', () =>
      Promise.resolve(watched.informer.get(namespace, 'typed-later')),
    );
    assert.deepEqual(watched.informer.keys().sort(), [
      `${namespace}/typed`,
      `${namespace}/typed-later`,
    ]);
  });

  it('spans several namespaces with one cache and ignores the others', async (t) => {
    const [one, two, other] = await Promise.all(
      ['informer-one', 'informer-two', 'informer-other'].map((prefix) => testNamespace(t, prefix)),
    );
    assert.ok(one && two && other);
    await core.createNamespacedSecret({ namespace: one, body: secret('a') });
    await core.createNamespacedSecret({ namespace: other, body: secret('ignored') });
    const watched = watch(t, client, { namespaces: [one, two] });
    watched.informer.start();
    await watched.informer.waitForSync(AbortSignal.timeout(30_000));
    await core.createNamespacedSecret({ namespace: two, body: secret('b') });
    await core.createNamespacedSecret({ namespace: other, body: secret('ignored-too') });
    await converged(core, watched, [one, two]);
    assert.deepEqual(watched.informer.list(one).map(objectKey), [`${one}/a`]);
    assert.deepEqual(watched.informer.list(two).map(objectKey), [`${two}/b`]);
    assert.deepEqual(watched.informer.list(other), []);
  });

  it('stop() leaves nothing open: a process that syncs, watches and stops exits by itself', async (t) => {
    const namespace = await testNamespace(t, 'informer-exit');
    await core.createNamespacedSecret({ namespace, body: secret('present') });
    const script = `
      import { Informer } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/kube/cache/informer.ts')).href)};
      import { loadKubeConfig } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/kube/client/kubeconfig.ts')).href)};
      import { KubeClient } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/kube/client/client.ts')).href)};
      const client = new KubeClient(loadKubeConfig({ env: process.env }));
      let watching;
      const opened = new Promise((resolve) => { watching = resolve; });
      const informer = new Informer({
        client,
        path: ${JSON.stringify(SECRETS)},
        namespaces: [process.env.NAMESPACE],
        resyncPeriodMs: 60_000,
        observe: (event) => { if (event.type === 'watching') watching(); },
      });
      informer.start();
      await informer.waitForSync(AbortSignal.timeout(30_000));
      await opened;
      const keys = informer.keys();
      await informer.stop();
      await client.close();
      process.stdout.write(JSON.stringify({ keys, stoppedAt: Date.now() }) + '\\n');
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '--eval', script], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, KUBECONFIG: testPlane().kubeconfigPath, NAMESPACE: namespace },
    });
    const exitedAt = Date.now();
    assert.equal(result.signal, null, `killed: it did not exit by itself\n${result.stderr}`);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { keys: string[]; stoppedAt: number };
    assert.deepEqual(report.keys, [`${namespace}/present`]);
    const lingered = exitedAt - report.stoppedAt;
    t.diagnostic(`the process exited ${lingered} ms after stop() resolved`);
    assert.ok(lingered < 2000, `the process lingered ${lingered} ms after stop()`);
  });
});

describe('Informer across a restart of a private apiserver', { timeout: 300_000 }, () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'op-kube-informer-plane-')));
  const plane = new ControlPlane(dir);
  let config: KubeConfig;
  let client: KubeClient;
  let core: CoreV1Api;

  before(async () => {
    await plane.up();
    config = kubeConfigFor(plane);
    client = kubeClientFor(plane);
    core = config.makeApiClient(CoreV1Api);
  });

  after(async () => {
    await plane.down();
    await rm(dir, { recursive: true, force: true });
  });

  /** A namespace holding before-1..3 (before-1 edited), and an informer on it, synced and live. */
  async function synced(t: TestContext, informerClient: KubeClient): Promise<[string, Watched]> {
    const namespace = await testNamespace(t, 'informer-restart', config);
    for (const name of ['before-1', 'before-2', 'before-3']) {
      await core.createNamespacedSecret({ namespace, body: secret(name) });
    }
    await core.replaceNamespacedSecret({
      name: 'before-1',
      namespace,
      body: { ...secret('before-1'), stringData: { value: 'edited before start' } },
    });
    const watched = watch(t, informerClient, {
      namespaces: [namespace],
      backoff: { initialMs: 200, maxMs: 2000 },
    });
    watched.informer.start();
    await watched.informer.waitForSync(AbortSignal.timeout(30_000));
    await core.createNamespacedSecret({ namespace, body: secret('watched-1') });
    await converged(core, watched, [namespace]);
    return [namespace, watched];
  }

  /** Makes the changes the informer must not lose: a create, an update and a delete. */
  async function change(namespace: string): Promise<void> {
    await core.createNamespacedSecret({ namespace, body: secret('after-1') });
    await core.replaceNamespacedSecret({
      name: 'before-2',
      namespace,
      body: { ...secret('before-2'), stringData: { value: 'edited after restart' } },
    });
    await core.deleteNamespacedSecret({ name: 'before-3', namespace });
  }

  /** The watch is live again, not only the cache relisted: a later create reaches the handlers. */
  async function live(namespace: string, watched: Watched): Promise<void> {
    await core.createNamespacedSecret({ namespace, body: secret('after-2') });
    await converged(core, watched, [namespace]);
    const edited = watched.informer.get(namespace, 'before-2');
    assert.equal(
      Buffer.from(edited?.data?.value ?? '', 'base64').toString(),
      'edited after restart',
    );
  }

  function heardSince(watched: Watched, namespace: string): string[] {
    return watched.heard.slice(watched.heard.indexOf(`add ${namespace}/watched-1`) + 1).sort();
  }

  function summary(events: readonly InformerEvent[]): string {
    const count = (type: InformerEvent['type']): number =>
      events.filter((event) => event.type === type).length;
    const reasons = events.flatMap((event) =>
      event.type === 'failure' ? [`${event.error.reason}(${event.retryInMs} ms)`] : [],
    );
    return (
      `${count('failure')} failures [${reasons.join(', ')}], ${count('expired')} expiries, ` +
      `${count('listed')} relists, ${count('watching')} watches opened`
    );
  }

  it('reconnects through a restart and hears what changed right after it', async (t) => {
    const [namespace, watched] = await synced(t, client);
    const from = watched.observed.length;
    await plane.restart('kube-apiserver');
    await change(namespace);
    await converged(core, watched, [namespace], 60_000);
    await live(namespace, watched);
    assert.deepEqual(heardSince(watched, namespace), [
      `add ${namespace}/after-1`,
      `add ${namespace}/after-2`,
      `delete ${namespace}/before-3`,
      `update ${namespace}/before-2`,
    ]);
    const around = watched.observed.slice(from);
    t.diagnostic(`around the restart: ${summary(around)}`);
    assert.ok(around.some((event) => event.type === 'failure'));
  });

  it('relists after a restart it was cut off from, and infers the delete it never saw', async (t) => {
    const partition = await startTcpProxy([Number(new URL(await plane.apiserverUrl()).port)]);
    t.after(() => partition.close());
    const [namespace, watched] = await synced(t, kubeClientFor(plane, { server: partition.url }));
    const from = watched.observed.length;
    partition.partition();
    await eventually('the informer to lose its watch', () =>
      Promise.resolve(
        watched.observed.slice(from).some((event) => event.type === 'failure') || undefined,
      ),
    );
    // Restarted, the apiserver's watch cache starts after the informer's resourceVersion, so only
    // a relist can tell the informer what happened meanwhile.
    await plane.restart('kube-apiserver');
    await change(namespace);
    partition.heal();
    await converged(core, watched, [namespace], 60_000);
    await live(namespace, watched);
    assert.deepEqual(heardSince(watched, namespace), [
      `add ${namespace}/after-1`,
      `add ${namespace}/after-2`,
      `delete ${namespace}/before-3 (inferred)`,
      `update ${namespace}/before-2`,
    ]);
    const around = watched.observed.slice(from);
    t.diagnostic(`while cut off and after: ${summary(around)}`);
    const relist = around.find((event) => event.type === 'listed');
    assert.ok(around.some((event) => event.type === 'expired'));
    assert.deepEqual(relist && [relist.reason, relist.added, relist.updated, relist.deleted], [
      'expired',
      1,
      1,
      1,
    ]);
  });
});
