// The webhook keeps admitting pods (failurePolicy Fail) while it changes: through helm upgrade and
// helm rollback as their rollouts run, and with two replicas while one is deleted mid-burst. Every
// pod created meanwhile must be admitted and mutated; a failure is a pod a user could not start.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type V1Pod,
} from '@kubernetes/client-node';
import { CHART_DIR } from '../../tools/render-deploy.ts';
import { adminClient, eventually, kubectl } from '../support/cluster.ts';
import {
  helmAsync,
  helmOk,
  podsReady,
  releaseNamespaces,
  testNode,
  type TestNode,
  removeRelease,
} from '../support/node.ts';

const suffix = randomBytes(3).toString('hex');
const release = `avail-${suffix}`;
const namespace = `opk-avail-${suffix}`;
const apps = `opk-avail-apps-${suffix}`;
const webhook = `${release}-op-kube-webhook`;
const webhookPods = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=injector`;
/** No such node: the pods created here are admitted and stored, and never run (the node stays idle). */
const NOWHERE = 'opk-no-such-node';

interface Tally {
  readonly created: number;
  /** One line per creation the apiserver refused: the webhook was not reachable or failed. */
  readonly failed: readonly string[];
  /** Pods stored without the webhook's mark: admitted, but not through the webhook. */
  readonly notMutated: readonly string[];
}

const summary = (tally: Tally): string =>
  `created ${tally.created}, failed ${tally.failed.length}, not mutated ${tally.notMutated.length}`;

function reason(error: unknown): string {
  if (error instanceof ApiException) {
    const body = typeof error.body === 'string' ? error.body : JSON.stringify(error.body);
    return `${error.code}: ${body.slice(0, 400)}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Creates an injected pod in `apps` every `intervalMs` (not waiting for the previous one, so a slow
 * admission does not thin the sample) while `during` runs, then waits for the creations in flight.
 */
async function creatingPods<T>(
  node: TestNode,
  label: string,
  intervalMs: number,
  during: () => Promise<T>,
): Promise<{ tally: Tally; result: T }> {
  const core = adminClient(CoreV1Api);
  const failed: string[] = [];
  const notMutated: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let created = 0;
  let stop = false;
  let count = 0;

  const createOne = async (name: string): Promise<void> => {
    const startedAt = new Date().toISOString();
    try {
      const pod = await core.createNamespacedPod({
        namespace: apps,
        body: {
          metadata: {
            name,
            annotations: {
              'operator.1password.io/inject': 'app',
              'operator.1password.io/version': node.images.opStandin.tag,
            },
          },
          spec: {
            nodeName: NOWHERE,
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            containers: [
              {
                name: 'app',
                image: node.images.product.ref,
                imagePullPolicy: 'IfNotPresent',
                command: ['node', '-e', ''],
                env: [{ name: 'DB_PASSWORD', value: 'op://Production/database/password' }],
              },
            ],
          },
        },
      });
      created += 1;
      if (pod.metadata?.annotations?.['operator.1password.io/status'] !== 'injected') {
        notMutated.push(name);
      }
    } catch (error) {
      failed.push(`${startedAt} ${name}: ${reason(error)}`);
    }
  };

  const loop = (async () => {
    while (!stop) {
      count += 1;
      const creation = createOne(`${label}-${count}`);
      inFlight.add(creation);
      void creation.finally(() => inFlight.delete(creation));
      await sleep(intervalMs);
    }
  })();
  const settle = async (): Promise<void> => {
    stop = true;
    await loop;
    await Promise.all(inFlight);
    // The pods served their purpose when they were admitted; nothing runs them.
    kubectl(['delete', 'pods', '--all', '-n', apps, '--grace-period=0', '--force', '--wait=false']);
  };
  let result: T;
  try {
    result = await during();
  } finally {
    await settle();
  }
  return { tally: { created, failed, notMutated }, result };
}

interface Rollout {
  /** The Deployment reports every replica updated and available. */
  readonly completeMs: number;
  /** And the replaced pods are gone: their shutdown (not ready, still serving, then closed) is over. */
  readonly drainedMs: number;
}

/** The webhook's pods, without blocking the event loop (kubectl would pause the pod creations). */
async function webhookPodList(): Promise<V1Pod[]> {
  return (await adminClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: webhookPods }))
    .items;
}

