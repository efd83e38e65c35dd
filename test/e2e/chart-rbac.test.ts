// The chart's least-privilege RBAC is enough: the operator and the injector, started with the
// arguments of the chart's Deployments and the tokens of the chart's ServiceAccounts, do their work.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CustomObjectsApi, type V1Deployment } from '@kubernetes/client-node';
import { freePort } from '../../tools/cluster/ports.ts';
import { CHART_DIR } from '../../tools/render-deploy.ts';
import {
  eventually,
  helm,
  kubeConfigFor,
  kubectl,
  serviceAccountCan,
  serviceAccountKubeconfig,
  testNamespace,
} from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { startConnectLocal, vaultNames } from '../support/connect-local.ts';
import { readyCondition } from '../support/item-status.ts';
import { spawnOpKube } from '../support/op-kube-process.ts';
import { createOnePasswordItem, installCrd } from '../support/operator.ts';
import { readSecret, secretText } from '../support/secrets.ts';
import { getInsecure } from '../support/https-get.ts';

function deploymentArgs(namespace: string, name: string): string[] {
  const got = kubectl(['get', 'deployment', name, '-n', namespace, '-o', 'json']);
  assert.equal(got.status, 0, got.stderr);
  const deployment = JSON.parse(got.stdout) as V1Deployment;
  const container = deployment.spec?.template.spec?.containers[0];
  assert.ok(container);
  return (container.args ?? []).map((arg) => arg.replace('$(POD_NAMESPACE)', namespace));
}

function withFlag(args: readonly string[], name: string, value: string): string[] {
  return [...args.filter((arg) => !arg.startsWith(`--${name}=`)), `--${name}=${value}`];
}

/** `waiting`, failing with the process's output added, so a refusal it logged shows. */
function showingOutput<T>(waiting: Promise<T>, process: { output(): string }): Promise<T> {
  return waiting.catch((error: unknown) => {
    throw new Error(`${String(error)}\n${process.output()}`);
  });
}

/** Installs the chart as a new release into `namespace` with these `--set` values; uninstalled after `t`. */
function installChart(t: TestContext, namespace: string, values: readonly string[]): string {
  const release = `rbac-${randomBytes(3).toString('hex')}`;
  const sets = values.flatMap((value) => ['--set', value]);
  const into = ['--namespace', namespace, '--skip-crds'];
  const install = helm(['install', release, CHART_DIR, ...into, ...sets]);
  assert.equal(install.status, 0, install.stderr);
  t.after(() => {
    helm(['uninstall', release, '--namespace', namespace]);
    return Promise.resolve();
  });
  return release;
}

