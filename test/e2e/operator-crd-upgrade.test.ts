// The CRD a migrating cluster keeps (issue #13 point 3), on a private control plane (the shared
// plane's CRD is op-kube's and other tests rely on it): 1Password's CRD as its chart installs it
// prunes op-kube's status fields; the operator reports it at start (log, Warning Event on the CRD,
// op_kube_crd_outdated 1) and keeps working; `op-kube crds apply`, run with the token of the
// chart's crds.upgrade ServiceAccount (whose RBAC is checked minimal), makes it op-kube's CRD and
// the status fields persist.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import yaml from 'js-yaml';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { freePort } from '../../tools/cluster/ports.ts';
import { CHART_DIR } from '../../tools/render-deploy.ts';
import {
  CRD_VERSION,
  ITEM_CRD_NAME,
  assessCrd,
  readCrdFile,
  type CustomResourceDefinition,
} from '../../src/operator/crd-check.ts';
import { eventually, helm, kubectl, privatePlane } from '../support/cluster.ts';
import { launcher } from '../support/connect-local.ts';
import { spawnOpKube } from '../support/op-kube-process.ts';

const { plane, remove: removePlane } = privatePlane('crd');
const THEIRS = join(repoRoot, 'test', 'fixtures', '1password-crd', 'chart.yaml');
const NAMESPACE = 'migrated';
const RELEASE = 'opk';
const JOB_ACCOUNT = `${RELEASE}-op-kube-crds-upgrade`;

