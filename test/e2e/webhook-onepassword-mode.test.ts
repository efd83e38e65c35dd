// 1Password's injector Deployment with only the image swapped (issue #13, point 5): op-kube's
// ENTRYPOINT (bin/op-kube.js) run with the exact args of 1Password's manifest, as a
// ServiceAccount bound to 1Password's exact ClusterRole, against a real control plane of its own.
//
// The plain plane has no node, so the apiserver cannot reach a webhook through its Service: the
// test checks that the apiserver holds 1Password's configuration and consults it (a pod in a
// labelled namespace is refused by that webhook, Service unreachable), that its caBundle verifies
// the certificate served, and sends /inject an AdmissionReview over TLS trusting only that
// caBundle, under the Service's DNS name. On shutdown the configuration is removed.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, describe, it } from 'node:test';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { generateCertificateAuthority } from '../../src/webhook/tls/certificates.ts';
import {
  caBundleOfConfiguration,
  onePasswordWebhookConfiguration,
} from '../../src/webhook/tls/onepassword-spec.ts';
import {
  eventually,
  isStatus,
  kubeConfigFor,
  kubectl,
  privatePlane,
  serviceAccountKubeconfig,
  testNamespace,
  waitForDefaultServiceAccount,
} from '../support/cluster.ts';
import { spawnOpKube } from '../support/op-kube-process.ts';
import { httpsExchange } from '../support/webhook-https.ts';

// Facts read from 1Password's kubernetes-secrets-injector (not copied): deploy/deployment.yaml
// args (no command: the image ENTRYPOINT), env POD_NAMESPACE; deploy/permissions.yaml rules;
// connect-helm-charts charts/secrets-injector templates/deployment.yaml args (a literal "2>&1")
// and templates/permissions.yaml (the same rules).
const MANIFEST_ARGS = ['-service-name=secrets-injector', '-logtostderr', '-v=4'];
const CHART_ARGS = ['-service-name=secrets-injector', '-alsologtostderr', '-v=4', '2>&1'];
const ONEPASSWORD_RULES = [
  {
    apiGroups: ['admissionregistration.k8s.io'],
    resources: ['mutatingwebhookconfigurations'],
    verbs: ['create', 'get', 'delete', 'list', 'patch', 'update', 'watch'],
  },
];
const CONFIG_NAME = 'secrets-injector-webhook-config';
const { applyPatch } = fastJsonPatch;

// 1Password's configuration matches every namespace labelled secrets-injection=enabled with
// failurePolicy Fail: on the shared plane it would refuse the pods of the webhook tests running at
// the same time (seen in CI). So this file runs on a private plane, which the helpers then use.
const { plane: ownPlane, remove: removePlane } = privatePlane('1p-webhook');
await ownPlane.up();
process.env.OP_KUBE_CLUSTER_DIR = ownPlane.dir;
after(removePlane);

const config = kubeConfigFor();
const admission = config.makeApiClient(AdmissionregistrationV1Api);
const core = config.makeApiClient(CoreV1Api);
const rbac = config.makeApiClient(RbacAuthorizationV1Api);

async function readConfiguration(): Promise<V1MutatingWebhookConfiguration | undefined> {
  return admission
    .readMutatingWebhookConfiguration({ name: CONFIG_NAME })
    .catch((error: unknown) => {
      if (isStatus(error, 404)) return undefined;
      throw error;
    });
}