/** Waits, from `startedAt`, until the webhook Deployment has rolled out and its old pods are gone. */
async function rolledOut(startedAt: number, replicas: number): Promise<Rollout> {
  const appsApi = adminClient(AppsV1Api);
  let completeMs: number | undefined;
  const drainedMs = await eventually(
    `the webhook Deployment rolled out to ${replicas} replica(s), old pods gone`,
    async () => {
      const deployment = await appsApi.readNamespacedDeployment({ name: webhook, namespace });
      const status = deployment.status ?? {};
      const complete =
        (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 1) &&
        status.updatedReplicas === replicas &&
        status.availableReplicas === replicas &&
        status.replicas === replicas;
      if (!complete) return undefined;
      completeMs ??= Date.now() - startedAt;
      const current = await webhookPodList();
      return current.length === replicas && current.every((pod) => !pod.metadata?.deletionTimestamp)
        ? Date.now() - startedAt
        : undefined;
    },
    { timeoutMs: 240_000, intervalMs: 250 },
  );
  return { completeMs: completeMs ?? drainedMs, drainedMs };
}

/** Pods the webhook replica `pod` has injected in `apps`, from its /metrics (through the apiserver's pod proxy). */
async function admittedBy(pod: V1Pod): Promise<number> {
  const text = await adminClient(CoreV1Api).connectGetNamespacedPodProxyWithPath({
    name: `https:${pod.metadata?.name ?? ''}:8443`,
    namespace,
    path: 'metrics',
  });
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('op_kube_webhook_admissions_total{') &&
        l.includes(`namespace="${apps}"`) &&
        l.includes('outcome="injected"'),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The pod annotation the upgrade sets (so the Deployment rolls) and the rollback removes. */
const REVISION = 'op-kube.test/revision';

/** Creation keeps going this long after a rollout drained, to catch a late refusal. */
const MARGIN_MS = 3_000;

describe(
  'the webhook keeps admitting through upgrade, rollback and losing a replica',
  { timeout: 900_000 },
  () => {
    let node: TestNode;
    let baseArgs: string[];

    before(async () => {
      node = await testNode();
      baseArgs = ['-n', namespace, '--set', 'connectLocal.enabled=true', ...node.chartImageArgs];
      releaseNamespaces(namespace, apps);
    });

    after(() => {
      removeRelease(release, namespace, apps);
    });

    it('helm install: every pod Ready, and a pod created now is mutated', async (t) => {
      const started = Date.now();
      helmOk(['install', release, CHART_DIR, ...baseArgs]);
      await podsReady(namespace, `app.kubernetes.io/instance=${release}`, 3);
      t.diagnostic(`helm install to all pods Ready: ${seconds(Date.now() - started)}`);
      // The webhook is Ready; the apiserver reaches it once its Service has the endpoint and the
      // leader has written the caBundle.
      await eventually(
        'a pod admitted and mutated through the webhook',
        async () => {
          const { tally } = await creatingPods(node, `first-${Date.now()}`, 1_000, () => sleep(1));
          return tally.created === 1 && tally.notMutated.length === 0 ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 1_000 },
      );
    });

    it('helm upgrade (a pod annotation rolls the webhook): every pod created meanwhile admitted', async (t) => {
      const [old] = await webhookPodList();
      const started = Date.now();
      const { tally, result } = await creatingPods(node, 'upgrade', 250, async () => {
        await helmAsync([
          'upgrade',
          release,
          CHART_DIR,
          ...baseArgs,
          '--set',
          `injector.podAnnotations.${REVISION.replace('.', '\\.')}=upgrade-${suffix}`,
        ]);
        const rollout = await rolledOut(started, 1);
        await sleep(MARGIN_MS);
        return rollout;
      });
      t.diagnostic(
        `upgrade: ${summary(tally)}; rollout complete ${seconds(result.completeMs)}, ` +
          `old pod gone ${seconds(result.drainedMs)}`,
      );
      const [current] = await webhookPodList();
      assert.notEqual(current?.metadata?.uid, old?.metadata?.uid, 'the upgrade replaced the pod');
      assert.equal(current?.metadata?.annotations?.[REVISION], `upgrade-${suffix}`);
      assert.ok(tally.created > 20, `pods were created throughout the rollout (${summary(tally)})`);
      assert.deepEqual(tally.failed, [], summary(tally));
      assert.deepEqual(tally.notMutated, [], summary(tally));
    });

    it('helm rollback: every pod created meanwhile admitted', async (t) => {
      const [old] = await webhookPodList();
      const started = Date.now();
      const { tally, result } = await creatingPods(node, 'rollback', 250, async () => {
        await helmAsync(['rollback', release, '1', '-n', namespace]);
        const rollout = await rolledOut(started, 1);
        await sleep(MARGIN_MS);
        return rollout;
      });
      t.diagnostic(
        `rollback: ${summary(tally)}; rollout complete ${seconds(result.completeMs)}, ` +
          `old pod gone ${seconds(result.drainedMs)}`,
      );
      const [current] = await webhookPodList();
      assert.notEqual(current?.metadata?.uid, old?.metadata?.uid, 'the rollback replaced the pod');
      assert.equal(
        current?.metadata?.annotations?.[REVISION],
        undefined,
        'the rollback restored the first revision',
      );
      assert.ok(tally.created > 20, `pods were created throughout the rollout (${summary(tally)})`);
      assert.deepEqual(tally.failed, [], summary(tally));
      assert.deepEqual(tally.notMutated, [], summary(tally));
    });

    it('two replicas: one deleted (with its grace period) during a burst, zero failures', async (t) => {
      const started = Date.now();
      helmOk([
        'upgrade',
        release,
        CHART_DIR,
        ...baseArgs,
        '--set',
        'injector.replicas=2',
        '--set',
        'injector.podDisruptionBudget.enabled=true',
      ]);
      await rolledOut(started, 2);
      const pdb = kubectl(['get', 'pdb', webhook, '-n', namespace, '-o', 'name']);
      assert.equal(
        pdb.status,
        0,
        `the chart made the injector's PodDisruptionBudget: ${pdb.stderr}`,
      );

      const pair = await webhookPodList();
      assert.equal(pair.length, 2);
      const discovery = adminClient(DiscoveryV1Api);
      const endpointReady = async (ip: string): Promise<boolean> => {
        const slices = await discovery.listNamespacedEndpointSlice({
          namespace,
          labelSelector: `kubernetes.io/service-name=${webhook}`,
        });
        return slices.items.some((slice) =>
          (slice.endpoints ?? []).some(
            (endpoint) => endpoint.addresses.includes(ip) && endpoint.conditions?.ready === true,
          ),
        );
      };

      let deletedAt = 0;
      let endpointDroppedMs: number | undefined;
      let victimServed = 0;
      const { tally, result } = await creatingPods(node, 'burst', 100, async () => {
        // The victim is the replica the apiserver is sending reviews to (its kept-alive
        // connections may all lead to one of the two): deleting the idle one would prove nothing.
        const before = await Promise.all(pair.map(admittedBy));
        await sleep(2_000);
        const served = (await Promise.all(pair.map(admittedBy))).map(
          (count, i) => count - (before[i] ?? 0),
        );
        const busiest = served.indexOf(Math.max(...served));
        const victim = pair[busiest];
        victimServed = served[busiest] ?? 0;
        assert.ok(victim?.metadata?.name && victim.status?.podIP);
        assert.ok(victimServed > 0, `a replica admitted the burst's pods (${served.join(', ')})`);
        const victimIp = victim.status.podIP;
        assert.equal(await endpointReady(victimIp), true, 'the victim is a ready endpoint before');
        deletedAt = Date.now();
        const deleted = kubectl([
          'delete',
          'pod',
          victim.metadata.name,
          '-n',
          namespace,
          '--wait=false',
        ]);
        assert.equal(deleted.status, 0, deleted.stderr);
        await eventually(
          'the deleted pod leaves the ready endpoints',
          async () => ((await endpointReady(victimIp)) ? undefined : true),
          { timeoutMs: 60_000, intervalMs: 100 },
        );
        endpointDroppedMs = Date.now() - deletedAt;
        const gone = await eventually(
          'the deleted webhook pod gone',
          async () =>
            (await webhookPodList()).some((pod) => pod.metadata?.uid === victim.metadata?.uid)
              ? undefined
              : Date.now() - deletedAt,
          { timeoutMs: 60_000, intervalMs: 250 },
        );
        const replaced = await rolledOut(deletedAt, 2);
        await sleep(MARGIN_MS);
        return { gone, replaced };
      });
      t.diagnostic(
        `burst: ${summary(tally)}; the deleted replica had admitted ${victimServed} in 2 s; after the delete: endpoint not ready ` +
          `${seconds(endpointDroppedMs ?? Number.NaN)}, pod gone ${seconds(result.gone)}, ` +
          `two replicas available again ${seconds(result.replaced.completeMs)}`,
      );
      assert.ok(tally.created > 50, `a burst of pods was created (${summary(tally)})`);
      assert.deepEqual(tally.failed, [], summary(tally));
      assert.deepEqual(tally.notMutated, [], summary(tally));
    });
  },
);
