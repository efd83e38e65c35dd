// The injector half of issue #13's migration, end to end, on a private control plane (it registers
// a webhook configuration matching every labelled namespace, as 1Password's does). Before the
// switch, 1Password's injector (a stand-in answering with the JSON patch its webhook.go builds)
// injects 1Password's own sample Deployments, applied unchanged, and a workload with a sidecar,
// an existing volume and env. Then op-kube's webhook is started and 1Password's configuration
// deleted, as the README's migration section says, and the test checks that: pods injected before
// the switch pass through op-kube's webhook untouched on UPDATE; new pods of the same Deployments
// (a scale-up) come out exactly as 1Password's injector made them, but for a named allow-list of
// op-kube's fixes; the samples applied unchanged after the switch give the same pods too.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  type V1Deployment,
  type V1Pod,
  type V1PodSpec,
} from '@kubernetes/client-node';
import { repoRoot } from '../../tools/cluster/paths.ts';
import {
  eventually,
  kubeConfigFor,
  kubectl,
  privatePlane,
  waitForDefaultServiceAccount,
} from '../support/cluster.ts';
import {
  onePasswordBuildNumber,
  onePasswordWebhookConfiguration,
  ONEPASSWORD_INJECTOR_VERSION,
  startOnePasswordInjector,
  type OnePasswordInjector,
} from '../support/onepassword-injector.ts';
import { startWebhook } from '../support/webhook.ts';

const { plane, remove: removePlane } = privatePlane('migration-injector');
const SAMPLES = join(repoRoot, 'test', 'fixtures', 'onepassword-injector-samples');
const ONEPASSWORD_CONFIG = 'secrets-injector-webhook-config';
const OP_KUBE_CONFIG = 'op-kube-injector';
const HOME = 'onepassword';

/** Each workload: its namespace before the switch, the namespace it is applied to after, how. */
const WORKLOADS = [
  {
    app: 'app-example',
    before: 'connect-app',
    after: 'connect-app-2',
    file: 'client-connect.yaml',
  },
  { app: 'app-example', before: 'sa-app', after: 'sa-app-2', file: 'client-service-account.yaml' },
  { app: 'worker', before: 'worker', after: 'worker-2', file: undefined },
] as const;

/** Not a 1Password sample: a sidecar left alone, an existing volume, env and mount, a pinned op. */
const WORKER: V1Deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'worker' },
  spec: {
    selector: { matchLabels: { app: 'worker' } },
    template: {
      metadata: {
        labels: { app: 'worker' },
        annotations: {
          'operator.1password.io/inject': 'worker',
          'operator.1password.io/version': '2.30.0',
        },
      },
      spec: {
        volumes: [{ name: 'config', configMap: { name: 'worker-config' } }],
        containers: [
          {
            name: 'worker',
            image: 'registry.invalid/worker:1',
            command: ['/bin/worker', '--queue=jobs'],
            args: ['--verbose'],
            env: [
              { name: 'OP_CONNECT_HOST', value: 'http://onepassword-connect:8080' },
              {
                name: 'OP_CONNECT_TOKEN',
                valueFrom: { secretKeyRef: { name: 'onepassword-token', key: 'token' } },
              },
              { name: 'QUEUE_PASSWORD', value: 'op://jobs/queue/password' },
            ],
            volumeMounts: [{ name: 'config', mountPath: '/etc/worker' }],
          },
          { name: 'proxy', image: 'registry.invalid/proxy:1', command: ['/bin/proxy'] },
        ],
      },
    },
  },
};

