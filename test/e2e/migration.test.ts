// The migration of issue #13, end to end, on a private control plane (it replaces the CRD, which
// the shared plane's other tests rely on). It starts from the state 1Password's operator and
// injector leave behind (facts read from their sources, not copied): 1Password's CRD as its chart
// installs it; OnePasswordItems and annotated Deployments carrying `onepassword.com/finalizer.secret`;
// Secrets with its annotations, its labels (the item's) and its ownerReference (apiVersion, kind,
// name, uid: no controller, no blockOwnerDeletion); a workload reading them with the token env
// 1Password's injector documents; the injector's `secrets-injector-webhook-config` and token
// Secrets. It then follows the README's migration steps (`op-kube crds apply`, the operator
// against connect-local holding the same items — started while 1Password's operator still holds
// and renews their shared Lease, so it must wait, write nothing, and take over only once 1Password's
// is scaled away and the Lease expires —, the injector's configuration removed) and checks:
// Secret data and uids unchanged, no workload restart, every item Ready with its reason in
// `kubectl get opi`, deletes of items and annotated Deployments complete, namespace deletion
// completes. 1Password's operator sample item is applied unchanged after the switch.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Deployment,
  type V1OwnerReference,
  type V1Secret,
} from '@kubernetes/client-node';
import { repoRoot } from '../../tools/cluster/paths.ts';
import {
  ITEM_CRD_NAME,
  assessCrd,
  type CustomResourceDefinition,
} from '../../src/operator/crd-check.ts';
import { eventually, isStatus, kubeConfigFor, kubectl, privatePlane } from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { launcher, startConnectLocal } from '../support/connect-local.ts';
import { onePasswordWebhookConfiguration } from '../support/onepassword-injector.ts';
import {
  ONEPASSWORD_FINALIZER,
  ONEPASSWORD_READY_STATUS,
  onePasswordSecret,
} from '../support/onepassword-operator.ts';
import { startOperator } from '../support/operator.ts';

const { plane, remove: removePlane } = privatePlane('migration');
const THEIRS = join(repoRoot, 'test', 'fixtures', '1password-crd', 'chart.yaml');
const SAMPLE = join(
  repoRoot,
  'test',
  'fixtures',
  'onepassword-operator-samples',
  'onepassword_v1_onepassworditem.yaml',
);
const FINALIZER = ONEPASSWORD_FINALIZER;
const NAMESPACE = 'shop';
const INJECTOR_NAMESPACE = 'onepassword';
const WEBHOOK_CONFIG = 'secrets-injector-webhook-config';
const VAULT_ID = 'production0000000000000000';
const ITEMS = {
  db: 'database000000000000000000',
  api: 'apikey0000000000000000000a',
  web: 'webcreds000000000000000000',
  solo: 'solocreds00000000000000000',
} as const;
const path = (item: keyof typeof ITEMS): string => `vaults/${VAULT_ID}/items/${ITEMS[item]}`;
const DATA = dataFile({
  name: 'Production',
  id: VAULT_ID,
  items: [
    passwordItem('database', 'db-password', { id: ITEMS.db }),
    passwordItem('api', 'api-password', { id: ITEMS.api }),
    passwordItem('web', 'web-password', { id: ITEMS.web }),
    passwordItem('solo', 'solo-password', { id: ITEMS.solo }),
  ],
});