function k(
  args: readonly string[],
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  if (input === undefined) return kubectl(args, plane);
  const result = spawnSync(
    join(plane.binDir, 'kubectl'),
    ['--kubeconfig', plane.kubeconfigPath, ...args],
    {
      input,
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function ok(args: readonly string[], input?: string): string {
  const result = k(args, input);
  assert.equal(result.status, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function installedCrd(): CustomResourceDefinition {
  return JSON.parse(ok(['get', 'crd', ITEM_CRD_NAME, '-o', 'json'])) as CustomResourceDefinition;
}

/** Writes op-kube's status fields through the status subresource; returns the stored status. */
function writeStatus(name: string): Record<string, unknown> {
  const status = {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Synced',
        message: 'synced',
        lastTransitionTime: '2026-12-06T09:00:00Z',
        observedGeneration: 1,
      },
    ],
    observedGeneration: 1,
    itemVersion: 7,
    lastSyncTime: '2026-12-06T09:00:00Z',
    secretName: name,
  };
  const stored = ok([
    'patch',
    'onepassworditems',
    name,
    '-n',
    NAMESPACE,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
    '-o',
    'json',
  ]);
  return (JSON.parse(stored) as { status: Record<string, unknown> }).status;
}

function canI(...check: string[]): string {
  return k([
    'auth',
    'can-i',
    ...check,
    '--as',
    `system:serviceaccount:${NAMESPACE}:${JOB_ACCOUNT}`,
  ]).stdout.trim();
}

function waitEstablished(): void {
  ok(['wait', '--for=condition=Established', '--timeout=60s', `crd/${ITEM_CRD_NAME}`]);
}

/** A kubeconfig for the private plane authenticating as ServiceAccount `account` of NAMESPACE. */
async function accountKubeconfig(account: string): Promise<string> {
  const token = ok(['create', 'token', account, '-n', NAMESPACE]).trim();
  const admin = yaml.load(await readFile(plane.kubeconfigPath, 'utf8')) as {
    clusters: { cluster: Record<string, string> }[];
  };
  const file = join(plane.dir, `${account}.kubeconfig`);
  await writeFile(
    file,
    yaml.dump({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'plane', cluster: admin.clusters[0]?.cluster }],
      users: [{ name: account, user: { token } }],
      contexts: [{ name: account, context: { cluster: 'plane', user: account } }],
      'current-context': account,
    }),
  );
  return file;
}

/** The chart's template `template` rendered for RELEASE in NAMESPACE, as objects. */
function renderChart(template: string, ...sets: string[]): ChartObject[] {
  const rendered = helm(
    [
      'template',
      RELEASE,
      CHART_DIR,
      '--namespace',
      NAMESPACE,
      ...sets.flatMap((set) => ['--set', set]),
      '--show-only',
      template,
    ],
    plane,
  );
  assert.equal(rendered.status, 0, rendered.stderr);
  return (yaml.loadAll(rendered.stdout) as (ChartObject | null)[]).filter(
    (object): object is ChartObject => object !== null,
  );
}

interface ChartObject {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

async function operatorMetrics(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}

describe("a cluster that kept 1Password's CRD", () => {
  before(async () => {
    assert.equal(await plane.up(), 'started');
    // As Helm installs a chart's crds/: a plain create.
    ok(['create', '-f', THEIRS]);
    waitEstablished();
    ok(['create', 'namespace', NAMESPACE]);
    ok(
      ['apply', '-n', NAMESPACE, '-f', '-'],
      'apiVersion: onepassword.com/v1\nkind: OnePasswordItem\nmetadata:\n  name: db\nspec:\n  itemPath: vaults/v/items/db\n',
    );
  });

  after(async () => {
    await removePlane();
  });

  it("prunes op-kube's status fields (the defect)", () => {
    const status = writeStatus('db');
    assert.equal(status.itemVersion, undefined);
    assert.equal(status.lastSyncTime, undefined);
    const [condition] = status.conditions as Record<string, unknown>[];
    assert.equal(condition?.reason, undefined);
    assert.equal(assessCrd(installedCrd()).outdated, true);
    // 1Password's chart's CRD has no short name either: `kubectl get opi` is refused.
    assert.match(k(['get', 'opi', '-n', NAMESPACE]).stderr, /doesn't have a resource type "opi"/);
  });

  it("the operator, with the chart's RBAC, reports it at start (log, Warning Event on the CRD, gauge 1) and keeps running", async (t) => {
    // The chart's operator ServiceAccount and RBAC (all namespaces, the chart's default).
    ok(
      ['apply', '-f', '-'],
      renderChart('templates/operator-rbac.yaml')
        .map((object) => JSON.stringify(object))
        .join('\n'),
    );
    const account = `${RELEASE}-op-kube-operator`;
    const as = ['--as', `system:serviceaccount:${NAMESPACE}:${account}`];
    assert.equal(
      k([
        'auth',
        'can-i',
        'get',
        `customresourcedefinitions/${ITEM_CRD_NAME}`,
        ...as,
      ]).stdout.trim(),
      'yes',
    );
    for (const check of [
      ['get', 'customresourcedefinitions/other.example.com'],
      ['list', 'customresourcedefinitions'],
      ['patch', `customresourcedefinitions/${ITEM_CRD_NAME}`],
    ]) {
      assert.equal(k(['auth', 'can-i', ...check, ...as]).stdout.trim(), 'no', check.join(' '));
    }
    const metricsPort = await freePort();
    const operator = spawnOpKube(
      t,
      [
        'operator',
        `--kubeconfig=${await accountKubeconfig(account)}`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        '--metrics-secure=false',
        `--health-probe-bind-address=127.0.0.1:${await freePort()}`,
      ],
      {
        ...process.env,
        OP_CONNECT_HOST: 'http://127.0.0.1:9',
        OP_CONNECT_TOKEN: 'not-a-real-token',
      },
    );
    const warning = await eventually('the outdated-CRD warning', () => {
      const line = operator
        .output()
        .split('\n')
        .find((entry) => entry.includes('"crd":"onepassworditems.onepassword.com"'));
      return line === undefined ? undefined : (JSON.parse(line) as { level: number; msg: string });
    });
    assert.equal(warning.level, 40);
    assert.match(
      warning.msg,
      /helm upgrade <release> <op-kube chart> --reuse-values --set crds\.upgrade=true/,
    );
    assert.match(warning.msg, /status\.itemVersion/);
    assert.doesNotMatch(operator.output(), /not-a-real-token/);
    await eventually('op_kube_crd_outdated 1', async () =>
      (await operatorMetrics(metricsPort)).includes(
        `op_kube_crd_outdated{crd="${ITEM_CRD_NAME}"} 1`,
      )
        ? true
        : undefined,
    );
    const events = await eventually('the OutdatedCRD Event in default', () => {
      const listed = JSON.parse(
        ok([
          'get',
          'events',
          '-n',
          'default',
          '--field-selector',
          `involvedObject.kind=CustomResourceDefinition,involvedObject.name=${ITEM_CRD_NAME}`,
          '-o',
          'json',
        ]),
      ) as {
        items: {
          type: string;
          reason: string;
          message?: string;
          involvedObject: { uid?: string };
        }[];
      };
      return listed.items.length > 0 ? listed.items : undefined;
    });
    assert.equal(events[0]?.type, 'Warning');
    assert.equal(events[0]?.reason, 'OutdatedCRD');
    assert.equal(events[0]?.involvedObject.uid, installedCrd().metadata?.uid);
    assert.match(ok(['describe', 'crd', ITEM_CRD_NAME]), /OutdatedCRD/);
    assert.equal(operator.child.exitCode, null, operator.output());
    await operator.stop();
  });

  it("the chart's crds.upgrade Job renders restricted, with RBAC on that one CRD only", () => {
    const objects = renderChart('templates/crds-upgrade-job.yaml', 'crds.upgrade=true');
    assert.deepEqual(
      objects.map((object) => object.kind),
      ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Job'],
    );
    for (const object of objects) {
      assert.equal(object.metadata.annotations?.['helm.sh/hook'], 'pre-install,pre-upgrade');
      assert.equal(
        object.metadata.annotations?.['helm.sh/hook-delete-policy'],
        'before-hook-creation,hook-succeeded',
      );
    }
    const job = objects[3] as unknown as {
      spec: {
        template: {
          spec: {
            serviceAccountName: string;
            securityContext: Record<string, unknown>;
            containers: { args: string[]; securityContext: Record<string, unknown> }[];
          };
        };
      };
    };
    const pod = job.spec.template.spec;
    assert.equal(pod.serviceAccountName, JOB_ACCOUNT);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.deepEqual(pod.containers[0]?.args, [
      'crds',
      'apply',
      '--file=/app/crds/onepassword.com_onepassworditems.yaml',
    ]);
    assert.deepEqual(pod.containers[0]?.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    // Its RBAC, applied as rendered (without the Job: the private plane has no node).
    ok(
      ['apply', '-f', '-'],
      objects
        .slice(0, 3)
        .map((object) => JSON.stringify(object))
        .join('\n'),
    );
    // The Job's pod passes the restricted Pod Security level (server-side dry run in such a namespace).
    ok(['label', 'namespace', NAMESPACE, 'pod-security.kubernetes.io/enforce=restricted']);
    const podOnly = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'crds-upgrade-check' },
      spec: pod,
    };
    ok(['apply', '-n', NAMESPACE, '--dry-run=server', '-f', '-'], JSON.stringify(podOnly));
    const crd = `customresourcedefinitions/${ITEM_CRD_NAME}`;
    for (const verb of ['get', 'create', 'patch']) assert.equal(canI(verb, crd), 'yes', verb);
    for (const check of [
      ['update', crd],
      ['delete', crd],
      ['create', 'customresourcedefinitions'],
      ['list', 'customresourcedefinitions'],
      ['patch', 'customresourcedefinitions/other.example.com'],
      ['get', 'secrets', '-n', NAMESPACE],
      ['create', 'pods', '-n', NAMESPACE],
      ['get', 'onepassworditems', '-n', NAMESPACE],
    ]) {
      assert.equal(canI(...check), 'no', check.join(' '));
    }
  });

  it("`op-kube crds apply` with that account's token makes it op-kube's CRD, and status fields persist", async (t) => {
    const kubeconfig = await accountKubeconfig(JOB_ACCOUNT);
    const before = installedCrd().metadata?.uid;
    const applied = spawnSync(
      process.execPath,
      [launcher, 'crds', 'apply', `--kubeconfig=${kubeconfig}`],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(applied.status, 0, applied.stderr);
    assert.match(applied.stdout, /applied and Established/);
    const crd = installedCrd();
    assert.equal(crd.metadata?.uid, before, 'upgraded in place, not recreated (items kept)');
    assert.deepEqual(assessCrd(crd), { outdated: false, version: CRD_VERSION, missing: [] });
    // Exactly op-kube's schema: nothing of 1Password's left behind (e.g. its status.required).
    const ours = await readCrdFile(join(repoRoot, 'crds', 'onepassword.com_onepassworditems.yaml'));
    assert.deepEqual(
      crd.spec?.versions?.map((version) => version.schema),
      ours.spec?.versions?.map((version) => version.schema),
    );
    const status = writeStatus('db');
    assert.equal(status.itemVersion, 7);
    assert.equal(status.lastSyncTime, '2026-12-06T09:00:00Z');
    assert.equal((status.conditions as Record<string, unknown>[])[0]?.reason, 'Synced');
    const table = ok(['get', 'opi', '-n', NAMESPACE]);
    assert.match(table, /READY\s+REASON\s+VERSION\s+SYNCED\s+AGE/);
    assert.match(table, /db\s+True\s+Synced\s+7/);

    // Run again (every helm upgrade does): idempotent.
    const again = spawnSync(
      process.execPath,
      [launcher, 'crds', 'apply', `--kubeconfig=${kubeconfig}`],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(again.status, 0, again.stderr);

    // The operator now finds it current.
    const metricsPort = await freePort();
    const operator = spawnOpKube(
      t,
      [
        'operator',
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        '--metrics-secure=false',
        `--health-probe-bind-address=127.0.0.1:${await freePort()}`,
      ],
      {
        ...process.env,
        KUBECONFIG: plane.kubeconfigPath,
        OP_CONNECT_HOST: 'http://127.0.0.1:9',
        OP_CONNECT_TOKEN: 'not-a-real-token',
        WATCH_NAMESPACE: NAMESPACE,
      },
    );
    await eventually('op_kube_crd_outdated 0', async () =>
      (await operatorMetrics(metricsPort).catch(() => '')).includes(
        `op_kube_crd_outdated{crd="${ITEM_CRD_NAME}"} 0`,
      )
        ? true
        : undefined,
    );
    assert.doesNotMatch(operator.output(), /OutdatedCRD|crds\.upgrade=true/);
    await operator.stop();
  });
});