function ok(args: readonly string[]): string {
  const result = kubectl(args, plane);
  assert.equal(result.status, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function clients(): { apps: AppsV1Api; core: CoreV1Api; admission: AdmissionregistrationV1Api } {
  const config = kubeConfigFor(plane);
  return {
    apps: config.makeApiClient(AppsV1Api),
    core: config.makeApiClient(CoreV1Api),
    admission: config.makeApiClient(AdmissionregistrationV1Api),
  };
}

async function apply(workload: (typeof WORKLOADS)[number], namespace: string): Promise<void> {
  if (workload.file === undefined) {
    await clients().apps.createNamespacedDeployment({ namespace, body: WORKER });
  } else {
    ok(['apply', '-n', namespace, '-f', join(SAMPLES, workload.file)]);
  }
}

async function pods(namespace: string, app: string, count: number): Promise<V1Pod[]> {
  return eventually(`${count} pod(s) of ${namespace}/${app}`, async () => {
    const listed = await clients().core.listNamespacedPod({
      namespace,
      labelSelector: `app=${app}`,
    });
    return listed.items.length === count ? listed.items : undefined;
  });
}

/**
 * The pod's spec and the annotations the injector writes, with what differs between two pods of
 * one template by construction taken out: the ServiceAccount token volume's random suffix.
 */
function injectedShape(pod: V1Pod): { annotations: Record<string, string>; spec: V1PodSpec } {
  const spec = structuredClone(pod.spec) as V1PodSpec;
  const tokenVolume = spec.volumes?.find((volume) =>
    volume.name.startsWith('kube-api-access-'),
  )?.name;
  const rename = (name: string): string => (name === tokenVolume ? 'kube-api-access' : name);
  for (const volume of spec.volumes ?? []) volume.name = rename(volume.name);
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const mount of container.volumeMounts ?? []) mount.name = rename(mount.name);
  }
  return { annotations: { ...pod.metadata?.annotations }, spec };
}

/**
 * op-kube's deliberate differences from 1Password's injection, each named: copy-op-bin gets a
 * restricted securityContext and resources (1Password's fails restricted Pod Security and quota
 * admission), and the op CLI is told op-kube's build number.
 */
function withoutOpKubeFixes(
  shape: ReturnType<typeof injectedShape>,
): ReturnType<typeof injectedShape> {
  const copy = structuredClone(shape);
  const init = copy.spec.initContainers?.find((container) => container.name === 'copy-op-bin');
  assert.ok(init, 'copy-op-bin is there');
  delete init.securityContext;
  init.resources = {};
  for (const container of copy.spec.containers) {
    for (const variable of container.env ?? []) {
      if (variable.name === 'OP_INTEGRATION_BUILDNUMBER') variable.value = '<build number>';
    }
  }
  return copy;
}

