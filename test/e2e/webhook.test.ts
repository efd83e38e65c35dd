// The injector against the real kube-apiserver: it calls `op-kube webhook` over TLS for pods in labelled namespaces.
import assert from 'node:assert/strict';
import { describe, it, before, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import fc from 'fast-check';
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  type V1MutatingWebhookConfiguration,
  type V1Pod,
} from '@kubernetes/client-node';
import { registeredConfiguration } from '../../src/webhook/tls/self-managed.ts';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { generatedPod, type Expected } from '../support/admission-reviews.ts';
import {
  eventually,
  isStatus,
  kubeConfigFor,
  kubectl,
  testNamespace,
  waitForDefaultServiceAccount,
} from '../support/cluster.ts';
import { freePort } from '../../tools/cluster/ports.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { startWebhook } from '../support/webhook.ts';

const config = kubeConfigFor();
const core = config.makeApiClient(CoreV1Api);
const admission = config.makeApiClient(AdmissionregistrationV1Api);

function pod(
  name: string,
  containers: { name: string; command?: string[] }[],
  inject = 'app',
): V1Pod {
  return {
    metadata: { name, annotations: { 'operator.1password.io/inject': inject } },
    spec: {
      containers: containers.map((container) => ({
        image: 'registry.example/app:1',
        env: [{ name: 'DB_PASSWORD', value: 'op://vault/db/password' }],
        ...container,
      })),
    },
  };
}

function label(namespace: string): void {
  const result = kubectl([
    'label',
    'namespace',
    namespace,
    'secrets-injection=enabled',
    '--overwrite',
  ]);
  assert.equal(result.status, 0, result.stderr);
}

async function injectedNamespace(
  t: Parameters<typeof testNamespace>[0],
  prefix: string,
): Promise<string> {
  const namespace = await testNamespace(t, prefix);
  label(namespace);
  return namespace;
}

function assertInjected(stored: V1Pod, command: string[]): void {
  const app = stored.spec?.containers.find((container) => container.name === 'app');
  assert.deepEqual(app?.command, ['/op/bin/op', 'run', '--', ...command]);
  assert.equal(stored.metadata?.annotations?.['operator.1password.io/status'], 'injected');
  const copy = stored.spec?.initContainers?.find((container) => container.name === 'copy-op-bin');
  assert.equal(copy?.image, '1password/op:2');
  assert.equal(copy?.securityContext?.runAsNonRoot, true);
  assert.ok(
    stored.spec?.volumes?.some(
      (volume) => volume.name === 'op-bin' && volume.emptyDir?.medium === 'Memory',
    ),
  );
  const token = app?.env?.find((variable) => variable.name === 'OP_CONNECT_TOKEN');
  assert.deepEqual(
    { ...token?.valueFrom?.secretKeyRef },
    { name: 'onepassword-token', key: 'token' },
  );
  assert.equal(token?.value, undefined, 'the token value never enters the pod spec');
}

