// The operator pod killed mid-sync on a real node: 200 OnePasswordItems (each on its own
// connect-local item, answered with 100 ms of added latency) created at once, the pod force-deleted
// while some but not all of their Secrets are written, and the new pod converging with every Secret
// present and right and every item Ready. A watch on the Secrets sees every version the apiserver
// stores, so a Secret deleted, or written even once with empty or wrong data, fails the test; the
// pods' Synced Events show that the new pod did write Secrets (the killed one did not finish).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import type { KubeClient } from '../../src/kube/client/client.ts';
import { listPage, openWatch } from '../../src/kube/cache/watch.ts';
import { CHART_DIR } from '../../tools/render-deploy.ts';
import { eventually, kubeClientFor, kubectl } from '../support/cluster.ts';
import { expectedDigest, secretDataDigest } from '../support/connect-local-example.ts';
import {
  helmOk,
  isReady,
  pods,
  podsReady,
  releaseNamespaces,
  removeRelease,
  testNode,
} from '../support/node.ts';

const suffix = randomBytes(3).toString('hex');
const release = `restart-${suffix}`;
const namespace = `opk-restart-${suffix}`;
const apps = `opk-restart-apps-${suffix}`;
const ITEMS = 200;
/** Secrets seen written before the kill: enough that the new pod finds some done, most not. */
const KILL_AT = 10;
const POLLING_INTERVAL_SECONDS = 5;
/**
 * Added by connect-local to every Connect answer. Without it the operator writes all 200 Secrets in
 * about two seconds, and a force-deleted pod's process lives that long (the kubelet's minimum grace
 * period): the old pod would finish the work and the new one would have nothing left to do.
 */
const CONNECT_LATENCY_MS = 100;
const ADMIN_PORT = 8090;
const OPERATOR = 'app.kubernetes.io/component=operator';

const names = Array.from({ length: ITEMS }, (_, i) => `item-${String(i).padStart(3, '0')}`);
/**
 * One connect-local item per OnePasswordItem, each with its own values (fresh for every run), so
 * that every sync fetches from Connect: with many OnePasswordItems on a few items, the operator's
 * item cache makes all but the first syncs instant.
 */
const runId = randomBytes(4).toString('hex');
const itemData = new Map(
  names.map((name) => [
    name,
    new Map([
      ['username', `user-${name}`],
      ['password', `pw-${runId}-${name}`],
    ]),
  ]),
);
const digestOf = new Map([...itemData].map(([name, data]) => [name, expectedDigest(data)]));

/** connect-local's data file: vault Production with the items above. */
function connectLocalData(): string {
  return yaml.dump({
    vaults: [
      {
        name: 'Production',
        items: names.map((name) => ({
          title: name,
          fields: [
            { label: 'username', value: itemData.get(name)!.get('username'), purpose: 'USERNAME' },
            {
              label: 'password',
              value: itemData.get(name)!.get('password'),
              type: 'CONCEALED',
              purpose: 'PASSWORD',
            },
          ],
        })),
      },
    ],
  });
}

interface SecretObject extends KubernetesObject {
  data?: Record<string, string>;
}

/** Every version of the test's Secrets the watch delivered, judged against the expected data. */
class SecretHistory {
  /** Latest version of each Secret: whether its data is right. */
  readonly latest = new Map<string, boolean>();
  /** Versions with data other than expected (names, versions and keys only: never values). */
  readonly wrong: string[] = [];
  readonly deleted: string[] = [];
  versions = 0;

  record(type: string, secret: SecretObject): void {
    const name = secret.metadata?.name ?? '';
    const expected = digestOf.get(name);
    if (expected === undefined) return;
    this.versions += 1;
    if (type === 'DELETED') {
      this.deleted.push(name);
      this.latest.delete(name);
      return;
    }
    const right = secretDataDigest(secret.data) === expected;
    if (!right) {
      const keys = Object.keys(secret.data ?? {}).sort();
      this.wrong.push(
        `${name} (${type}, resourceVersion ${secret.metadata?.resourceVersion}): ` +
          `keys [${keys.join(', ')}], not the data of item Production/${name}`,
      );
    }
    this.latest.set(name, right);
  }

  get rightNow(): number {
    return [...this.latest.values()].filter(Boolean).length;
  }
}

