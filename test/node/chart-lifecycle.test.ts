// The chart on a real node, as a user evaluates it: helm install with connect-local, pods Running and
// Ready under restricted Pod Security, a OnePasswordItem synced by the in-cluster operator, an edit
// rolling an auto-restart Deployment, a pod injected through the webhook's Service that sees the
// resolved value, and helm uninstall leaving nothing of the release behind.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CHART_DIR } from '../../tools/render-deploy.ts';
import { eventually, kubectl } from '../support/cluster.ts';
import {
  apply,
  releaseNamespaces,
  helmOk,
  podsReady,
  pods,
  testNode,
  type PodView,
  type TestNode,
  removeRelease,
} from '../support/node.ts';

const suffix = randomBytes(3).toString('hex');
const release = `node-${suffix}`;
const namespace = `opk-node-${suffix}`;
const apps = `opk-node-apps-${suffix}`;
const fullname = `${release}-op-kube`;
/** From examples/connect-local.yaml, the chart's default connect-local data. */
const SEEDED_PASSWORD = 's3cr3t';
const ROTATED_PASSWORD = `rotated-${randomBytes(6).toString('hex')}`;

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

function kubectlOk(args: readonly string[]): string {
  const result = kubectl(args);
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function secretValue(ns: string, name: string, key: string): string | undefined {
  const result = kubectl(['get', 'secret', name, '-n', ns, '-o', 'json']);
  if (result.status !== 0) return undefined;
  const data = (JSON.parse(result.stdout) as { data?: Record<string, string> }).data ?? {};
  const encoded = data[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
}

/** The Connect API of the in-cluster connect-local, called from inside its own pod. */
function connectLocalExec(script: string): string {
  return kubectlOk([
    'exec',
    '-n',
    namespace,
    `deploy/${fullname}-connect-local`,
    '--',
    'node',
    '-e',
    script,
  ]);
}

describe('the chart on a real node', { timeout: 900_000 }, () => {
  let node: TestNode;

  before(async () => {
    node = await testNode();
    releaseNamespaces(namespace, apps);
  });

  after(() => {
    removeRelease(release, namespace, apps);
  });

  it('helm install with connect-local: every pod Running and Ready, restricted, read-only root', async (t) => {
    const started = Date.now();
    helmOk([
      'install',
      release,
      CHART_DIR,
      '-n',
      namespace,
      '--set',
      'connectLocal.enabled=true',
      '--set',
      'operator.autoRestart=true',
      '--set',
      'operator.pollingInterval=2',
      ...node.chartImageArgs,
    ]);
    const ready = await podsReady(namespace, `app.kubernetes.io/instance=${release}`, 3);
    t.diagnostic(`helm install to all pods Ready: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const components = ready.map((pod) => pod.metadata.labels?.['app.kubernetes.io/component']);
    assert.deepEqual(components.sort(), ['connect-local', 'injector', 'operator'].sort());
    for (const pod of ready) {
      for (const container of pod.spec.containers) {
        assert.equal(
          container.securityContext?.readOnlyRootFilesystem,
          true,
          `${pod.metadata.name}/${container.name} has a read-only root filesystem`,
        );
      }
    }
  });

  it('a OnePasswordItem becomes a Secret written by the in-cluster operator', async () => {
    apply(
      {
        apiVersion: 'onepassword.com/v1',
        kind: 'OnePasswordItem',
        metadata: { name: 'database' },
        spec: { itemPath: 'vaults/Production/items/database' },
      },
      apps,
    );
    await eventually(
      'Secret database written',
      () => (secretValue(apps, 'database', 'password') === SEEDED_PASSWORD ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  });

  it('an item edited in connect-local updates the Secret and rolls the auto-restart Deployment', async () => {
    apply(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'consumer' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'consumer' } },
          template: {
            metadata: { labels: { app: 'consumer' } },
            spec: {
              automountServiceAccountToken: false,
              containers: [
                {
                  name: 'consumer',
                  image: `${node.images.product.ref}`,
                  imagePullPolicy: 'IfNotPresent',
                  command: ['node', '-e', 'setInterval(() => {}, 1 << 30)'],
                  envFrom: [{ secretRef: { name: 'database' } }],
                },
              ],
            },
          },
        },
      },
      apps,
    );
    const [first] = await podsReady(apps, 'app=consumer', 1, 120_000);
    assert.ok(first);

    // A token that may write Production, made by connect-local's own CLI in its pod; the edit is
    // the Connect API's PUT, from inside that pod, so the token never leaves it.
    connectLocalExec(`
      const { execFileSync } = require('node:child_process');
      const token = execFileSync('node', ['/app/bin/op-kube.js', 'connect-local', 'token', 'create',
        'editor-${suffix}', '--vault', 'Production,rw', '--state-dir', '/tmp/connect-local'],
        { encoding: 'utf8' }).trim().split('\\n').pop();
      const base = 'http://127.0.0.1:8080/v1/vaults/production0000000000000000/items/database000000000000000000';
      const headers = { authorization: 'Bearer ' + token, 'content-type': 'application/json' };
      (async () => {
        const item = await (await fetch(base, { headers })).json();
        for (const field of item.fields) if (field.label === 'password') field.value = '${ROTATED_PASSWORD}';
        const put = await fetch(base, { method: 'PUT', headers, body: JSON.stringify(item) });
        if (!put.ok) { console.error('PUT', put.status, await put.text()); process.exit(1); }
      })();
    `);
    await eventually(
      'Secret database updated from the edited item',
      () => (secretValue(apps, 'database', 'password') === ROTATED_PASSWORD ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const rolled = await eventually(
      'the consumer Deployment rolled to a new Ready pod',
      () => {
        const current = pods(apps, 'app=consumer').filter(
          (pod) => pod.metadata.uid !== first.metadata.uid && !pod.metadata.deletionTimestamp,
        );
        return current.length === 1 && current.every((pod) => pod.status.phase === 'Running')
          ? current
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    assert.notEqual(rolled[0]?.metadata.name, first.metadata.name);
  });

  it('a pod injected through the webhook Service sees the resolved value; the value is nowhere else', async () => {
    // The injected pod reads the token from the Secret of its own namespace, as 1Password's does.
    const token = secretValue(namespace, 'onepassword-token', 'token');
    assert.ok(token, 'connect-local wrote the token Secret');
    apply(
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'onepassword-token' },
        stringData: { token },
      },
      apps,
    );
    const script =
      "const v = process.env.DB_PASSWORD ?? ''; " +
      "console.log('keys: ' + Object.keys(process.env).filter((k) => k.startsWith('DB_')).sort().join(',')); " +
      "console.log('resolved: ' + !v.startsWith('op://')); " +
      "console.log('sha256: ' + require('node:crypto').createHash('sha256').update(v).digest('hex'));";
    apply(
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: 'injected',
          annotations: {
            'operator.1password.io/inject': 'app',
            'operator.1password.io/version': node.images.opStandin.tag,
          },
        },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          containers: [
            {
              name: 'app',
              image: node.images.product.ref,
              imagePullPolicy: 'IfNotPresent',
              command: ['node', '-e', script],
              env: [
                { name: 'DB_PASSWORD', value: 'op://Production/database/password' },
                { name: 'DB_USER', value: 'op://Production/database/username' },
              ],
            },
          ],
        },
      },
      apps,
    );
    const stored = kubectlOk(['get', 'pod', 'injected', '-n', apps, '-o', 'json']);
    const pod = JSON.parse(stored) as PodView & {
      metadata: { annotations?: Record<string, string> };
      spec: { initContainers?: { name: string }[] };
    };
    assert.equal(pod.metadata.annotations?.['operator.1password.io/status'], 'injected');
    assert.deepEqual(
      pod.spec.initContainers?.map((c) => c.name),
      ['copy-op-bin'],
    );
    const phase = await eventually(
      'the injected pod ran to completion',
      () => {
        const [current] = pods(apps).filter((p) => p.metadata.name === 'injected');
        const done = current?.status.phase;
        return done === 'Succeeded' || done === 'Failed' ? done : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    const logs = kubectlOk(['logs', 'injected', '-n', apps, '-c', 'app']);
    assert.equal(phase, 'Succeeded', logs);
    assert.match(logs, /^keys: DB_PASSWORD,DB_USER$/m);
    assert.match(logs, /^resolved: true$/m);
    assert.match(logs, new RegExp(`^sha256: ${sha256(ROTATED_PASSWORD)}$`, 'm'));
    for (const [where, text] of [
      ['the app output', logs],
      ['the stored pod', kubectlOk(['get', 'pod', 'injected', '-n', apps, '-o', 'json'])],
      ['the namespace Events', kubectlOk(['get', 'events', '-n', apps, '-o', 'json'])],
      [
        'the webhook log',
        kubectlOk(['logs', '-n', namespace, `deploy/${fullname}-webhook`, '--all-containers']),
      ],
    ] as const) {
      assert.ok(!text.includes(ROTATED_PASSWORD), `the secret value is not in ${where}`);
    }
  });

  it('helm uninstall leaves nothing of the release behind', async () => {
    helmOk(['uninstall', release, '-n', namespace, '--wait']);
    const leftovers = await eventually(
      'the release objects gone',
      () => {
        const namespaced = kubectlOk([
          'get',
          'all,configmaps,secrets,serviceaccounts,roles,rolebindings,leases,poddisruptionbudgets',
          '-n',
          namespace,
          '-l',
          `app.kubernetes.io/instance=${release}`,
          '-o',
          'name',
        ]).trim();
        const clusterWide = kubectlOk([
          'get',
          'clusterroles,clusterrolebindings,mutatingwebhookconfigurations',
          '-o',
          'name',
        ])
          .split('\n')
          .filter((name) => name.includes(fullname));
        const left = [...(namespaced ? namespaced.split('\n') : []), ...clusterWide];
        return left.length === 0 ? left : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    assert.deepEqual(leftovers, []);
  });
});
