// The plain manifests on a real node, as the README's Install section gives them: `kubectl apply
// -f crds/ -f deploy/` unchanged, with a connect-local standing in for the Connect server the
// default install expects (Service onepassword-connect in namespace op-kube, token Secret
// onepassword-token). The operator and webhook pods become Ready, a OnePasswordItem is synced,
// the webhook answers through its Service, and `kubectl delete -f deploy/` removes all of it
// except the CRD (shared with the other tests).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import yaml from 'js-yaml';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { CHART_DIR, DEPLOY_DIR, NAMESPACE } from '../../tools/render-deploy.ts';
import { eventually, kubectl, testPlane } from '../support/cluster.ts';
import {
  exampleSecretData,
  expectedDigest,
  secretDataDigest,
} from '../support/connect-local-example.ts';
import { apply, helmOk, podsReady, testNode, type TestNode } from '../support/node.ts';

const suffix = randomBytes(3).toString('hex');
const apps = `opk-plain-apps-${suffix}`;
const CRDS_DIR = join(repoRoot, 'crds');
/** The Service name and port deploy/ points the operator and the webhook at. */
const CONNECT_SERVICE = 'onepassword-connect';
/** connect-local's objects carry this release name, so they never match deploy/'s selectors. */
const CONNECT_RELEASE = 'plain-connect';

