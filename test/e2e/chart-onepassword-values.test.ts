// 1Password's chart values (issue #13 point 4): every value name of 1Password's `connect` and
// `secrets-injector` charts, as charts/op-kube/files/onepassword-values.yaml lists them, renders
// with op-kube's chart the way the README's table says (works: the sample shows in the render;
// refused: the install fails naming the value and what to use instead), and 1Password's own values
// files and documented install command work unchanged against the real control plane.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import yaml from 'js-yaml';
import type { V1Deployment, V1Secret, V1Service } from '@kubernetes/client-node';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { CHART_DIR, helmBinary } from '../../tools/render-deploy.ts';
import { loadOnePasswordValues, type OnePasswordValue } from '../../tools/onepassword-values.ts';
import { helm, kubectl, testNamespace, testPlane } from '../support/cluster.ts';

const FIXTURES = join(repoRoot, 'test', 'fixtures', 'onepassword-charts');
const fixture = (name: string): string => join(FIXTURES, name);

interface Rendered {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `helm template` without the plane's kubeconfig (rendering needs no cluster). */
function template(args: readonly string[]): Promise<Rendered> {
  const { path, env } = helmBinary();
  return new Promise((resolve, reject) => {
    const child = spawn(path, ['template', 'opv', CHART_DIR, '--namespace', 'opv', ...args], {
      env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs `work` over `items`, `limit` at a time (2 cores, shared). */
async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>) {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index] as T);
      }
    }),
  );
  return results;
}

function setJson(name: string, value: unknown): string[] {
  return ['--set-json', `${name}=${JSON.stringify(value)}`];
}

function rowArgs(row: OnePasswordValue): string[] {
  const args = ['--set', 'connect.create=true'];
  for (const [name, value] of Object.entries(row.with ?? {})) args.push(...setJson(name, value));
  args.push(...setJson(row.name, row.sample));
  return args;
}

interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

function documents(stdout: string): Manifest[] {
  return yaml.loadAll(stdout).filter((doc): doc is Manifest => doc !== null);
}

function object<T>(docs: readonly Manifest[], kind: string, name: string): T {
  const found = docs.filter((doc) => doc.kind === kind && doc.metadata.name === name);
  const all = docs.map((doc) => `${doc.kind}/${doc.metadata.name}`).join(' ');
  assert.equal(found.length, 1, `one ${kind} ${name} in ${all}`);
  return found[0] as T;
}

interface ValuesFile {
  operator?: Record<string, unknown>;
  injector?: Record<string, unknown>;
}

function env(deployment: V1Deployment, container = 0): Map<string, string | undefined> {
  const entries = deployment.spec?.template.spec?.containers[container]?.env ?? [];
  return new Map(entries.map((entry) => [entry.name, entry.value]));
}