/** On failure, the webhook's log in the message (it holds no secret: no token is given). */
async function withOutput<T>(output: () => string, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${output()}`);
  }
}

describe("1Password's injector Deployment with op-kube's image", () => {
  for (const [source, args] of [
    ['manifest', MANIFEST_ARGS],
    ['chart', CHART_ARGS],
  ] as const) {
    it(`${source} args: serves with 1Password's RBAC, creates its configuration with a caBundle that verifies the served certificate, injects`, async (t) => {
      // The configuration's name is fixed and cluster-wide: wait until no other test holds it.
      await eventually(
        `no ${CONFIG_NAME} held by another test`,
        async () => ((await readConfiguration()) === undefined ? true : undefined),
        { timeoutMs: 60_000 },
      );

      const namespace = await testNamespace(t, 'op-injector');
      await waitForDefaultServiceAccount(namespace);
      await core.createNamespacedServiceAccount({
        namespace,
        body: { metadata: { name: 'secrets-injector' } },
      });
      // 1Password's ClusterRole and binding, exact rules; names made unique to this test.
      const roleName = `${namespace}-secrets-injector`;
      await rbac.createClusterRole({
        body: { metadata: { name: roleName }, rules: ONEPASSWORD_RULES },
      });
      t.after(() => rbac.deleteClusterRole({ name: roleName }).then(() => undefined));
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: roleName },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
          subjects: [{ kind: 'ServiceAccount', name: 'secrets-injector', namespace }],
        },
      });
      t.after(() => rbac.deleteClusterRoleBinding({ name: roleName }).then(() => undefined));
      // It may not read Secrets or Leases: the self-managed mode could not start with this role.
      for (const resource of ['secrets', 'leases.coordination.k8s.io']) {
        const can = kubectl([
          'auth',
          'can-i',
          'get',
          resource,
          '-n',
          namespace,
          `--as=system:serviceaccount:${namespace}:secrets-injector`,
        ]);
        assert.equal(can.stdout.trim(), 'no', resource);
      }
      const kubeconfig = await serviceAccountKubeconfig(t, namespace, 'secrets-injector');

      // The chart case starts from what 1Password's injector leaves behind: its configuration,
      // with a CA op-kube never saw. It must be replaced, not kept.
      const staleCa =
        source === 'chart'
          ? (
              await generateCertificateAuthority({
                now: new Date(),
                validityMs: 86_400_000,
                commonName: '1password.com',
              })
            ).cert
          : undefined;
      if (staleCa !== undefined) {
        await admission.createMutatingWebhookConfiguration({
          body: onePasswordWebhookConfiguration({
            serviceName: 'secrets-injector',
            namespace,
            caPem: staleCa,
          }),
        });
      }

      // The ENTRYPOINT with 1Password's args, nothing added; the env its Deployment sets.
      const webhook = spawnOpKube(t, args, {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        KUBECONFIG: kubeconfig,
        POD_NAMESPACE: namespace,
      });
      t.after(async () => {
        // Should the process not have removed it (a failed run), do not leave a Fail webhook behind.
        await admission
          .deleteMutatingWebhookConfiguration({ name: CONFIG_NAME })
          .catch(() => undefined);
      });

      const stored = await withOutput(
        webhook.output,
        eventually(
          `${CONFIG_NAME} created or updated with this process's CA`,
          async () => {
            const found = await readConfiguration();
            return found?.webhooks?.[0]?.clientConfig.service?.namespace === namespace &&
              caBundleOfConfiguration(found) !== staleCa
              ? found
              : undefined;
          },
          { timeoutMs: 60_000 },
        ),
      );
      // Plain JSON (the client's model classes compare unequal to object literals).
      const [hook] =
        (JSON.parse(JSON.stringify(stored)) as V1MutatingWebhookConfiguration).webhooks ?? [];
      assert.ok(hook);
      assert.equal(stored.webhooks?.length, 1);
      assert.equal(hook.name, 'secrets-injector.1password.com');
      assert.deepEqual(hook.clientConfig.service, {
        name: 'secrets-injector',
        namespace,
        path: '/inject',
        port: 443,
      });
      assert.deepEqual(hook.namespaceSelector, { matchLabels: { 'secrets-injection': 'enabled' } });
      assert.equal(hook.failurePolicy, 'Fail');
      assert.equal(hook.sideEffects, 'None');
      assert.deepEqual(hook.admissionReviewVersions, ['v1', 'v1beta1']);
      assert.deepEqual(hook.rules?.[0]?.operations, ['CREATE', 'UPDATE']);
      assert.deepEqual(hook.rules?.[0]?.resources, ['pods']);
      const caPem = caBundleOfConfiguration(stored);
      assert.ok(caPem);

      // /inject over TLS, trusting only the caBundle, under the Service's name (SNI and check).
      const review = {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: 'e2e-onepassword-mode',
          kind: { group: '', version: 'v1', kind: 'Pod' },
          resource: { group: '', version: 'v1', resource: 'pods' },
          operation: 'CREATE',
          namespace,
          object: {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: {
              name: 'app',
              namespace,
              annotations: { 'operator.1password.io/inject': 'app' },
            },
            spec: {
              containers: [
                {
                  name: 'app',
                  image: 'registry.example/app:1',
                  command: ['/app'],
                  env: [{ name: 'DB_PASSWORD', value: 'op://vault/db/password' }],
                },
              ],
            },
          },
        },
      };
      const serviceName = `secrets-injector.${namespace}.svc`;
      const reply = await withOutput(
        webhook.output,
        eventually(
          '/inject answering over TLS',
          () =>
            httpsExchange(
              {
                host: '127.0.0.1',
                port: 8443,
                servername: serviceName,
                ca: caPem,
                method: 'POST',
                path: '/inject',
                headers: { 'content-type': 'application/json' },
                checkServerIdentity: (_host, certificate) =>
                  new X509Certificate(certificate.raw).checkHost(serviceName) === undefined
                    ? new Error(`certificate not valid for ${serviceName}`)
                    : undefined,
              },
              JSON.stringify(review),
            ).catch(() => undefined),
          { timeoutMs: 30_000 },
        ),
      );
      assert.equal(reply.status, 200, reply.text);
      const response = (
        JSON.parse(reply.text) as {
          response: { uid: string; allowed: boolean; patch?: string; patchType?: string };
        }
      ).response;
      assert.equal(response.uid, 'e2e-onepassword-mode');
      assert.equal(response.allowed, true);
      assert.equal(response.patchType, 'JSONPatch');
      const operations = JSON.parse(
        Buffer.from(response.patch ?? '', 'base64').toString('utf8'),
      ) as Operation[];
      const { newDocument: mutated } = applyPatch(
        structuredClone(review.request.object),
        operations,
      );
      const app = mutated.spec.containers[0] as { command?: string[] } | undefined;
      assert.deepEqual(app?.command, ['/op/bin/op', 'run', '--', '/app']);
      const copy = (mutated.spec as { initContainers?: { name: string; image: string }[] })
        .initContainers?.[0];
      assert.deepEqual([copy?.name, copy?.image], ['copy-op-bin', '1password/op:2']);
      assert.equal(
        (mutated.metadata.annotations as Record<string, string>)['operator.1password.io/status'],
        'injected',
      );

      // The apiserver consults the configuration: a pod in a labelled namespace is refused by
      // 1Password's webhook (its Service has no endpoint on a plane without a node).
      const labelled = await testNamespace(t, 'op-injected');
      assert.equal(
        kubectl(['label', 'namespace', labelled, 'secrets-injection=enabled']).status,
        0,
      );
      await waitForDefaultServiceAccount(labelled);
      const refused = await core
        .createNamespacedPod({
          namespace: labelled,
          body: {
            metadata: { name: 'app', annotations: { 'operator.1password.io/inject': 'app' } },
            spec: {
              containers: [{ name: 'app', image: 'registry.example/app:1', command: ['/app'] }],
            },
          },
        })
        .then(
          () => undefined,
          (error: unknown) => String((error as { body?: unknown }).body ?? error),
        );
      assert.match(refused ?? 'created', /secrets-injector\.1password\.com/);

      // No Secret, no Lease: none was needed, none was made.
      assert.match(webhook.output(), /1Password's TLS mode/);
      assert.doesNotMatch(webhook.output(), /forbidden/i);

      // SIGTERM: the configuration still carries this process's CA, so it is removed (as
      // 1Password's /prestop.sh would), leaving no Fail webhook for labelled namespaces.
      await webhook.stop();
      assert.equal(await readConfiguration(), undefined);
      await sleep(0);
    });
  }
});