describe("migrating from 1Password's injector to op-kube's", () => {
  let injector: OnePasswordInjector;
  /** Per workload, its pod as 1Password's injector made it. */
  const before1Password = new Map<string, V1Pod>();
  const key = (workload: (typeof WORKLOADS)[number]): string => workload.before;

  before(async () => {
    assert.equal(await plane.up(), 'started');
    const { core, admission } = clients();
    await core.createNamespace({ body: { metadata: { name: HOME } } });
    for (const workload of WORKLOADS) {
      for (const name of [workload.before, workload.after]) {
        await core.createNamespace({
          body: { metadata: { name, labels: { 'secrets-injection': 'enabled' } } },
        });
        await waitForDefaultServiceAccount(name, kubeConfigFor(plane));
      }
    }
    // 1Password's injector and its configuration (k8s_client.go's spec, reached by URL here).
    injector = await startOnePasswordInjector();
    await admission.createMutatingWebhookConfiguration({
      body: onePasswordWebhookConfiguration({
        caBundle: Buffer.from(injector.caPem).toString('base64'),
        url: injector.url,
      }),
    });
    for (const workload of WORKLOADS) {
      await apply(workload, workload.before);
      const [pod] = await pods(workload.before, workload.app, 1);
      assert.ok(pod);
      before1Password.set(key(workload), pod);
    }
  });

  after(async () => {
    await injector?.stop();
    await removePlane();
  });

  it("1Password's injector made the pods (the stand-in's patch went through the apiserver)", () => {
    assert.equal(injector.patched(), WORKLOADS.length);
    for (const pod of before1Password.values()) {
      assert.equal(pod.metadata?.annotations?.['operator.1password.io/status'], 'injected');
      const injected = pod.spec?.containers.find((container) =>
        container.command?.[0]?.startsWith('/op/bin/op'),
      );
      assert.deepEqual(injected?.command?.slice(0, 3), ['/op/bin/op', 'run', '--']);
      const build = injected?.env?.find(
        (variable) => variable.name === 'OP_INTEGRATION_BUILDNUMBER',
      );
      assert.equal(build?.value, onePasswordBuildNumber(ONEPASSWORD_INJECTOR_VERSION));
    }
  });

  it("after the switch, pods injected by 1Password pass untouched and new pods are injected as 1Password's were", async (t) => {
    const { admission } = clients();
    const webhook = await startWebhook(t, {
      plane,
      namespace: HOME,
      webhookConfigName: OP_KUBE_CONFIG,
    });
    await eventually("op-kube's configuration with its caBundle", async () => {
      const config = await admission.readMutatingWebhookConfiguration({ name: OP_KUBE_CONFIG });
      return config.webhooks?.[0]?.clientConfig.caBundle ? config : undefined;
    });
    // The README's step: 1Password's injector goes, its configuration (left behind) is deleted.
    await admission.deleteMutatingWebhookConfiguration({ name: ONEPASSWORD_CONFIG });
    await injector.stop();

    for (const workload of WORKLOADS) {
      const old = before1Password.get(key(workload));
      const oldName = old?.metadata?.name;
      assert.ok(old && oldName);
      const namespace = workload.before;

      // UPDATE of a pod 1Password injected: op-kube's webhook sees it and changes nothing.
      ok(['label', 'pod', oldName, '-n', namespace, 'migrated=yes']);
      const updated = await clients().core.readNamespacedPod({
        name: oldName,
        namespace,
      });
      assert.equal(updated.metadata?.labels?.migrated, 'yes');
      assert.deepEqual(updated.spec, old.spec, `${namespace}: UPDATE left the spec as it was`);
      assert.deepEqual(updated.metadata?.annotations, old.metadata?.annotations);

      // A new pod of the same Deployment, made through op-kube's webhook.
      ok(['scale', 'deployment', workload.app, '-n', namespace, '--replicas=2']);
      const both = await pods(namespace, workload.app, 2);
      const fresh = both.find((pod) => pod.metadata?.name !== oldName);
      assert.ok(fresh);
      const theirs = injectedShape(old);
      const ours = injectedShape(fresh);
      assert.deepEqual(
        withoutOpKubeFixes(ours),
        withoutOpKubeFixes(theirs),
        `${namespace}/${workload.app}: injected as 1Password did, but for op-kube's fixes`,
      );
      // The allow-list is real: those fields do differ, and only as documented.
      const copy = ours.spec.initContainers?.find((container) => container.name === 'copy-op-bin');
      const theirCopy = theirs.spec.initContainers?.find((c) => c.name === 'copy-op-bin');
      assert.equal(theirCopy?.securityContext, undefined);
      assert.equal(copy?.securityContext?.runAsNonRoot, true);
      assert.equal(copy?.securityContext?.allowPrivilegeEscalation, false);
      assert.deepEqual(copy?.securityContext?.capabilities?.drop, ['ALL']);
      assert.ok(copy?.resources?.limits?.memory);

      // The same manifest applied after the switch in a fresh namespace: the same pod.
      await apply(workload, workload.after);
      const [applied] = await pods(workload.after, workload.app, 1);
      assert.ok(applied);
      assert.deepEqual(
        withoutOpKubeFixes(injectedShape(applied)),
        withoutOpKubeFixes(theirs),
        `${workload.after}/${workload.app}: applied after the switch, injected as before`,
      );
    }
    // op-kube's webhook logged no error on the way.
    assert.doesNotMatch(webhook.logs(), /"level":50/);
  });
});
