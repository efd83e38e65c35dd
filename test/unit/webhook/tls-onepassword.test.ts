// `--tls-mode=onepassword` (issue #13, point 5): which command lines select it, 1Password's exact
// configuration, and the in-memory TLS source against a fake apiserver (get/create/update/delete).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parseFlags } from '../../../src/cli/flags.ts';
import { ConfigError } from '../../../src/cli/errors.ts';
import { KubeApiError } from '../../../src/kube/client/api-error.ts';
import type { KubeClient, KubeRequest } from '../../../src/kube/client/client.ts';
import { defaultTlsMode, parseWebhookConfig, webhookFlags } from '../../../src/webhook/config.ts';
import { onePasswordWebhookConfiguration as expectedConfiguration } from '../../support/onepassword-injector.ts';
import {
  caBundleOfConfiguration,
  onePasswordWebhookConfiguration,
} from '../../../src/webhook/tls/onepassword-spec.ts';
import {
  OnePasswordTls,
  deleteConfigurationIfOurs,
  onePasswordServingNames,
  publishConfiguration,
} from '../../../src/webhook/tls/onepassword.ts';

// Facts read from 1Password's repositories (not copied): kubernetes-secrets-injector
// deploy/deployment.yaml args, connect-helm-charts charts/secrets-injector deployment args.
const MANIFEST_ARGS = ['-service-name=secrets-injector', '-logtostderr', '-v=4'];
const CHART_ARGS = ['-service-name=secrets-injector', '-alsologtostderr', '-v=4', '2>&1'];
const CONFIG_PATH =
  '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/secrets-injector-webhook-config';
const COLLECTION_PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

const silent = pino({ level: 'silent' });

function configFor(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  return parseWebhookConfig(parseFlags(Object.values(webhookFlags), args), env, '1.0.0');
}

describe('which command lines run 1Password’s TLS mode', () => {
  it("1Password's manifest and chart args (no --tls-mode) select it, with 1Password's names", () => {
    for (const args of [MANIFEST_ARGS, CHART_ARGS]) {
      const config = configFor(args, { POD_NAMESPACE: 'injector' });
      assert.deepEqual(config.tls, { mode: 'onepassword' }, args.join(' '));
      assert.equal(config.serviceName, 'secrets-injector');
      assert.equal(config.webhookConfigName, 'secrets-injector-webhook-config');
      assert.equal(config.namespace, 'injector');
      assert.equal(config.port, 8443);
    }
  });

  it("without -service-name, 1Password's default Service name secrets-injector-svc", () => {
    const config = configFor(['-port=9443']);
    assert.equal(config.tls.mode, 'onepassword');
    assert.equal(config.serviceName, 'secrets-injector-svc');
  });

  it('one op-kube flag, an explicit --tls-mode, or no flag at all keeps op-kube’s modes', () => {
    assert.equal(configFor([...MANIFEST_ARGS, '--namespace=x']).tls.mode, 'self-managed');
    assert.equal(configFor(['--webhook-config-name=mine', '-v=4']).tls.mode, 'self-managed');
    assert.equal(configFor([]).tls.mode, 'self-managed');
    assert.equal(configFor(['--tls-mode=self-managed', ...MANIFEST_ARGS]).tls.mode, 'self-managed');
    const explicit = configFor(['--tls-mode=onepassword', '--namespace=x', '--service-name=s']);
    assert.equal(explicit.tls.mode, 'onepassword');
    assert.equal(explicit.serviceName, 's');
    assert.equal(explicit.webhookConfigName, 'secrets-injector-webhook-config');
    // op-kube's own chart and manifest always name the mode.
    assert.equal(defaultTlsMode(new Set(['port', 'service-name', 'namespace'])), 'self-managed');
    assert.equal(defaultTlsMode(new Set(['service-name', 'v', 'logtostderr'])), 'onepassword');
  });

  it('refuses --register-url with it (the URL configuration is self-managed’s)', () => {
    assert.throws(
      () => configFor(['--tls-mode=onepassword', '--register-url=https://127.0.0.1:1/inject']),
      (error: unknown) => error instanceof ConfigError && error.setting === '--register-url',
    );
  });
});