describe('chart RBAC', () => {
  it('lets the operator and the injector do their work, and no more', async (t) => {
    const namespace = await testNamespace(t, 'chart-rbac');
    const release = installChart(t, namespace, [
      'operator.token.value=unused',
      'operator.replicas=2',
      `operator.watchNamespace={${namespace}}`,
      'injector.failurePolicy=Ignore',
      'injector.timeoutSeconds=1',
    ]);
    await installCrd();

    // The injector: fills its pre-created TLS Secret and publishes the caBundle.
    const webhookName = `${release}-op-kube-webhook`;
    const caBundle = (): string =>
      kubectl([
        'get',
        'mutatingwebhookconfiguration',
        webhookName,
        '-o',
        'jsonpath={.webhooks[0].clientConfig.caBundle}',
      ]).stdout;
    const tlsData = (): string =>
      kubectl(['get', 'secret', `${webhookName}-tls`, '-n', namespace, '-o', 'jsonpath={.data}'])
        .stdout;
    const webhookArgs = withFlag(
      withFlag(deploymentArgs(namespace, webhookName), 'port', String(await freePort())),
      'bind-address',
      '127.0.0.1',
    );
    const webhook = spawnOpKube(
      t,
      [
        'webhook',
        ...webhookArgs,
        `--kubeconfig=${await serviceAccountKubeconfig(t, namespace, webhookName)}`,
      ],
      { ...process.env, POD_NAMESPACE: namespace, POD_NAME: `${webhookName}-0` },
    );
    await showingOutput(
      eventually(
        'the injector to publish its caBundle',
        () => Promise.resolve(caBundle().length > 100 ? true : undefined),
        { timeoutMs: 30_000 },
      ),
      webhook,
    );
    const tls = tlsData();
    assert.match(tls, /tls\.crt/);
    assert.doesNotMatch(webhook.output(), /forbidden/i);

    // An upgrade leaves what the injector wrote alone: the template has no caBundle and no data.
    const bundleBefore = caBundle();
    const upgrade = helm([
      'upgrade',
      release,
      CHART_DIR,
      '--namespace',
      namespace,
      '--skip-crds',
      '--reuse-values',
      '--set',
      'injector.replicas=2',
    ]);
    assert.equal(upgrade.status, 0, upgrade.stderr);
    assert.equal(caBundle(), bundleBefore, 'helm upgrade reset the caBundle');
    assert.equal(tlsData(), tls, 'helm upgrade changed the TLS Secret');

    // The operator: syncs a OnePasswordItem into a Secret as the leader of its Lease.
    const connect = await startConnectLocal(t, {
      data: dataFile({
        name: 'Production',
        items: [passwordItem('database', 's3cr3t', { type: 'CONCEALED' })],
      }),
    });
    const token = await connect.token({ vaults: ['Production,r'] });
    const operatorName = `${release}-op-kube-operator`;
    let operatorArgs = deploymentArgs(namespace, operatorName);
    assert.ok(operatorArgs.includes('--leader-elect'));
    // As 1Password's Deployment, the chart passes no --metrics-secure: its default (on) applies.
    assert.ok(!operatorArgs.some((arg) => arg.startsWith('--metrics-secure')), 'secure default');
    const metricsUrl = `https://127.0.0.1:${await freePort()}/metrics`;
    operatorArgs = withFlag(operatorArgs, 'metrics-bind-address', new URL(metricsUrl).host);
    operatorArgs = withFlag(
      operatorArgs,
      'health-probe-bind-address',
      `127.0.0.1:${await freePort()}`,
    );
    const operator = spawnOpKube(
      t,
      [
        'operator',
        ...operatorArgs,
        `--kubeconfig=${await serviceAccountKubeconfig(t, namespace, operatorName)}`,
      ],
      {
        ...process.env,
        OP_CONNECT_HOST: connect.url,
        OP_CONNECT_TOKEN: token,
        WATCH_NAMESPACE: namespace,
        POLLING_INTERVAL: '1',
        POD_NAMESPACE: namespace,
        POD_NAME: `${operatorName}-0`,
      },
    );
    await createOnePasswordItem(kubeConfigFor().makeApiClient(CustomObjectsApi), namespace, {
      metadata: { name: 'database' },
      spec: { itemPath: 'vaults/Production/items/database' },
    });
    await showingOutput(
      eventually(
        'the operator to sync the Secret',
        async () =>
          (await readyCondition(namespace, 'database')).status === 'True' &&
          (await readSecret(namespace, 'database'))
            ? true
            : undefined,
        { timeoutMs: 60_000 },
      ),
      operator,
    );
    const lease = kubectl([
      'get',
      'lease',
      'c26807fd.onepassword.com',
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ]);
    assert.notEqual(lease.stdout, '', 'the operator holds its Lease');
    // The Namespace watch (by metadata.name, as the chart's resourceNames allow) sees the vault
    // access policy change at once.
    const annotate = kubectl([
      'annotate',
      'namespace',
      namespace,
      'op-kube.io/allowed-vaults=Staging',
    ]);
    assert.equal(annotate.status, 0, annotate.stderr);
    await showingOutput(
      eventually(
        'the item to be refused its vault',
        async () =>
          (await readyCondition(namespace, 'database')).reason === 'VaultNotAllowed'
            ? true
            : undefined,
        { timeoutMs: 15_000 },
      ),
      operator,
    );
    assert.doesNotMatch(operator.output(), /forbidden/i);

    // /metrics (--metrics-secure): the chart's RBAC lets the operator review callers' tokens; a
    // ServiceAccount bound to the chart's metrics-reader ClusterRole reads it, one not bound is
    // refused, one without a token is not recognised.
    const reader = `${release}-op-kube-metrics-reader-${namespace}`;
    assert.equal(kubectl(['get', 'clusterrole', reader]).status, 0, `${reader} exists`);
    const scraperBinding = `${namespace}-scraper`;
    t.after(() => {
      kubectl(['delete', 'clusterrolebinding', scraperBinding, '--ignore-not-found']);
    });
    for (const account of ['scraper', 'bystander']) {
      const created = kubectl(['create', 'serviceaccount', account, '-n', namespace]);
      assert.equal(created.status, 0, created.stderr);
    }
    const bound = kubectl([
      'create',
      'clusterrolebinding',
      scraperBinding,
      `--clusterrole=${reader}`,
      `--serviceaccount=${namespace}:scraper`,
    ]);
    assert.equal(bound.status, 0, bound.stderr);
    // The apiserver's authorizer sees the binding (a denial would be cached 30 s by the operator).
    await eventually(
      'the metrics-reader binding to take effect',
      () =>
        Promise.resolve(
          serviceAccountCan(namespace, 'scraper', 'get', '/metrics') === 'yes' ? true : undefined,
        ),
      { timeoutMs: 15_000 },
    );
    const tokenOf = (account: string): string => {
      const created = kubectl(['create', 'token', account, '-n', namespace]);
      assert.equal(created.status, 0, created.stderr);
      return created.stdout.trim();
    };
    const scraperToken = tokenOf('scraper');
    const bystanderToken = tokenOf('bystander');
    const scraped = await showingOutput(getInsecure(metricsUrl, scraperToken), operator);
    assert.equal(scraped.status, 200, scraped.body);
    assert.match(scraped.body, /^# TYPE op_kube_polls_total counter$/m);
    const refused = await getInsecure(metricsUrl, bystanderToken);
    assert.equal(refused.status, 403, refused.body);
    assert.doesNotMatch(refused.body, /op_kube_/);
    assert.equal((await getInsecure(metricsUrl)).status, 401);
    await assert.rejects(fetch(metricsUrl.replace('https:', 'http:')), 'no plain HTTP');
    for (const token of [scraperToken, bystanderToken]) {
      assert.ok(!operator.output().includes(token), 'a token is in the log');
      assert.ok(!refused.body.includes(token) && !scraped.body.includes(token));
    }
    assert.doesNotMatch(operator.output(), /forbidden/i);

    // An item 1Password's operator handled carries its finalizer: with only the chart's rights the
    // operator completes its delete (it patches the finalizer away), as after a migration.
    await createOnePasswordItem(kubeConfigFor().makeApiClient(CustomObjectsApi), namespace, {
      metadata: { name: 'migrated', finalizers: ['onepassword.com/finalizer.secret'] },
      spec: { itemPath: 'vaults/Production/items/database' },
    });
    const deleted = kubectl([
      'delete',
      'onepassworditem',
      'migrated',
      '-n',
      namespace,
      '--wait=false',
    ]);
    assert.equal(deleted.status, 0, deleted.stderr);
    await showingOutput(
      eventually(
        'the item carrying 1Password finalizer to be deleted',
        () =>
          kubectl(['get', 'onepassworditem', 'migrated', '-n', namespace]).status !== 0
            ? true
            : undefined,
        { timeoutMs: 30_000 },
      ),
      operator,
    );
    assert.doesNotMatch(operator.output(), /forbidden/i);

    // And nothing beyond: no Secrets outside the watched namespace, no other webhook configuration.
    const can = (account: string, ...check: string[]): string =>
      serviceAccountCan(namespace, account, ...check);
    assert.equal(can(operatorName, 'get', 'secrets', '-n', 'default'), 'no');
    assert.equal(can(operatorName, 'get', 'pods', '-n', namespace), 'no');
    // Secrets are applied and patched, never replaced; Namespaces are read, only the watched ones.
    assert.equal(can(operatorName, 'update', 'secrets', '-n', namespace), 'no');
    assert.equal(can(operatorName, 'patch', 'secrets', '-n', namespace), 'yes');
    assert.equal(
      can(operatorName, 'update', 'onepassworditems.onepassword.com/status', '-n', namespace),
      'no',
    );
    assert.equal(can(operatorName, 'watch', `namespace/${namespace}`), 'yes');
    assert.equal(can(operatorName, 'patch', `namespace/${namespace}`), 'no');
    assert.equal(can(operatorName, 'list', 'namespaces'), 'no');
    assert.equal(can(operatorName, 'get', 'namespace/default'), 'no');
    // Creating the reviews (nothing to read back: the apiserver stores none).
    assert.equal(can(operatorName, 'create', 'tokenreviews.authentication.k8s.io'), 'yes');
    assert.equal(can(operatorName, 'create', 'subjectaccessreviews.authorization.k8s.io'), 'yes');
    assert.equal(can(operatorName, 'get', '/metrics'), 'no');
    assert.equal(can('scraper', 'get', '/metrics'), 'yes');
    assert.equal(can('bystander', 'get', '/metrics'), 'no');
    assert.equal(can(webhookName, 'list', 'secrets', '-n', namespace), 'no');
    assert.equal(can(webhookName, 'create', 'leases', '-n', namespace), 'no');
    await operator.stop();
    await webhook.stop();
  });

  it('lets connect-local fill its token Secret, and no more', async (t) => {
    const namespace = await testNamespace(t, 'chart-rbac-cl');
    const release = installChart(t, namespace, [
      'connectLocal.enabled=true',
      'injector.create=false',
    ]);

    // The chart's arguments, but on a free local port, with a local state dir and data file.
    const name = `${release}-op-kube-connect-local`;
    const local = new Set(['host', 'port', 'state-dir', 'data']);
    const args = deploymentArgs(namespace, name).filter(
      (arg) => !local.has(/^--([^=]+)=/.exec(arg)?.[1] ?? ''),
    );
    assert.ok(args.includes('--token-secret=onepassword-token'), args.join(' '));
    const server = await startConnectLocal(t, {
      args: [
        ...args,
        `--data=${join(CHART_DIR, 'files', 'connect-local', 'connect-local.yaml')}`,
        `--kubeconfig=${await serviceAccountKubeconfig(t, namespace, name)}`,
      ],
      env: { POD_NAMESPACE: namespace },
    });
    const token = await secretText(namespace, 'onepassword-token', 'token');
    assert.deepEqual(await vaultNames(server.url, token), ['Production', 'Staging']);
    assert.ok(!server.output().includes(token), 'the token is in the log');

    const can = (...check: string[]): string =>
      serviceAccountCan(namespace, name, ...check, '-n', namespace);
    assert.equal(can('list', 'secrets'), 'no');
    assert.equal(can('watch', 'secrets'), 'no');
    assert.equal(can('create', 'secrets'), 'no');
    assert.equal(can('delete', 'secret/onepassword-token'), 'no');
    assert.equal(can('get', 'secret/other'), 'no');
    assert.equal(can('get', 'pods'), 'no');
    await server.stop();
  });
});