/** Lists then watches the namespace's Secrets until `signal` aborts; resumes a watch the server ends. */
async function watchSecrets(
  client: KubeClient,
  history: SecretHistory,
  signal: AbortSignal,
): Promise<void> {
  const path = `/api/v1/namespaces/${apps}/secrets`;
  const list = await listPage(client, path, {}, signal);
  for (const secret of list.items) history.record('ADDED', secret);
  let resourceVersion = list.metadata?.resourceVersion;
  try {
    while (!signal.aborted) {
      const events = await openWatch(
        client,
        path,
        { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 600 },
        signal,
      );
      for await (const event of events) {
        // An expired watch cannot be resumed without losing versions: the history would have gaps.
        if (event.type === 'ERROR') throw event.error;
        resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
        if (event.type !== 'BOOKMARK') history.record(event.type, event.object);
      }
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

interface ItemList {
  items: {
    metadata: { name: string };
    status?: { conditions?: { type: string; status: string; reason?: string }[] };
  }[];
}

/** How many of the test's items stand at Ready=True, and the other items' Ready reasons. */
function itemsReady(): { ready: number; others: Map<string, number> } {
  const result = kubectl(['get', 'onepassworditems', '-n', apps, '-o', 'json']);
  if (result.status !== 0) throw new Error(`kubectl get onepassworditems: ${result.stderr}`);
  const others = new Map<string, number>();
  let ready = 0;
  for (const item of (JSON.parse(result.stdout) as ItemList).items) {
    const condition = item.status?.conditions?.find((c) => c.type === 'Ready');
    if (condition?.status === 'True') ready += 1;
    else {
      const reason = condition?.reason ?? 'no Ready condition';
      others.set(reason, (others.get(reason) ?? 0) + 1);
    }
  }
  return { ready, others };
}

/** Synced Events (an item's Secret created) of the apps namespace, counted by reporting pod. */
function syncedEventsBy(): Map<string, number> {
  const result = kubectl(['get', 'events', '-n', apps, '-o', 'json']);
  if (result.status !== 0) throw new Error(`kubectl get events: ${result.stderr}`);
  const events = JSON.parse(result.stdout) as {
    items: { reason?: string; reportingInstance?: string; count?: number }[];
  };
  const counts = new Map<string, number>();
  for (const event of events.items) {
    if (event.reason !== 'Synced') continue;
    const by = event.reportingInstance ?? '';
    counts.set(by, (counts.get(by) ?? 0) + (event.count ?? 1));
  }
  return counts;
}

describe('the operator killed mid-sync on a real node', { timeout: 900_000 }, () => {
  let client: KubeClient | undefined;
  const stopWatch = new AbortController();
  const dataDir = mkdtempSync(join(tmpdir(), 'opk-restart-'));

  before(async () => {
    const { chartImageArgs } = await testNode();
    releaseNamespaces(namespace, apps, false);
    const dataFile = join(dataDir, 'connect-local.yaml');
    writeFileSync(dataFile, connectLocalData());
    // The injector is not part of this test: left out, it takes no CPU from the two cores.
    helmOk([
      'install',
      release,
      CHART_DIR,
      '-n',
      namespace,
      '--set',
      'connectLocal.enabled=true',
      '--set',
      'injector.create=false',
      '--set',
      `operator.pollingInterval=${POLLING_INTERVAL_SECONDS}`,
      '--set',
      `connectLocal.extraArgs={--admin-port=${ADMIN_PORT}}`,
      '--set-file',
      `connectLocal.data=${dataFile}`,
      '--set',
      'connectLocal.vaults={Production\\,r}',
      ...chartImageArgs,
    ]);
    await podsReady(namespace, `app.kubernetes.io/instance=${release}`, 2);
    // The admin listener's fault control, called from inside connect-local's pod with the secret
    // it keeps in its state dir (neither leaves the pod).
    const latency = kubectl([
      'exec',
      '-n',
      namespace,
      `deploy/${release}-op-kube-connect-local`,
      '--',
      'node',
      '-e',
      `
        const secret = require('node:fs').readFileSync('/tmp/connect-local/admin-secret', 'utf8').trim();
        fetch('http://127.0.0.1:${ADMIN_PORT}/admin/latency', {
          method: 'POST',
          headers: { authorization: 'Bearer ' + secret, 'content-type': 'application/json' },
          body: JSON.stringify({ ms: ${CONNECT_LATENCY_MS} }),
        }).then(async (r) => { if (!r.ok) { console.error(r.status, await r.text()); process.exit(1); } });
      `,
    ]);
    if (latency.status !== 0) throw new Error(`connect-local latency: ${latency.stderr}`);
  });

  after(async () => {
    stopWatch.abort();
    await client?.close();
    removeRelease(release, namespace, apps);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('200 items, the operator pod force-deleted mid-sync: the new pod converges, no Secret lost or blanked', async (t) => {
    client = kubeClientFor();
    const history = new SecretHistory();
    const watching = watchSecrets(client, history, stopWatch.signal);
    let watchFailure: Error | undefined;
    watching.catch((error: unknown) => {
      watchFailure = error instanceof Error ? error : new Error(String(error));
    });

    const [killed, ...others] = pods(namespace, OPERATOR);
    assert.ok(killed && others.length === 0 && isReady(killed), 'one Ready operator pod');

    const started = Date.now();
    const kube = client;
    await Promise.all(
      names.map((name) =>
        kube.request({
          method: 'POST',
          path: `/apis/onepassword.com/v1/namespaces/${apps}/onepassworditems`,
          body: {
            apiVersion: 'onepassword.com/v1',
            kind: 'OnePasswordItem',
            metadata: { name },
            spec: { itemPath: `vaults/Production/items/${name}` },
          },
          operation: `create OnePasswordItem ${apps}/${name}`,
        }),
      ),
    );
    const applied = Date.now();

    await eventually(
      `${KILL_AT} Secrets written by the first operator pod`,
      () => Promise.resolve(history.latest.size >= KILL_AT ? true : undefined),
      { timeoutMs: 120_000, intervalMs: 5 },
    );
    const deletion = kubectl([
      'delete',
      'pod',
      killed.metadata.name,
      '-n',
      namespace,
      '--grace-period=0',
      '--force',
    ]);
    assert.equal(deletion.status, 0, deletion.stderr);
    const killedAt = Date.now();
    const atKill = history.latest.size;
    t.diagnostic(
      `items created in ${applied - started} ms; operator pod force-deleted ` +
        `${killedAt - applied} ms later with ${atKill} of ${ITEMS} Secrets written`,
    );
    assert.ok(
      atKill < ITEMS,
      `the kill came after all ${ITEMS} Secrets were written: the test did not kill mid-sync`,
    );

    let lastReady: ReturnType<typeof itemsReady> | undefined;
    let replacementReadyAt: number | undefined;
    await eventually(
      `all ${ITEMS} Secrets right and all items Ready`,
      () => {
        if (watchFailure !== undefined) return Promise.reject(watchFailure);
        // Converged means the new pod is Ready too, not only that the Secrets are right.
        replacementReadyAt ??= pods(namespace, OPERATOR).some(
          (pod) => pod.metadata.uid !== killed.metadata.uid && isReady(pod),
        )
          ? Date.now()
          : undefined;
        if (replacementReadyAt === undefined || history.rightNow < ITEMS) {
          return Promise.resolve(undefined);
        }
        lastReady = itemsReady();
        return Promise.resolve(lastReady.ready === ITEMS ? true : undefined);
      },
      { timeoutMs: 300_000, intervalMs: 250 },
    ).catch((error: unknown) => {
      throw new Error(
        `${(error as Error).message}: ${history.rightNow} Secrets right, ` +
          `${lastReady?.ready ?? '?'} items Ready, others by reason ` +
          `${JSON.stringify(Object.fromEntries(lastReady?.others ?? []))}`,
      );
    });
    const converged = Date.now();
    assert.ok(replacementReadyAt !== undefined);
    const [replacement, ...extra] = await podsReady(namespace, OPERATOR, 1, 60_000);
    assert.ok(replacement && extra.length === 0, 'one operator pod');
    assert.notEqual(replacement.metadata.uid, killed.metadata.uid, 'a new operator pod');
    t.diagnostic(
      `new operator pod Ready ${((replacementReadyAt - killedAt) / 1000).toFixed(1)} s after ` +
        `the kill; converged ` +
        `${((converged - killedAt) / 1000).toFixed(1)} s after the kill ` +
        `(${((converged - applied) / 1000).toFixed(1)} s after the items were created)`,
    );
    // The new pod keeps polling: two intervals more must not touch any Secret's data.
    await sleep(2 * POLLING_INTERVAL_SECONDS * 1000 + 1000);
    stopWatch.abort();
    await watching.catch(() => {});
    assert.equal(watchFailure, undefined, `the Secret watch failed: ${String(watchFailure)}`);

    // Who created the Secrets: each pod reports Synced Events as itself (POD_NAME); looked at
    // after the wait above, so the new pod's Events are posted.
    const synced = syncedEventsBy();
    const byReplacement = synced.get(replacement.metadata.name) ?? 0;
    t.diagnostic(
      `Synced Events: ${synced.get(killed.metadata.name) ?? 0} from the killed pod, ` +
        `${byReplacement} from the new pod`,
    );
    assert.ok(
      byReplacement > 0,
      'the new pod created Secrets (else the killed pod finished the sync before it died)',
    );

    t.diagnostic(`${history.versions} Secret versions observed`);
    assert.deepEqual(history.deleted, [], 'no Secret was deleted');
    assert.deepEqual(history.wrong, [], 'no Secret version had empty or wrong data');
    assert.equal(history.latest.size, ITEMS);
    assert.equal(history.rightNow, ITEMS);
  });
});