describe('op-kube webhook called by the apiserver', { timeout: 180_000 }, () => {
  const configName = `op-kube-e2e-${process.pid}`;

  const cleanups: (() => Promise<void>)[] = [];
  const suite = { after: (cleanup: () => Promise<void>) => void cleanups.push(cleanup) };

  before(async () => {
    const home = await testNamespace(suite, 'webhook-home');
    await startWebhook(suite, { namespace: home, webhookConfigName: configName });
    await eventually('the webhook configuration with its caBundle', async () => {
      const created = await admission.readMutatingWebhookConfiguration({ name: configName });
      return created.webhooks?.[0]?.clientConfig.caBundle ? created : undefined;
    });
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    // The webhook removes its configuration on exit; make sure no Fail-policy hook is left behind.
    await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
  });

  it('stores pods in a labelled namespace mutated, with the token wired from a Secret', async (t) => {
    const namespace = await injectedNamespace(t, 'webhook-inject');
    await core.createNamespacedPod({
      namespace,
      body: pod('app', [{ name: 'app', command: ['/bin/app', 'serve'] }]),
    });
    const stored = await core.readNamespacedPod({ namespace, name: 'app' });
    assertInjected(stored, ['/bin/app', 'serve']);
    const env = stored.spec?.containers[0]?.env ?? [];
    assert.equal(
      env.find((variable) => variable.name === 'DB_PASSWORD')?.value,
      'op://vault/db/password',
    );
    assert.equal(
      env.find((variable) => variable.name === 'OP_CONNECT_HOST')?.value,
      'http://onepassword-connect:8080',
    );
  });

  it('leaves pods in unlabelled namespaces untouched', async (t) => {
    const namespace = await testNamespace(t, 'webhook-plain');
    await core.createNamespacedPod({
      namespace,
      body: pod('app', [{ name: 'app', command: ['/bin/app'] }]),
    });
    const stored = await core.readNamespacedPod({ namespace, name: 'app' });
    assert.deepEqual(stored.spec?.containers[0]?.command, ['/bin/app']);
    assert.equal(stored.spec?.initContainers, undefined);
    assert.equal(stored.metadata?.annotations?.['operator.1password.io/status'], undefined);
  });

  it('denies a pod whose listed container has no command, naming the container', async (t) => {
    const namespace = await injectedNamespace(t, 'webhook-deny');
    const refused = await core
      .createNamespacedPod({ namespace, body: pod('nocmd', [{ name: 'app' }]) })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.ok(refused instanceof ApiException, String(refused));
    assert.equal(refused.code, 400);
    assert.match(String(refused.body), /container \\?"app\\?" has no command/);
    await assert.rejects(
      core.readNamespacedPod({ namespace, name: 'nocmd' }),
      (error) => error instanceof ApiException && error.code === 404,
    );
  });

  // Issue #10, defect 7: the apiserver sends a pod without containers as "containers": null, which
  // made the webhook throw; the user saw "InternalError … failed calling webhook".
  it('leaves a pod with only init containers to the apiserver’s own validation, not an InternalError', async (t) => {
    const namespace = await injectedNamespace(t, 'webhook-init-only');
    // No containers at all: not a V1Pod as typed, but what a careless manifest holds.
    const body = {
      metadata: { name: 'init-only', annotations: { 'operator.1password.io/inject': 'migrate' } },
      spec: {
        initContainers: [{ name: 'migrate', image: 'registry.example/app:1', command: ['/m'] }],
      },
    } as unknown as V1Pod;
    const refused = await core.createNamespacedPod({ namespace, body }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(refused instanceof ApiException, String(refused));
    const text = String(refused.body);
    assert.doesNotMatch(text, /failed calling webhook|InternalError/);
    assert.equal(refused.code, 422, text);
    assert.match(text, /spec\.containers: Required value/);
  });

  it('denies a regular container named copy-op-bin by name, rather than patch in a duplicate', async (t) => {
    const namespace = await injectedNamespace(t, 'webhook-reserved');
    const body = pod('reserved', [
      { name: 'app', command: ['/bin/app'] },
      { name: 'copy-op-bin', command: ['/bin/tool'] },
    ]);
    const refused = await core.createNamespacedPod({ namespace, body }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(refused instanceof ApiException, String(refused));
    assert.equal(refused.code, 400);
    assert.match(
      String(refused.body),
      /denied the request: the container name \\?"copy-op-bin\\?" is reserved/,
    );
  });

  it('turns no generated pod the apiserver accepts into an InternalError or an invalid pod (dry run)', async (t) => {
    const plain = await testNamespace(t, 'webhook-fuzz-plain');
    const labelled = await injectedNamespace(t, 'webhook-fuzz');
    await waitForDefaultServiceAccount(plain);
    await waitForDefaultServiceAccount(labelled);
    const seed = Number(process.env.FUZZ_SEED ?? 20_251_206);
    const outcomes = new Map<Expected, number>();
    const started = performance.now();
    const create = (namespace: string, body: V1Pod): Promise<V1Pod> =>
      core.createNamespacedPod({ namespace, body, dryRun: 'All' });
    await fc.assert(
      fc.asyncProperty(generatedPod, async ({ pod: generated, expected }) => {
        const body = generated as V1Pod;
        // The oracle's premise: without the webhook, Kubernetes takes this pod.
        await create(plain, body);
        const result = await create(labelled, body).then(
          (stored) => ({ stored }),
          (error: unknown) => ({ error }),
        );
        outcomes.set(expected, (outcomes.get(expected) ?? 0) + 1);
        if ('error' in result) {
          const { error } = result;
          assert.ok(error instanceof ApiException, String(error));
          const text = String(error.body);
          assert.doesNotMatch(text, /failed calling webhook|InternalError/);
          assert.equal(expected, 'deny', text);
          assert.equal(error.code, 400, text);
          assert.match(text, /admission webhook .* denied the request/);
          return;
        }
        assert.notEqual(expected, 'deny', 'a pod the webhook should deny was admitted');
        const { stored } = result;
        const copies = (stored.spec?.initContainers ?? []).filter(
          (container) => container.name === 'copy-op-bin',
        );
        assert.equal(copies.length, expected === 'inject' ? 1 : 0);
      }),
      { seed, numRuns: Number(process.env.FUZZ_E2E_RUNS ?? 100) },
    );
    t.diagnostic(
      `apiserver fuzz: seed ${seed}, ${[...outcomes].map(([o, k]) => `${o} ${k}`).join(', ')}, ` +
        `${Math.round(performance.now() - started)} ms`,
    );
  });

  it('lets an injected pod, and one created before its namespace was labelled, be updated unchanged', async (t) => {
    const namespace = await testNamespace(t, 'webhook-update');
    await core.createNamespacedPod({
      namespace,
      body: pod('before', [{ name: 'app', command: ['/bin/app'] }]),
    });
    label(namespace);
    await core.createNamespacedPod({
      namespace,
      body: pod('after', [{ name: 'app', command: ['/bin/app'] }]),
    });
    for (const name of ['before', 'after']) {
      const stored = await core.readNamespacedPod({ namespace, name });
      const relabelled = kubectl(['label', 'pod', name, '-n', namespace, 'edited=yes']);
      assert.equal(relabelled.status, 0, relabelled.stderr);
      const updated = await core.readNamespacedPod({ namespace, name });
      assert.equal(updated.metadata?.labels?.edited, 'yes');
      assert.deepEqual(
        updated.spec,
        stored.spec,
        `${name}: the update changed nothing but the label`,
      );
    }
    const before = await core.readNamespacedPod({ namespace, name: 'before' });
    assert.deepEqual(before.spec?.containers[0]?.command, ['/bin/app']);
  });

  it('a second webhook stopping removes its registration before it stops answering: no pod is refused', async (t) => {
    // Two webhooks on one cluster (two developers, or a test beside another): when one stops,
    // pods in labelled namespaces must not meet its closed port through a configuration it left.
    const home = await testNamespace(t, 'webhook-leaving');
    const leavingName = `${configName}-leaving`;
    const leaving = await startWebhook(t, { namespace: home, webhookConfigName: leavingName });
    t.after(() =>
      admission.deleteMutatingWebhookConfiguration({ name: leavingName }).then(
        () => undefined,
        () => undefined,
      ),
    );
    await eventually('the second configuration with its caBundle', async () => {
      const created = await admission.readMutatingWebhookConfiguration({ name: leavingName });
      return created.webhooks?.[0]?.clientConfig.caBundle ? created : undefined;
    });
    const namespace = await injectedNamespace(t, 'webhook-during-stop');
    const failures: string[] = [];
    let created = 0;
    let stopped = false;
    // Four writers creating pods back to back from before the stop until a second after it.
    const writers = Array.from({ length: 4 }, async (_, writer) => {
      for (let index = 0; !stopped; index += 1) {
        await core
          .createNamespacedPod({
            namespace,
            body: pod(`w${writer}-${index}`, [{ name: 'app', command: ['/bin/app'] }]),
          })
          .then(
            () => (created += 1),
            (error: unknown) => failures.push(String(error).slice(0, 300)),
          );
      }
    });
    await sleep(500);
    await leaving.stop();
    const exit = leaving.exit();
    await sleep(1_000);
    stopped = true;
    await Promise.all(writers);
    // It exited by itself on SIGTERM, not by the SIGKILL 20 s later (a silent connection the
    // apiserver had dialled used to hold the server's close).
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.deepEqual(failures, []);
    assert.ok(created > 20, `only ${created} pods created`);
    await assert.rejects(
      admission.readMutatingWebhookConfiguration({ name: leavingName }),
      (error) => isStatus(error, 404),
    );
  });
});

describe(
  'two webhook replicas behind one address, CA rotated while pods are created',
  { timeout: 300_000 },
  () => {
    it('admits all 200 pods with no failure, and ends serving from the new CA', async (t) => {
      const configName = `op-kube-e2e-ha-${process.pid}`;
      t.after(async () => {
        await admission
          .deleteMutatingWebhookConfiguration({ name: configName })
          .catch(() => undefined);
      });
      const home = await testNamespace(t, 'webhook-ha-home');
      const ports = [await freePort(), await freePort()];
      const proxy = await startTcpProxy(ports);
      t.after(() => proxy.close());
      const replicas = [];
      for (const port of ports) {
        replicas.push(
          await startWebhook(t, {
            namespace: home,
            webhookConfigName: configName,
            port,
            registerUrl: () => `https://127.0.0.1:${proxy.port}/inject`,
            // Short, so the rotation's second step comes within the test.
            args: ['--ca-propagation=2s'],
          }),
        );
      }
      const namespace = await injectedNamespace(t, 'webhook-ha');
      await eventually('the webhook configuration', () =>
        admission.readMutatingWebhookConfiguration({ name: configName }),
      );

      const failures: string[] = [];
      let created = 0;
      const createBatch = async (count: number): Promise<void> => {
        const names = Array.from(
          { length: count },
          () => `pod-${(created++).toString().padStart(3, '0')}`,
        );
        for (let start = 0; start < names.length; start += 8) {
          await Promise.all(
            names.slice(start, start + 8).map((name) =>
              core
                .createNamespacedPod({
                  namespace,
                  body: pod(name, [{ name: 'app', command: ['/bin/app'] }]),
                })
                .catch((error: unknown) => {
                  failures.push(
                    `${name}: ${error instanceof ApiException ? String(error.body) : String(error)}`,
                  );
                }),
            ),
          );
        }
      };
      const tlsSecret = async (): Promise<Record<string, string>> => {
        const secret = await core.readNamespacedSecret({
          namespace: home,
          name: 'op-kube-webhook-tls',
        });
        return Object.fromEntries(
          Object.entries(secret.data ?? {}).map(([key, value]) => [
            key,
            Buffer.from(value, 'base64').toString('utf8'),
          ]),
        );
      };
      const issuerOf = (pem: string): string => new X509Certificate(pem).issuer;

      await createBatch(50);
      const original = await tlsSecret();
      const annotate = kubectl([
        'annotate',
        'secret',
        'op-kube-webhook-tls',
        '-n',
        home,
        `op-kube.io/rotate-ca=${Date.now()}`,
      ]);
      assert.equal(annotate.status, 0, annotate.stderr);
      await createBatch(50);
      const rotated = await eventually(
        'the serving certificate to come from the new CA',
        async () => {
          const current = await tlsSecret();
          const caCount = (current['ca.crt'] ?? '').match(/BEGIN CERTIFICATE/g)?.length ?? 0;
          return caCount === 2 &&
            issuerOf(current['tls.crt'] ?? '') !== issuerOf(original['tls.crt'] ?? '')
            ? current
            : undefined;
        },
        { timeoutMs: 60_000 },
      );
      // Let both replicas pick the new certificate up, then make the apiserver open new connections.
      await sleep(1_500);
      proxy.dropConnections();
      await createBatch(100);

      assert.deepEqual(failures, []);
      const pods = await core.listNamespacedPod({ namespace });
      assert.equal(pods.items.length, 200);
      for (const stored of pods.items) assertInjected(stored, ['/bin/app']);
      const published = await admission.readMutatingWebhookConfiguration({ name: configName });
      assert.equal(
        Buffer.from(published.webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString(
          'utf8',
        ),
        rotated['ca.crt'],
        'the caBundle holds both CAs',
      );
      assert.ok(
        proxy.connections.every((count) => count > 0),
        `both replicas served: ${proxy.connections.join(', ')}`,
      );
      for (const replica of replicas) {
        assert.match(
          await replica.metrics(),
          /op_kube_webhook_admissions_total\{[^}]*outcome="injected"[^}]*\} [1-9]/,
        );
      }
    });
  },
);

describe('the MutatingWebhookConfiguration manifest', () => {
  it('passes server-side validation and asks for what --register-url configures', () => {
    const file = join(repoRoot, 'examples', 'webhook', 'mutatingwebhookconfiguration.yaml');
    const dryRun = kubectl(['apply', '--dry-run=server', '-f', file]);
    assert.equal(dryRun.status, 0, dryRun.stderr);
    const manifest = yaml.load(readFileSync(file, 'utf8')) as V1MutatingWebhookConfiguration;
    const registered = registeredConfiguration(
      'x',
      { url: new URL('https://127.0.0.1:8443/inject'), failurePolicy: 'Fail' },
      'Q0E=',
    );
    const { clientConfig: _manifestClient, ...fromManifest } = manifest.webhooks?.[0] ?? {
      name: '',
      clientConfig: {},
      sideEffects: '',
      admissionReviewVersions: [],
    };
    const { clientConfig: _registeredClient, ...fromRegistration } = registered.webhooks?.[0] ?? {
      name: '',
      clientConfig: {},
      sideEffects: '',
      admissionReviewVersions: [],
    };
    assert.deepEqual(fromManifest, fromRegistration);
  });
});