function kubectlOk(args: readonly string[]): string {
  const result = kubectl(args);
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** kubectl with stdin and a time limit of its own (deleting a namespace can outlast kubectl()'s). */
function kubectlWith(args: readonly string[], input: string, timeoutMs: number): string {
  const plane = testPlane();
  const result = spawnSync(
    join(plane.binDir, 'kubectl'),
    ['--kubeconfig', plane.kubeconfigPath, ...args],
    { input, encoding: 'utf8', timeout: timeoutMs },
  );
  if (result.status !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')}: ${result.error?.message ?? ''} ${result.stderr}`.trim(),
    );
  }
  return result.stdout;
}

/** The objects of deploy/ that exist now, as kubectl names them. */
function deployObjects(): string[] {
  return kubectlOk(['get', '-f', DEPLOY_DIR, '--ignore-not-found', '-o', 'name'])
    .split('\n')
    .filter(Boolean);
}

interface Manifest {
  kind?: string;
  metadata?: { name?: string };
  spec?: {
    template?: { spec?: { containers?: { name: string; image: string }[] } };
  };
}

/** Every document of deploy/. */
function deployManifests(): Manifest[] {
  return ['00-namespace.yaml', 'op-kube.yaml'].flatMap((file) =>
    yaml.loadAll(readFileSync(join(DEPLOY_DIR, file), 'utf8')).filter(Boolean),
  ) as Manifest[];
}

/**
 * connect-local as the default install's Connect: the chart's own connect-local objects (and the
 * empty token Secret it fills), rendered for namespace op-kube, with the Service renamed to the
 * one deploy/ names.
 */
function connectLocalManifests(chartImageArgs: readonly string[]): Manifest[] {
  const rendered = helmOk([
    'template',
    CONNECT_RELEASE,
    CHART_DIR,
    '--namespace',
    NAMESPACE,
    '--set',
    'connectLocal.enabled=true',
    '--show-only',
    'templates/connect-local.yaml',
    '--show-only',
    'templates/operator-secret.yaml',
    ...chartImageArgs,
  ]);
  const manifests = (yaml.loadAll(rendered) as Manifest[]).filter(Boolean);
  const services = manifests.filter((m) => m.kind === 'Service');
  assert.equal(services.length, 1, 'the chart renders one connect-local Service');
  services[0]!.metadata = { ...services[0]!.metadata, name: CONNECT_SERVICE };
  return manifests;
}

describe('the plain manifests (crds/ and deploy/) on a real node', { timeout: 900_000 }, () => {
  let node: TestNode;
  /** Set once this test knows deploy/ was not there before it: only then does it delete deploy/. */
  let owned = false;

  before(async () => {
    node = await testNode();
    const existing = deployObjects();
    if (existing.length > 0) {
      throw new Error(
        `objects of deploy/ exist already (${existing.join(', ')}): this test applies deploy/ ` +
          'and deletes it afterwards; remove them first (kubectl delete -f deploy/)',
      );
    }
    owned = true;
  });

  after(() => {
    kubectl(['delete', 'namespace', apps, '--ignore-not-found', '--wait=false']);
    if (owned) kubectl(['delete', '-f', DEPLOY_DIR, '--ignore-not-found', '--wait=false']);
  });

  it('deploy/ runs the image built here (the name the chart defaults to)', () => {
    const images = deployManifests().flatMap(
      (m) =>
        m.spec?.template?.spec?.containers?.map((c) => `${m.metadata?.name}: ${c.image}`) ?? [],
    );
    assert.ok(images.length >= 2, 'deploy/ has the operator and webhook containers');
    for (const image of images) assert.ok(image.endsWith(`: ${node.images.product.ref}`), image);
  });

  it('kubectl apply -f crds/ -f deploy/ (with a Connect at onepassword-connect): operator and webhook pods Ready', async (t) => {
    const started = Date.now();
    kubectlOk(['apply', '-f', CRDS_DIR, '-f', DEPLOY_DIR]);
    apply(connectLocalManifests(node.chartImageArgs), NAMESPACE);
    // The operator's container waits for the token connect-local writes into onepassword-token.
    const ready = await podsReady(NAMESPACE, 'app.kubernetes.io/instance=op-kube', 2);
    t.diagnostic(
      `kubectl apply to operator and webhook Ready: ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    assert.deepEqual(
      ready.map((pod) => pod.metadata.labels?.['app.kubernetes.io/component']).sort(),
      ['injector', 'operator'],
    );
    await podsReady(NAMESPACE, `app.kubernetes.io/instance=${CONNECT_RELEASE}`, 1);
  });

  it('a OnePasswordItem in an app namespace becomes its Secret', async () => {
    apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: apps } });
    apply(
      {
        apiVersion: 'onepassword.com/v1',
        kind: 'OnePasswordItem',
        metadata: { name: 'database' },
        spec: { itemPath: 'vaults/Production/items/database' },
      },
      apps,
    );
    const expected = expectedDigest(exampleSecretData('Production', 'database'));
    let keys: string[] = [];
    await eventually(
      'Secret database written with the item Production/database',
      () => {
        const result = kubectl(['get', 'secret', 'database', '-n', apps, '-o', 'json']);
        if (result.status !== 0) return Promise.resolve(undefined);
        const data = (JSON.parse(result.stdout) as { data?: Record<string, string> }).data;
        keys = Object.keys(data ?? {}).sort();
        return Promise.resolve(secretDataDigest(data) === expected ? true : undefined);
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message} (the Secret's keys: [${keys.join(', ')}])`);
    });
  });

  it('the webhook answers through its Service: a pod asking for secrets is mutated', () => {
    kubectlOk(['label', 'namespace', apps, 'secrets-injection=enabled']);
    // A server-side dry run goes through admission (the webhook has no side effects) and
    // stores nothing: no pod runs, so the op image of deploy/ (1password/op) is never pulled.
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'injected', annotations: { 'operator.1password.io/inject': 'app' } },
      spec: {
        containers: [
          {
            name: 'app',
            image: node.images.product.ref,
            command: ['node', '-e', 'console.log(process.env.DB_PASSWORD?.length)'],
            env: [{ name: 'DB_PASSWORD', value: 'op://Production/database/password' }],
          },
        ],
      },
    };
    const stdout = kubectlWith(
      ['create', '-n', apps, '--dry-run=server', '-o', 'json', '-f', '-'],
      JSON.stringify(pod),
      60_000,
    );
    const admitted = JSON.parse(stdout) as {
      metadata: { annotations?: Record<string, string> };
      spec: { initContainers?: { name: string; image: string }[] };
    };
    assert.equal(admitted.metadata.annotations?.['operator.1password.io/status'], 'injected');
    assert.deepEqual(
      admitted.spec.initContainers?.map((c) => c.name),
      ['copy-op-bin'],
    );
    assert.match(admitted.spec.initContainers?.[0]?.image ?? '', /^1password\/op:/);
  });

  it('kubectl delete -f deploy/ removes everything it applied; the CRD stays', () => {
    kubectlWith(['delete', 'namespace', apps, '--wait=true', '--timeout=120s'], '', 130_000);
    kubectlWith(['delete', '-f', DEPLOY_DIR, '--wait=true', '--timeout=180s'], '', 190_000);
    assert.deepEqual(deployObjects(), []);
    kubectlOk(['get', 'crd', 'onepassworditems.onepassword.com']);
  });
});