describe("1Password's MutatingWebhookConfiguration", () => {
  it('is field for field what its k8s_client.go writes', () => {
    const ca = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    assert.deepEqual(
      onePasswordWebhookConfiguration({
        serviceName: 'secrets-injector',
        namespace: 'ns',
        caPem: ca,
      }),
      expectedConfiguration({
        caBundle: Buffer.from(ca).toString('base64'),
        service: { name: 'secrets-injector', namespace: 'ns', path: '/inject' },
      }),
    );
  });

  it("serving names: 1Password's CN <svc>.<ns>.svc first, then <svc>, <svc>.<ns>, .cluster.local", () => {
    assert.deepEqual(onePasswordServingNames('secrets-injector', 'ns'), [
      'secrets-injector.ns.svc',
      'secrets-injector',
      'secrets-injector.ns',
      'secrets-injector.ns.svc.cluster.local',
    ]);
  });
});

/** An apiserver holding at most the one configuration, with resourceVersions and preconditions. */
function fakeApiserver(options: { failFirst?: number; existing?: V1MutatingWebhookConfiguration }) {
  let stored = options.existing;
  let version = 1;
  let failures = options.failFirst ?? 0;
  const calls: string[] = [];
  const client = {
    request(request: KubeRequest): Promise<unknown> {
      calls.push(`${request.method} ${request.path}`);
      if (failures > 0) {
        failures -= 1;
        return Promise.reject(new KubeApiError({ status: 503 }, 'unavailable'));
      }
      const notFound = new KubeApiError({ status: 404, reason: 'NotFound' }, 'not found');
      const body = request.body as V1MutatingWebhookConfiguration & {
        preconditions?: { resourceVersion?: string };
      };
      switch (`${request.method} ${request.path}`) {
        case `GET ${CONFIG_PATH}`:
          return stored ? Promise.resolve(structuredClone(stored)) : Promise.reject(notFound);
        case `POST ${COLLECTION_PATH}`:
          if (stored) return Promise.reject(new KubeApiError({ status: 409 }, 'exists'));
          stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
          return Promise.resolve(stored);
        case `PUT ${CONFIG_PATH}`:
          if (!stored) return Promise.reject(notFound);
          if (body.metadata?.resourceVersion !== stored.metadata?.resourceVersion) {
            return Promise.reject(new KubeApiError({ status: 409 }, 'conflict'));
          }
          stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
          return Promise.resolve(stored);
        case `DELETE ${CONFIG_PATH}`:
          if (!stored) return Promise.reject(notFound);
          if (body.preconditions?.resourceVersion !== stored.metadata?.resourceVersion) {
            return Promise.reject(new KubeApiError({ status: 409 }, 'precondition'));
          }
          stored = undefined;
          return Promise.resolve({});
        default:
          return Promise.reject(new Error(`unexpected ${request.method} ${request.path}`));
      }
    },
  };
  return {
    client: client as unknown as KubeClient,
    calls,
    stored: () => stored,
    replace: (configuration: V1MutatingWebhookConfiguration) => {
      stored = {
        ...configuration,
        metadata: { ...configuration.metadata, resourceVersion: String(++version) },
      };
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('OnePasswordTls: CA and certificate in memory, caBundle in 1Password’s configuration', () => {
  const options = {
    serviceName: 'secrets-injector',
    namespace: 'ns',
    webhookConfigName: 'secrets-injector-webhook-config',
    logger: silent,
  };

  it('creates the configuration with a caBundle that verifies the certificate it serves', async () => {
    const apiserver = fakeApiserver({});
    const tls = await OnePasswordTls.create({ ...options, client: apiserver.client });
    const served: string[] = [];
    tls.onCertificate((pair) => served.push(pair.cert));
    assert.match(tls.notReady() ?? '', /publishing the caBundle/);
    tls.start();
    await until(() => tls.notReady() === undefined, 'published');
    assert.deepEqual(served, [tls.initial.cert]);
    const caPem = caBundleOfConfiguration(apiserver.stored());
    assert.equal(caPem, tls.caPem);
    const ca = new X509Certificate(caPem ?? '');
    const leaf = new X509Certificate(tls.initial.cert);
    assert.ok(leaf.verify(ca.publicKey), 'the caBundle signed the served certificate');
    assert.equal(leaf.checkHost('secrets-injector.ns.svc'), 'secrets-injector.ns.svc');
    assert.equal(leaf.checkHost('secrets-injector'), 'secrets-injector');
    // Only the one configuration is touched: what 1Password's ClusterRole allows.
    assert.ok(apiserver.calls.every((call) => call.includes('/mutatingwebhookconfigurations')));
    await tls.stop();
  });

  it('replaces an existing configuration’s webhooks, keeping its labels and annotations', async () => {
    const old = onePasswordWebhookConfiguration({
      serviceName: 'old',
      namespace: 'old',
      caPem: 'old-ca',
    });
    const apiserver = fakeApiserver({
      existing: {
        ...old,
        metadata: { ...old.metadata, labels: { team: 'a' }, resourceVersion: '1' },
      },
    });
    const result = await publishConfiguration(
      apiserver.client,
      onePasswordWebhookConfiguration({
        serviceName: 'secrets-injector',
        namespace: 'ns',
        caPem: 'new',
      }),
    );
    assert.equal(result, 'updated');
    const stored = apiserver.stored();
    assert.deepEqual(stored?.metadata?.labels, { team: 'a' });
    assert.equal(stored?.webhooks?.[0]?.clientConfig.service?.name, 'secrets-injector');
    assert.equal(caBundleOfConfiguration(stored), 'new');
  });

  it('retries a failed publication and stays not ready until it succeeds', async () => {
    const apiserver = fakeApiserver({ failFirst: 1 });
    const tls = await OnePasswordTls.create({ ...options, client: apiserver.client });
    tls.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(tls.notReady() ?? '', /publishing/);
    await until(() => tls.notReady() === undefined, 'published after a retry');
    assert.equal(caBundleOfConfiguration(apiserver.stored()), tls.caPem);
    await tls.stop();
  });

  it('on stop, deletes the configuration only while it still carries its own CA', async () => {
    const apiserver = fakeApiserver({});
    const first = await OnePasswordTls.create({ ...options, client: apiserver.client });
    first.start();
    await until(() => first.notReady() === undefined, 'first published');
    // A second replica (or a rolling update's new pod) publishes its CA: last writer wins.
    const second = await OnePasswordTls.create({ ...options, client: apiserver.client });
    second.start();
    await until(() => second.notReady() === undefined, 'second published');
    assert.equal(caBundleOfConfiguration(apiserver.stored()), second.caPem);
    await first.stop();
    assert.equal(caBundleOfConfiguration(apiserver.stored()), second.caPem, 'left in place');
    await second.stop();
    assert.equal(apiserver.stored(), undefined, 'removed by the replica that wrote it');
  });

  it('a delete whose precondition fails (written in between) leaves the configuration', async () => {
    const apiserver = fakeApiserver({});
    await publishConfiguration(
      apiserver.client,
      onePasswordWebhookConfiguration({ serviceName: 's', namespace: 'n', caPem: 'mine' }),
    );
    const original = apiserver.client.request.bind(apiserver.client);
    let raced = false;
    (apiserver.client as { request: (request: KubeRequest) => Promise<unknown> }).request = (
      request,
    ) => {
      if (request.method === 'DELETE' && !raced) {
        raced = true;
        apiserver.replace(
          onePasswordWebhookConfiguration({ serviceName: 's', namespace: 'n', caPem: 'theirs' }),
        );
      }
      return original(request);
    };
    assert.equal(
      await deleteConfigurationIfOurs(apiserver.client, 'secrets-injector-webhook-config', 'mine'),
      false,
    );
    assert.equal(caBundleOfConfiguration(apiserver.stored()), 'theirs');
  });
});