function ok(args: readonly string[]): string {
  const result = kubectl(args, plane);
  assert.equal(result.status, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function clients(): {
  apps: AppsV1Api;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  admission: AdmissionregistrationV1Api;
} {
  const config = kubeConfigFor(plane);
  return {
    apps: config.makeApiClient(AppsV1Api),
    core: config.makeApiClient(CoreV1Api),
    custom: config.makeApiClient(CustomObjectsApi),
    admission: config.makeApiClient(AdmissionregistrationV1Api),
  };
}

const ITEM_API = {
  group: 'onepassword.com',
  version: 'v1',
  namespace: NAMESPACE,
  plural: 'onepassworditems',
} as const;

interface Item {
  metadata: { name: string; uid: string; finalizers?: string[] };
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
}

function secretBy1Password(
  name: string,
  item: keyof typeof ITEMS,
  value: string,
  owner: V1OwnerReference,
  annotations: Record<string, string> = {},
  labels?: Record<string, string>,
): V1Secret {
  return onePasswordSecret({
    name,
    itemPath: path(item),
    data: { password: value },
    owner,
    annotations,
    ...(labels ? { labels } : {}),
  });
}

/** An annotated Deployment as 1Password's operator leaves it: its finalizer added. */
function annotatedWithFinalizer(name: string, item: keyof typeof ITEMS): V1Deployment {
  return {
    metadata: {
      name,
      finalizers: [FINALIZER],
      annotations: {
        'operator.1password.io/item-path': path(item),
        'operator.1password.io/item-name': `${name}-db`,
      },
    },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    },
  };
}

/** The app: reads the item's Secret and web's Secret, injected by 1Password's injector. */
const APP: V1Deployment = {
  metadata: { name: 'app' },
  spec: {
    selector: { matchLabels: { app: 'app' } },
    template: {
      metadata: {
        labels: { app: 'app' },
        annotations: { 'operator.1password.io/inject': 'app' },
      },
      spec: {
        containers: [
          {
            name: 'app',
            image: 'registry.invalid/app:1',
            command: ['/app/run'],
            env: [
              { name: 'OP_CONNECT_HOST', value: 'http://onepassword-connect:8080' },
              {
                name: 'OP_CONNECT_TOKEN',
                valueFrom: { secretKeyRef: { name: 'connect-token', key: 'token' } },
              },
              { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
            ],
            envFrom: [{ secretRef: { name: 'web-db' } }],
          },
        ],
      },
    },
  },
};

function dataHash(secret: V1Secret): string {
  const entries = Object.entries(secret.data ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return createHash('sha256')
    .update(JSON.stringify([secret.type, entries]))
    .digest('hex');
}

async function secretsState(namespace: string): Promise<Map<string, string>> {
  const { core } = clients();
  const listed = await core.listNamespacedSecret({ namespace });
  return new Map(
    listed.items.map((secret) => [
      secret.metadata?.name ?? '',
      `${secret.metadata?.uid} ${dataHash(secret)}`,
    ]),
  );
}

/** Per Deployment: its pod template (annotations included) and its ReplicaSets. */
async function workloadsState(): Promise<Map<string, string>> {
  const { apps } = clients();
  const deployments = await apps.listNamespacedDeployment({ namespace: NAMESPACE });
  const sets = await apps.listNamespacedReplicaSet({ namespace: NAMESPACE });
  return new Map(
    deployments.items.map((deployment) => {
      const name = deployment.metadata?.name ?? '';
      const owned = sets.items
        .filter((set) => set.metadata?.ownerReferences?.some((owner) => owner.name === name))
        .map((set) => set.metadata?.name)
        .sort();
      return [
        name,
        JSON.stringify({
          template: deployment.spec?.template,
          generation: deployment.metadata?.generation,
          replicaSets: owned,
        }),
      ];
    }),
  );
}

/** A MicroTime as controller-runtime writes it: six fractional digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * 1Password's operator holding `c26807fd.onepassword.com` (holder `<pod>_<uuid>`, 15 s, renewed
 * every 2 s) until stop() — which, like a pod scaled away without release, leaves it to expire.
 */
function holdLeaseAs1Password(): { stop: () => Promise<void> } {
  const name = 'c26807fd.onepassword.com';
  const now = microTime(new Date());
  const file = join(plane.dir, 'onepassword-lease.json');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: INJECTOR_NAMESPACE },
      spec: {
        holderIdentity:
          'onepassword-connect-operator-5d8f7c9b4-x2x7q_3f2a9c1e-8d47-4b8e-9a51-2c6d0e7f1b33',
        leaseDurationSeconds: 15,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      },
    }),
  );
  ok(['create', '-f', file]);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await sleep(2_000);
      if (stopped) break;
      ok([
        'patch',
        'lease',
        name,
        '-n',
        INJECTOR_NAMESPACE,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { renewTime: microTime(new Date()) } }),
      ]);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function gone(read: () => Promise<unknown>): Promise<true | undefined> {
  try {
    await read();
    return undefined;
  } catch (error) {
    if (isStatus(error, 404)) return true;
    throw error;
  }
}