describe("1Password's chart values", () => {
  it('handles every value name as the table says', async () => {
    const rows = await loadOnePasswordValues();
    assert.equal(rows.length, 192);
    assert.equal(new Set(rows.map((row) => row.name)).size, rows.length, 'names are unique');
    const results = await pool(rows, 3, async (row) => ({
      row,
      result: await template(rowArgs(row)),
    }));
    const wrong: string[] = [];
    for (const { row, result } of results) {
      if (row.status === 'works') {
        if (result.status !== 0)
          wrong.push(`${row.name}: expected to render, got ${result.stderr.trim()}`);
        else if (row.expect && !result.stdout.includes(row.expect)) {
          wrong.push(`${row.name}: the render lacks ${JSON.stringify(row.expect)}`);
        } else if (row.absent && result.stdout.includes(row.absent)) {
          wrong.push(`${row.name}: the render still has ${JSON.stringify(row.absent)}`);
        }
        continue;
      }
      const line = `  - ${row.name}: ${row.why}`;
      if (result.status === 0) wrong.push(`${row.name}: expected a refusal, rendered`);
      else if (!result.stderr.includes(line)) {
        wrong.push(`${row.name}: the error lacks ${JSON.stringify(line)}: ${result.stderr.trim()}`);
      }
      const sample = row.sample;
      if (typeof sample === 'string' && sample.length >= 6 && !row.why?.includes(sample)) {
        if (result.stderr.includes(sample)) wrong.push(`${row.name}: the error shows the value`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it("accepts 1Password's defaults of the values it refuses otherwise, all at once", async () => {
    const rows = await loadOnePasswordValues();
    const args = ['--set', 'connect.create=true'];
    let accepted = 0;
    for (const row of rows) {
      for (const value of row.status === 'refused' ? (row.accept ?? []) : []) {
        args.push(...setJson(row.name, value));
        accepted++;
      }
    }
    assert.ok(accepted >= 32, `${accepted} accepted defaults`);
    const result = await template(args);
    assert.equal(result.status, 0, result.stderr);
    // Each accepted default one by one too (a later --set-json of the same name wins above).
    const single = rows.flatMap((row) =>
      row.status === 'refused' ? (row.accept ?? []).map((value) => ({ row, value })) : [],
    );
    const failures = (
      await pool(single, 3, async ({ row, value }) => ({
        name: row.name,
        value,
        result: await template(['--set', 'connect.create=true', ...setJson(row.name, value)]),
      }))
    ).filter(({ result }) => result.status !== 0);
    assert.deepEqual(
      failures.map(
        ({ name, value, result }) => `${name}=${JSON.stringify(value)}: ${result.stderr}`,
      ),
      [],
    );
  });

  it("lists every refused value of 1Password's own values files in one error, and renders without them", async () => {
    const files = [
      '-f',
      fixture('connect-values.yaml'),
      '-f',
      fixture('secrets-injector-values.yaml'),
    ];
    const refused = await template(files);
    assert.notEqual(refused.status, 0);
    const listed = [...refused.stderr.matchAll(/^ {2}- ([\w.]+): /gm)].map((match) => match[1]);
    assert.deepEqual(listed, [
      'operator.imageRepository',
      'operator.version',
      'injector.imageRepository',
      'injector.version',
    ]);
    assert.match(refused.stderr, /operator\.image\.repository/);
    assert.match(refused.stderr, /injector\.image\.tag/);

    // The same files with those four names removed: Connect (1Password's connect.create: true) as
    // onepassword-connect, 1Password's pinned images, no operator (operator.create: false).
    const dir = await mkdtemp(join(tmpdir(), 'op-kube-opv-'));
    try {
      const load = async (name: string) =>
        yaml.load(await readFile(fixture(name), 'utf8')) as ValuesFile;
      const connect = await load('connect-values.yaml');
      const injector = await load('secrets-injector-values.yaml');
      delete connect.operator?.imageRepository;
      delete connect.operator?.version;
      delete injector.injector?.imageRepository;
      delete injector.injector?.version;
      await writeFile(join(dir, 'connect.yaml'), yaml.dump(connect));
      await writeFile(join(dir, 'injector.yaml'), yaml.dump(injector));
      const result = await template([
        '-f',
        join(dir, 'connect.yaml'),
        '-f',
        join(dir, 'injector.yaml'),
      ]);
      assert.equal(result.status, 0, result.stderr);
      const docs = documents(result.stdout);
      const deployment = object<V1Deployment>(docs, 'Deployment', 'onepassword-connect');
      const containers = deployment.spec?.template.spec?.containers ?? [];
      assert.deepEqual(
        containers.map((item) => item.image),
        ['docker.io/1password/connect-api:1.8.2', 'docker.io/1password/connect-sync:1.8.2'],
      );
      assert.equal(deployment.spec?.template.spec?.securityContext?.fsGroup, 999);
      // 1Password's resources, merged with op-kube's defaults as Helm merges values (the table says so).
      assert.deepEqual(containers[0]?.resources, {
        limits: { memory: '128Mi' },
        requests: { cpu: 0.2, memory: '64Mi' },
      });
      object<V1Service>(docs, 'Service', 'onepassword-connect');
      assert.equal(
        docs.filter((doc) => doc.metadata.labels?.['app.kubernetes.io/component'] === 'operator')
          .length,
        0,
        'operator.create: false',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("creates 1Password's autoscaler, disruption budgets and Ingress as objects the apiserver accepts", async (t) => {
    const namespace = await testNamespace(t, 'opv');
    const result = await template([
      '--set',
      'connect.create=true',
      ...setJson('connect.hpa', {
        enabled: true,
        behavior: { scaleDown: { stabilizationWindowSeconds: 60 } },
      }),
      ...setJson('connect.pdb', { enabled: true, maxUnavailable: '50%' }),
      ...setJson('operator.pdb', { enabled: true, maxUnavailable: null, minAvailable: 1 }),
      ...setJson('connect.ingress', {
        enabled: true,
        ingressClassName: 'nginx',
        hosts: [{ host: 'connect.example', paths: ['/'] }],
        tls: [{ secretName: 'connect-tls', hosts: ['connect.example'] }],
      }),
    ]);
    assert.equal(result.status, 0, result.stderr);
    const wanted = documents(result.stdout).filter((doc) =>
      ['HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress'].includes(doc.kind),
    );
    assert.deepEqual(wanted.map((doc) => `${doc.kind}/${doc.metadata.name}`).sort(), [
      'HorizontalPodAutoscaler/onepassword-connect',
      'Ingress/onepassword-connect',
      'PodDisruptionBudget/onepassword-connect',
      'PodDisruptionBudget/opv-op-kube-operator',
    ]);
    const plane = testPlane();
    const input = wanted
      .map((doc) => yaml.dump({ ...doc, metadata: { ...doc.metadata, namespace } }))
      .join('---\n');
    const applied = spawnSync(
      join(plane.binDir, 'kubectl'),
      [
        '--kubeconfig',
        plane.kubeconfigPath,
        'apply',
        '--dry-run=server',
        '-n',
        namespace,
        '-f',
        '-',
      ],
      { input, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(applied.status, 0, applied.stderr);
  });

  it('renders ci/with-service-account-values.yaml: the operator gets OP_SERVICE_ACCOUNT_TOKEN from the Secret and no OP_CONNECT_*, no Connect', async () => {
    const result = await template(['-f', fixture('connect-ci-with-service-account-values.yaml')]);
    assert.equal(result.status, 0, result.stderr);
    const docs = documents(result.stdout);
    const operator = docs.filter(
      (doc) =>
        doc.kind === 'Deployment' &&
        doc.metadata.labels?.['app.kubernetes.io/component'] === 'operator',
    );
    assert.equal(operator.length, 1);
    const container = (operator[0] as V1Deployment).spec?.template.spec?.containers[0];
    const env = container?.env ?? [];
    assert.deepEqual(
      env.filter((item) => item.name.startsWith('OP_')),
      [
        {
          name: 'OP_SERVICE_ACCOUNT_TOKEN',
          valueFrom: { secretKeyRef: { name: 'onepassword-service-account-token', key: 'token' } },
        },
      ],
    );
    assert.equal(
      docs.filter((doc) => doc.kind === 'Deployment' && doc.metadata.name === 'onepassword-connect')
        .length,
      0,
      'connect.create: false',
    );
    // With the token given, the chart creates the Secret (as 1Password's chart), and never prints it.
    const withValue = await template([
      '-f',
      fixture('connect-ci-with-service-account-values.yaml'),
      '--set',
      'operator.serviceAccountToken.value=ops_sample-token',
    ]);
    assert.equal(withValue.status, 0, withValue.stderr);
    const secret = object<{ data?: Record<string, string> }>(
      documents(withValue.stdout),
      'Secret',
      'onepassword-service-account-token',
    );
    assert.equal(Buffer.from(secret.data?.token ?? '', 'base64').toString(), 'ops_sample-token');
  });

  it('refuses service-account mode without a token Secret name, and with connect-local', async () => {
    const sa = ['--set', 'operator.create=true', '--set', 'operator.authMethod=service-account'];
    const noName = await template([...sa, '--set', 'operator.serviceAccountToken.name=']);
    assert.notEqual(noName.status, 0);
    assert.match(noName.stderr, /serviceAccountToken\W+name/);
    const local = await template([...sa, '--set', 'connectLocal.enabled=true']);
    assert.notEqual(local.status, 0);
    assert.match(local.stderr, /connectLocal\.enabled .*operator\.authMethod=connect/);
    const unknown = await template(['--set', 'operator.authMethod=desktop']);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /authMethod/);
  });

  it('renders ci/with-connect-sa-values.yaml: Connect runs as the annotated ServiceAccount', async () => {
    const result = await template([
      '-f',
      fixture('connect-ci-with-connect-sa-values.yaml'),
      '--set',
      'connect.credentials_base64=e30=',
    ]);
    assert.equal(result.status, 0, result.stderr);
    const docs = documents(result.stdout);
    const account = object<Manifest>(docs, 'ServiceAccount', 'onepassword-connect');
    assert.equal(
      account.metadata.annotations?.['eks.amazonaws.com/role-arn'],
      'arn:aws:iam::123456789012:role/test-role',
    );
    const deployment = object<V1Deployment>(docs, 'Deployment', 'onepassword-connect');
    assert.equal(deployment.spec?.template.spec?.serviceAccountName, 'onepassword-connect');
  });

  it("installs with 1Password's documented command: Connect, its credentials and the token", async (t) => {
    const namespace = await testNamespace(t, 'opv');
    const release = `opv-${randomBytes(3).toString('hex')}`;
    const dir = await mkdtemp(join(tmpdir(), 'op-kube-opv-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const credentials = join(dir, '1password-credentials.json');
    const content =
      '{"verifier":{"salt":"c2FsdA","localHash":"x"},"encCredentials":{},"version":"2"}';
    await writeFile(credentials, content);
    const token = `token-${randomBytes(8).toString('hex')}`;
    let installed = false;
    t.after(() => {
      if (installed) helm(['uninstall', release, '--namespace', namespace]);
    });
    const install = helm([
      'install',
      release,
      CHART_DIR,
      '--namespace',
      namespace,
      // 1Password's documented flags:
      '--set-file',
      `connect.credentials=${credentials}`,
      '--set',
      'operator.create=true',
      '--set',
      `operator.token.value=${token}`,
      // Test hygiene (other tests share the plane): the CRD is theirs; the webhook must not refuse.
      '--skip-crds',
      '--set',
      'injector.failurePolicy=Ignore',
      '--set',
      'injector.timeoutSeconds=1',
    ]);
    assert.equal(install.status, 0, install.stderr);
    installed = true;
    assert.ok(
      !install.stdout.includes(token) && !install.stderr.includes(token),
      'no token in output',
    );

    const get = <T>(kind: string, name: string): T => {
      const result = kubectl(['get', kind, name, '--namespace', namespace, '-o', 'json']);
      assert.equal(result.status, 0, result.stderr);
      return JSON.parse(result.stdout) as T;
    };
    const connect = get<V1Deployment>('deployment', 'onepassword-connect');
    assert.deepEqual(
      connect.spec?.template.spec?.containers.map((item) => item.name),
      ['connect-api', 'connect-sync'],
    );
    const service = get<V1Service>('service', 'onepassword-connect');
    assert.deepEqual(
      service.spec?.ports?.map((port) => [port.name, port.port]),
      [
        ['connect-api', 8080],
        ['connect-sync', 8081],
      ],
    );
    const stored = get<V1Secret>('secret', 'op-credentials');
    assert.equal(
      Buffer.from(stored.data?.['1password-credentials.json'] ?? '', 'base64').toString(),
      content,
    );
    const tokenSecret = get<V1Secret>('secret', 'onepassword-token');
    assert.equal(Buffer.from(tokenSecret.data?.token ?? '', 'base64').toString(), token);
    const operator = get<V1Deployment>('deployment', `${release}-op-kube-operator`);
    assert.equal(
      env(operator).get('OP_CONNECT_HOST'),
      `http://onepassword-connect.${namespace}.svc:8080`,
    );
  });

  it('installs ci/with-connect-values.yaml next to an existing credentials Secret: Connect deployed', async (t) => {
    const namespace = await testNamespace(t, 'opv');
    const release = `opv-${randomBytes(3).toString('hex')}`;
    const secret = kubectl([
      'create',
      'secret',
      'generic',
      'op-credentials',
      '--namespace',
      namespace,
      '--from-literal=1password-credentials.json={}',
    ]);
    assert.equal(secret.status, 0, secret.stderr);
    let installed = false;
    t.after(() => {
      if (installed) helm(['uninstall', release, '--namespace', namespace]);
    });
    const install = helm([
      'install',
      release,
      CHART_DIR,
      '--namespace',
      namespace,
      '-f',
      fixture('connect-ci-with-connect-values.yaml'),
      '--skip-crds',
      '--set',
      'injector.failurePolicy=Ignore',
      '--set',
      'injector.timeoutSeconds=1',
    ]);
    assert.equal(install.status, 0, install.stderr);
    installed = true;
    const result = kubectl(['get', 'deployments', '--namespace', namespace, '-o', 'json']);
    assert.equal(result.status, 0, result.stderr);
    const deployments = (JSON.parse(result.stdout) as { items: V1Deployment[] }).items;
    assert.ok(
      deployments.some((item) => item.metadata?.name === 'onepassword-connect'),
      'Connect deployed (the Secret exists, connect.create unset as in 1Password: true)',
    );
    const operator = deployments.find(
      (item) => item.metadata?.name === `${release}-op-kube-operator`,
    );
    assert.ok(operator);
    const values = env(operator);
    assert.equal(values.get('CUSTOM_TEST_VAR'), 'test-value-123');
    assert.equal(values.get('ANOTHER_CUSTOM_VAR'), 'another-value-456');
    assert.equal(values.get('NUMERIC_CUSTOM_VAR'), '123');
    // The Secret was not the chart's: the release does not own it.
    const stored = kubectl([
      'get',
      'secret',
      'op-credentials',
      '--namespace',
      namespace,
      '-o',
      'json',
    ]);
    const labels = (JSON.parse(stored.stdout) as V1Secret).metadata?.labels ?? {};
    assert.equal(labels['app.kubernetes.io/managed-by'], undefined);
  });
});