describe("migrating from 1Password's operator and injector", () => {
  let secretsBefore: Map<string, string>;
  let tokenBefore: V1Secret;

  before(async () => {
    assert.equal(await plane.up(), 'started');
    const { apps, core, custom, admission } = clients();
    // 1Password's chart installs its CRD as Helm does: a plain create.
    ok(['create', '-f', THEIRS]);
    ok(['wait', '--for=condition=Established', '--timeout=60s', `crd/${ITEM_CRD_NAME}`]);
    for (const name of [NAMESPACE, INJECTOR_NAMESPACE]) {
      await core.createNamespace({
        body: {
          metadata: {
            name,
            ...(name === NAMESPACE ? { labels: { 'secrets-injection': 'enabled' } } : {}),
          },
        },
      });
    }
    // The injector's state: its configuration (k8s_client.go's spec) and the token Secrets (the
    // chart's operator.token Secret, and the one the app's env reads).
    await admission.createMutatingWebhookConfiguration({
      body: onePasswordWebhookConfiguration({
        caBundle: Buffer.from('not a CA of this test').toString('base64'),
        service: { name: 'secrets-injector', namespace: INJECTOR_NAMESPACE, path: '/inject' },
      }),
    });
    const token = Buffer.from('connect-token-of-the-test').toString('base64');
    await core.createNamespacedSecret({
      namespace: INJECTOR_NAMESPACE,
      body: { metadata: { name: 'onepassword-token' }, data: { token } },
    });
    tokenBefore = await core.createNamespacedSecret({
      namespace: NAMESPACE,
      body: { metadata: { name: 'connect-token' }, data: { token } },
    });

    // The operator's state: items (with 1Password's status: Ready, no reason), their Secrets.
    for (const [name, item, labels] of [
      ['db', 'db', { team: 'payments' }],
      ['api', 'api', undefined],
    ] as const) {
      const created = (await custom.createNamespacedCustomObject({
        ...ITEM_API,
        body: {
          apiVersion: 'onepassword.com/v1',
          kind: 'OnePasswordItem',
          metadata: { name, finalizers: [FINALIZER], ...(labels ? { labels } : {}) },
          spec: { itemPath: path(item) },
        },
      })) as Item;
      ok([
        'patch',
        'onepassworditems',
        name,
        '-n',
        NAMESPACE,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify(ONEPASSWORD_READY_STATUS),
      ]);
      await core.createNamespacedSecret({
        namespace: NAMESPACE,
        body: secretBy1Password(
          name,
          item,
          item === 'db' ? 'db-password' : 'api-password',
          {
            apiVersion: 'onepassword.com/v1',
            kind: 'OnePasswordItem',
            name,
            uid: created.metadata.uid,
          },
          {},
          labels,
        ),
      });
    }
    // Annotated Deployments (finalizer) and their Secrets, then the app reading them.
    for (const [name, item] of [
      ['web', 'web'],
      ['solo', 'solo'],
    ] as const) {
      const created = await apps.createNamespacedDeployment({
        namespace: NAMESPACE,
        body: annotatedWithFinalizer(name, item),
      });
      await core.createNamespacedSecret({
        namespace: NAMESPACE,
        body: secretBy1Password(
          `${name}-db`,
          item,
          `${item}-password`,
          { apiVersion: 'apps/v1', kind: 'Deployment', name, uid: created.metadata?.uid ?? '' },
          created.metadata?.annotations ?? {},
        ),
      });
    }
    await apps.createNamespacedDeployment({ namespace: NAMESPACE, body: APP });
    // The Deployment controller has made each one ReplicaSet (no pod: the injector's webhook
    // has no endpoint and fails closed, as with 1Password's injector gone).
    await eventually('a ReplicaSet per Deployment', async () => {
      const sets = await apps.listNamespacedReplicaSet({ namespace: NAMESPACE });
      return sets.items.length === 3 ? true : undefined;
    });
    secretsBefore = await secretsState(NAMESPACE);
  });

  after(async () => {
    await removePlane();
  });

  it("step 1: `op-kube crds apply` upgrades 1Password's CRD in place, items kept", async () => {
    const crdBefore = JSON.parse(
      ok(['get', 'crd', ITEM_CRD_NAME, '-o', 'json']),
    ) as CustomResourceDefinition;
    assert.equal(assessCrd(crdBefore).outdated, true);
    const applied = spawnSync(
      process.execPath,
      [launcher, 'crds', 'apply', `--kubeconfig=${plane.kubeconfigPath}`],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(applied.status, 0, applied.stderr);
    const crd = JSON.parse(
      ok(['get', 'crd', ITEM_CRD_NAME, '-o', 'json']),
    ) as CustomResourceDefinition;
    assert.equal(crd.metadata?.uid, crdBefore.metadata?.uid);
    assert.equal(assessCrd(crd).outdated, false);
    const { custom } = clients();
    // Right after the CRD changes, the apiserver answers 429 while it re-initializes its storage.
    const items = await eventually(
      'the items, served again',
      async () => (await custom.listNamespacedCustomObject(ITEM_API)) as { items: Item[] },
    );
    assert.deepEqual(items.items.map((item) => item.metadata.name).sort(), ['api', 'db']);
    assert.deepEqual(await secretsState(NAMESPACE), secretsBefore);
  });

  it('step 2: the operator takes over: Secret data and uids unchanged, no restart, every item Ready with its reason', async (t) => {
    const workloadsBefore = await workloadsState();
    // 1Password's operator still runs during the switch: it holds their shared Lease (as
    // controller-runtime writes it) and renews it every 2 s, as its RetryPeriod does.
    const renewal = holdLeaseAs1Password();
    const connect = await startConnectLocal(t, { data: DATA });
    const operator = await startOperator(t, {
      plane,
      connectUrl: connect.url,
      token: await connect.token({ vaults: ['Production,r'] }),
      namespaces: [NAMESPACE],
      args: ['--leader-elect', `--leader-election-namespace=${INJECTOR_NAMESPACE}`],
    });
    // While 1Password's operator holds the Lease, op-kube writes nothing: no status, no Secret.
    await sleep(4_000);
    assert.doesNotMatch(operator.logs(), /became leader/);
    const untouched = JSON.parse(ok(['get', 'opi', '-n', NAMESPACE, '-o', 'json'])) as {
      items: Item[];
    };
    for (const item of untouched.items) {
      assert.deepEqual(
        item.status?.conditions?.map((condition) => condition.reason),
        [undefined],
        `${item.metadata.name}: still as 1Password's operator left it`,
      );
    }
    assert.deepEqual(await secretsState(NAMESPACE), secretsBefore);
    // 1Password's operator is scaled to 0: its Lease expires (15 s) and op-kube takes over.
    const stoppedAt = Date.now();
    await renewal.stop();
    await eventually(
      'op-kube to lead once the Lease expired',
      () => Promise.resolve(/became leader/.test(operator.logs()) ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const handOverMs = Date.now() - stoppedAt;
    assert.ok(handOverMs >= 10_000, `not before the Lease expired (${handOverMs} ms)`);
    const lease = JSON.parse(
      ok(['get', 'lease', 'c26807fd.onepassword.com', '-n', INJECTOR_NAMESPACE, '-o', 'json']),
    ) as { spec: { holderIdentity?: string; leaseTransitions?: number } };
    assert.doesNotMatch(lease.spec.holderIdentity ?? '', /^onepassword-connect-operator-/);
    assert.equal(lease.spec.leaseTransitions, 1);
    t.diagnostic(`Lease handed over ${handOverMs} ms after 1Password's operator stopped renewing`);
    await eventually('every item Ready (Synced)', () => {
      const listed = JSON.parse(ok(['get', 'opi', '-n', NAMESPACE, '-o', 'json'])) as {
        items: Item[];
      };
      return listed.items.length === 2 &&
        listed.items.every((item) =>
          item.status?.conditions?.some(
            (condition) =>
              condition.type === 'Ready' &&
              condition.status === 'True' &&
              condition.reason === 'Synced',
          ),
        )
        ? true
        : undefined;
    });
    const table = ok(['get', 'opi', '-n', NAMESPACE]);
    assert.match(table, /READY\s+REASON\s+VERSION\s+SYNCED\s+AGE/);
    assert.match(table, /\napi\s+True\s+Synced\s+1\s/);
    assert.match(table, /\ndb\s+True\s+Synced\s+1\s/);
    // The app's read of web-db is taken into account (web and app both own it) before comparing.
    const { core } = clients();
    await eventually('web-db owned by app and web', async () => {
      const secret = await core.readNamespacedSecret({ namespace: NAMESPACE, name: 'web-db' });
      const owners = (secret.metadata?.ownerReferences ?? []).map((owner) => owner.name).sort();
      return owners.join(',') === 'app,web' ? true : undefined;
    });
    // Several polls (1 s) later: nothing rewritten, nothing restarted.
    await sleep(3_000);
    assert.deepEqual(await secretsState(NAMESPACE), secretsBefore);
    assert.deepEqual(await workloadsState(), workloadsBefore);
    const token = await core.readNamespacedSecret({ namespace: NAMESPACE, name: 'connect-token' });
    assert.deepEqual(token.metadata?.ownerReferences, undefined);
    assert.deepEqual(token.metadata?.annotations, tokenBefore.metadata?.annotations);
    const logs = operator.logs();
    assert.doesNotMatch(logs, /db-password|web-password|connect-token-of-the-test/);
    assert.doesNotMatch(logs, /"level":50/);

    // 1Password's operator sample, applied unchanged: accepted by the upgraded CRD; its
    // placeholder path cannot sync, and `kubectl get opi` says why.
    ok(['apply', '-n', NAMESPACE, '-f', SAMPLE]);
    const reason = await eventually('the sample reported not Ready with a reason', () => {
      const sample = JSON.parse(
        ok(['get', 'opi', 'onepassworditem-sample', '-n', NAMESPACE, '-o', 'json']),
      ) as Item;
      const ready = sample.status?.conditions?.find((condition) => condition.type === 'Ready');
      return ready?.status === 'False' && ready.reason ? ready.reason : undefined;
    });
    assert.notEqual(reason, 'Synced');
    assert.match(
      ok(['get', 'opi', 'onepassworditem-sample', '-n', NAMESPACE]),
      new RegExp(`onepassworditem-sample\\s+False\\s+${reason}\\s`),
    );
    assert.deepEqual(await secretsState(NAMESPACE), secretsBefore);

    // Deletes complete: the item (its Secret goes, as with 1Password), an annotated Deployment
    // whose Secret the app still reads (the Secret stays), then the namespace with what is left.
    const { apps, custom } = clients();
    await custom.deleteNamespacedCustomObject({ ...ITEM_API, name: 'db' });
    await eventually('item db and Secret db gone', async () =>
      (await gone(() => custom.getNamespacedCustomObject({ ...ITEM_API, name: 'db' }))) &&
      (await gone(() => core.readNamespacedSecret({ namespace: NAMESPACE, name: 'db' })))
        ? true
        : undefined,
    );
    await apps.deleteNamespacedDeployment({ namespace: NAMESPACE, name: 'web' });
    await eventually('Deployment web gone', () =>
      gone(() => apps.readNamespacedDeployment({ namespace: NAMESPACE, name: 'web' })),
    );
    // The garbage collector drops the deleted owner's reference a moment after the owner is gone.
    const kept = await eventually('Secret web-db owned by app alone', async () => {
      const secret = await core.readNamespacedSecret({ namespace: NAMESPACE, name: 'web-db' });
      const owners = (secret.metadata?.ownerReferences ?? []).map((owner) => owner.name);
      return owners.length === 1 && owners[0] === 'app' ? secret : undefined;
    });
    assert.equal(kept.metadata?.uid, secretsBefore.get('web-db')?.split(' ')[0]);

    // The injector is switched: its configuration, left behind by 1Password, is deleted.
    const { admission } = clients();
    await admission.deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIG });

    await core.deleteNamespace({ name: NAMESPACE });
    await eventually(
      'namespace deletion to complete (item api, Deployment solo with the finalizer)',
      () => gone(() => core.readNamespace({ name: NAMESPACE })),
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.doesNotMatch(operator.logs(), /db-password|web-password|connect-token-of-the-test/);
    await operator.stop();
  });
});
