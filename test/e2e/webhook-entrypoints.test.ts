// --resolve-entrypoints against a real registry (Debian's docker-registry on loopback, anonymous and htpasswd): the apiserver calls the real webhook, which reads images pushed by the test over the registry API; pods are only stored.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  type V1Container,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  eventually,
  kubeConfigFor,
  kubectl,
  testNamespace,
  waitForDefaultServiceAccount,
} from '../support/cluster.ts';
import {
  REGISTRY_PASSWORD,
  REGISTRY_USER,
  RegistryPusher,
  startRegistry,
  type TestRegistry,
} from '../support/oci-registry.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { startWebhook, type WebhookHandle } from '../support/webhook.ts';

const config = kubeConfigFor();
const core = config.makeApiClient(CoreV1Api);
const admission = config.makeApiClient(AdmissionregistrationV1Api);
const OP = ['/op/bin/op', 'run', '--'];
const TIMEOUT_MS = 2_000;

function pod(
  name: string,
  container: Partial<V1Container>,
  spec: Partial<V1Pod['spec']> = {},
): V1Pod {
  return {
    metadata: { name, annotations: { 'operator.1password.io/inject': 'app' } },
    spec: {
      containers: [
        { name: 'app', env: [{ name: 'DB', value: 'op://vault/db/password' }], ...container },
      ],
      ...spec,
    },
  };
}

async function created(namespace: string, body: V1Pod): Promise<V1Container | undefined> {
  await core.createNamespacedPod({ namespace, body });
  const stored = await core.readNamespacedPod({ namespace, name: body.metadata?.name ?? '' });
  assert.equal(stored.metadata?.annotations?.['operator.1password.io/status'], 'injected');
  return stored.spec?.containers.find((container) => container.name === 'app');
}

async function refused(namespace: string, body: V1Pod): Promise<string> {
  const error = await core.createNamespacedPod({ namespace, body }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof ApiException, `expected a denial, got ${String(error)}`);
  assert.equal(error.code, 400, String(error.body));
  return String(error.body);
}

function dockerConfigSecret(name: string, host: string, password = REGISTRY_PASSWORD) {
  const auth = Buffer.from(`${REGISTRY_USER}:${password}`).toString('base64');
  return {
    metadata: { name },
    type: 'kubernetes.io/dockerconfigjson',
    stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [host]: { auth } } }) },
  };
}

describe('op-kube webhook --resolve-entrypoints with a real registry', { timeout: 240_000 }, () => {
  const configName = `op-kube-entrypoints-${process.pid}`;
  const cleanups: (() => Promise<void>)[] = [];
  const suite = { after: (cleanup: () => Promise<void>) => void cleanups.push(cleanup) };
  let open: TestRegistry;
  let locked: TestRegistry;
  let stalled: TcpProxy;
  let webhook: WebhookHandle;
  let stalledHost = '';
  let hostile: Server;
  let hostileHost = '';
  const lied = `sha256:${createHash('sha256').update('what was pinned').digest('hex')}`;
  let indexDigest = '';

  before(async () => {
    open = await startRegistry(suite);
    locked = await startRegistry(suite, { auth: true });
    stalled = await startTcpProxy([open.port]);
    suite.after(() => stalled.close());
    stalled.blackHole();
    stalledHost = `127.0.0.1:${stalled.port}`;

    const anonymous = new RegistryPusher(open);
    await anonymous.image('tools/app', '1', {
      entrypoint: ['/bin/app'],
      cmd: ['serve', '--port=8080'],
    });
    await anonymous.image(
      'tools/docker-format',
      '1',
      { entrypoint: ['/docker'], cmd: null },
      'docker',
    );
    await anonymous.image('tools/cmd-only', '1', {
      entrypoint: null,
      cmd: ['/bin/sh', '-c', 'env'],
    });
    await anonymous.image('tools/nothing', '1', { entrypoint: null, cmd: null });
    indexDigest = (
      await anonymous.index('tools/multi', '2', [
        { entrypoint: ['/amd64'], cmd: ['a'] },
        { architecture: 'arm64', entrypoint: ['/arm64'], cmd: ['b'] },
      ])
    ).digest;
    await anonymous.index(
      'tools/docker-list',
      '1',
      [{ architecture: 'arm64', entrypoint: ['/arm'] }],
      'docker',
    );
    await new RegistryPusher(locked, true).image('team/private', '1', {
      entrypoint: ['/private'],
      cmd: ['run'],
    });

    // A hostile registry: it lies about digests, sends 5 MiB manifests and broken JSON, and
    // redirects the config blob to loopback and metadata addresses.
    const config = Buffer.from(JSON.stringify({ config: { Entrypoint: ['/x'] } }));
    const manifest = (blobDigest: string): string =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: blobDigest,
          size: config.length,
        },
        layers: [],
      });
    const digestOf = (text: string): string =>
      `sha256:${createHash('sha256').update(text).digest('hex')}`;
    const toLoopback = digestOf('to-loopback');
    const toMetadata = digestOf('to-metadata');
    hostile = createServer((request, response) => {
      const path = decodeURIComponent(request.url ?? '');
      const json = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
      if (path === `/v2/hostile/manifests/${lied}`) {
        response.writeHead(200, json).end(manifest(digestOf('x')));
      } else if (path === '/v2/hostile/manifests/huge') {
        response.writeHead(200, json);
        for (let i = 0; i < 80; i += 1) response.write(Buffer.alloc(64 * 1024, 0x20));
        response.end();
      } else if (path === '/v2/hostile/manifests/malformed') {
        response.writeHead(200, json).end('{"schemaVersion": 2, "config": {');
      } else if (path === '/v2/hostile/manifests/to-loopback') {
        response.writeHead(200, json).end(manifest(toLoopback));
      } else if (path === '/v2/hostile/manifests/to-metadata') {
        response.writeHead(200, json).end(manifest(toMetadata));
      } else if (path === `/v2/hostile/blobs/${toLoopback}`) {
        response.writeHead(307, { location: `http://127.0.0.1:${open.port + 1}/steal` }).end();
      } else if (path === `/v2/hostile/blobs/${toMetadata}`) {
        response.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      } else {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    suite.after(async () => {
      hostile.closeAllConnections();
      await new Promise((resolve) => hostile.close(resolve));
    });
    const address = hostile.address();
    assert.ok(address !== null && typeof address !== 'string');
    hostileHost = `127.0.0.1:${address.port}`;

    const hosts = [open.host, locked.host, stalledHost, hostileHost].join(',');
    const home = await testNamespace(suite, 'entrypoints-home');
    webhook = await startWebhook(suite, {
      namespace: home,
      webhookConfigName: configName,
      args: [
        '--resolve-entrypoints',
        `--registry-timeout=${TIMEOUT_MS / 1000}s`,
        '--registry-pull-secrets',
        `--registry-insecure=${hosts}`,
        `--registry-allow-internal=${hosts}`,
      ],
    });
    await eventually('the webhook configuration with its caBundle', async () => {
      const current = await admission.readMutatingWebhookConfiguration({ name: configName });
      return current.webhooks?.[0]?.clientConfig.caBundle ? current : undefined;
    });
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
  });

  async function injected(t: Parameters<typeof testNamespace>[0], prefix: string): Promise<string> {
    const namespace = await testNamespace(t, prefix);
    const labelled = kubectl(['label', 'namespace', namespace, 'secrets-injection=enabled']);
    assert.equal(labelled.status, 0, labelled.stderr);
    await waitForDefaultServiceAccount(namespace);
    return namespace;
  }

  it("wraps ENTRYPOINT and CMD of an anonymous single-platform image, by Kubernetes' rules", async (t) => {
    const namespace = await injected(t, 'entrypoints-open');
    const both = await created(namespace, pod('both', { image: `${open.host}/tools/app:1` }));
    assert.deepEqual(both?.command, [...OP, '/bin/app']);
    assert.deepEqual(both?.args, ['serve', '--port=8080']);
    const withArgs = await created(
      namespace,
      pod('args', { image: `${open.host}/tools/app:1`, args: ['migrate'] }),
    );
    assert.deepEqual(withArgs?.command, [...OP, '/bin/app']);
    assert.deepEqual(withArgs?.args, ['migrate']);
    const cmdOnly = await created(
      namespace,
      pod('cmd-only', { image: `${open.host}/tools/cmd-only:1` }),
    );
    assert.deepEqual(cmdOnly?.command, OP);
    assert.deepEqual(cmdOnly?.args, ['/bin/sh', '-c', 'env']);
    const docker = await created(
      namespace,
      pod('docker', { image: `${open.host}/tools/docker-format:1` }),
    );
    assert.deepEqual(docker?.command, [...OP, '/docker']);
    assert.equal(docker?.args, undefined);
    const nothing = await refused(
      namespace,
      pod('nothing', { image: `${open.host}/tools/nothing:1` }),
    );
    assert.match(nothing, /its image has no ENTRYPOINT or CMD: nothing to run/);
  });

  it('picks the platform from an index (default linux/amd64, or the nodeSelector), by tag or pinned digest', async (t) => {
    const namespace = await injected(t, 'entrypoints-multi');
    const amd = await created(namespace, pod('amd', { image: `${open.host}/tools/multi:2` }));
    assert.deepEqual([amd?.command, amd?.args], [[...OP, '/amd64'], ['a']]);
    const arm = await created(
      namespace,
      pod(
        'arm',
        { image: `${open.host}/tools/multi:2` },
        { nodeSelector: { 'kubernetes.io/arch': 'arm64' } },
      ),
    );
    assert.deepEqual([arm?.command, arm?.args], [[...OP, '/arm64'], ['b']]);
    const pinned = await created(
      namespace,
      pod('pinned', { image: `${open.host}/tools/multi@${indexDigest}` }),
    );
    assert.deepEqual(pinned?.command, [...OP, '/amd64']);
    const none = await refused(
      namespace,
      pod('none', { image: `${open.host}/tools/docker-list:1` }),
    );
    assert.match(none, /has no linux\/amd64 variant \(it has linux\/arm64\)/);
    const missing = await refused(
      namespace,
      pod('missing', { image: `${open.host}/tools/absent:1` }),
    );
    assert.match(missing, /the registry has no such manifest/);
    const wrongDigest = `sha256:${'0'.repeat(64)}`;
    assert.match(
      await refused(namespace, pod('wrong', { image: `${open.host}/tools/multi@${wrongDigest}` })),
      /has no such manifest/,
    );
  });

  it("reads a private image with the pod's imagePullSecrets or its ServiceAccount's, and never shows the credentials", async (t) => {
    const namespace = await injected(t, 'entrypoints-private');
    const image = `${locked.host}/team/private:1`;
    const anonymousDenial = await refused(namespace, pod('anonymous', { image }));
    assert.match(anonymousDenial, /needs credentials and no imagePullSecret has any/);

    await core.createNamespacedSecret({ namespace, body: dockerConfigSecret('pull', locked.host) });
    const withSecret = await created(
      namespace,
      pod('with-secret', { image }, { imagePullSecrets: [{ name: 'pull' }] }),
    );
    assert.deepEqual([withSecret?.command, withSecret?.args], [[...OP, '/private'], ['run']]);

    await core.createNamespacedSecret({
      namespace,
      body: dockerConfigSecret('wrong', locked.host, 'not-the-password'),
    });
    const wrongDenial = await refused(
      namespace,
      pod('wrong', { image }, { imagePullSecrets: [{ name: 'wrong' }] }),
    );
    assert.match(wrongDenial, /refused the credentials from the pull Secret/);
    // Both: the wrong one is refused, the next one used (the kubelet tries each in turn).
    const both = await created(
      namespace,
      pod('both', { image }, { imagePullSecrets: [{ name: 'wrong' }, { name: 'pull' }] }),
    );
    assert.deepEqual(both?.command, [...OP, '/private']);

    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: 'puller' }, imagePullSecrets: [{ name: 'pull' }] },
    });
    const viaAccount = await created(
      namespace,
      pod('via-account', { image }, { serviceAccountName: 'puller' }),
    );
    assert.deepEqual(viaAccount?.command, [...OP, '/private']);

    const base64 = Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64');
    const events = JSON.stringify(await core.listNamespacedEvent({ namespace }));
    const seen = [
      anonymousDenial,
      wrongDenial,
      webhook.logs(),
      await webhook.metrics(),
      events,
    ].join('\n');
    for (const secret of [REGISTRY_PASSWORD, base64, 'not-the-password']) {
      assert.ok(!seen.includes(secret), 'no credential in a denial, log line, metric or Event');
    }
    assert.doesNotMatch(seen, /Basic [A-Za-z0-9+/=]{8,}|Bearer [A-Za-z0-9._-]{8,}/);
  });

  it('denies, saying why and never with a 500, what a hostile registry sends', async (t) => {
    const namespace = await injected(t, 'entrypoints-hostile');
    const cases: [string, RegExp][] = [
      [`tools/hostile@${lied}`, /sent a manifest whose digest is not sha256:/],
      ['hostile:huge', /sent more than 4194304 bytes for one document/],
      ['hostile:malformed', /sent a manifest that is not JSON/],
      ['hostile:to-loopback', /registry host \\?"127\.0\.0\.1:\d+\\?" is a loopback address/],
      ['hostile:to-metadata', /registry host \\?"169\.254\.169\.254\\?" is a metadata address/],
    ];
    for (const [index, [image, pattern]] of cases.entries()) {
      const message = await refused(
        namespace,
        pod(`hostile-${index}`, { image: `${hostileHost}/${image.replace('tools/', '')}` }),
      );
      assert.match(message, pattern, image);
      assert.doesNotMatch(message, /InternalError|failed calling webhook/);
    }
  });

  it('denies within --registry-timeout when the registry stalls, other pods unaffected', async (t) => {
    const namespace = await injected(t, 'entrypoints-slow');
    const started = performance.now();
    const slow = refused(namespace, pod('slow', { image: `${stalledHost}/tools/app:1` }));
    // Meanwhile: a pod with a command, and one from a cached image, admitted at once.
    const others = (async () => {
      const begun = performance.now();
      await created(
        namespace,
        pod('with-command', { image: `${stalledHost}/tools/app:1`, command: ['/bin/app'] }),
      );
      await created(namespace, pod('cached', { image: `${open.host}/tools/app:1` }));
      return performance.now() - begun;
    })();
    const message = await slow;
    const slowMs = performance.now() - started;
    const othersMs = await others;
    assert.match(message, /the registry did not answer within 2s \(--registry-timeout\)/);
    assert.ok(
      slowMs >= TIMEOUT_MS - 100 && slowMs < TIMEOUT_MS + 3_000,
      `denied after ${Math.round(slowMs)} ms`,
    );
    assert.ok(othersMs < 1_500, `the other pods took ${Math.round(othersMs)} ms`);
    t.diagnostic(
      `stalled registry: denied after ${Math.round(slowMs)} ms; two other pods meanwhile in ${Math.round(othersMs)} ms`,
    );

    const metrics = await webhook.metrics();
    assert.match(metrics, /op_kube_webhook_image_resolutions_total\{result="Timeout"\} [1-9]/);
    assert.match(metrics, /op_kube_webhook_image_resolutions_total\{result="cache"\} [1-9]/);
    assert.match(
      metrics,
      /op_kube_webhook_image_cache_lookups_total\{kind="digest",result="hit"\} [1-9]/,
    );
    const resolved = webhook
      .logs()
      .split('\n')
      .filter((line) => line.includes('image entrypoint resolved'))
      .map((line) => JSON.parse(line) as { source: string; ms: number });
    const figure = (source: string): string => {
      const values = resolved
        .filter((entry) => entry.source === source)
        .map((entry) => entry.ms)
        .sort((a, b) => a - b);
      return `${source} n=${values.length} median ${values[Math.floor(values.length / 2)] ?? '-'} ms max ${values.at(-1) ?? '-'} ms`;
    };
    t.diagnostic(`resolution latency: ${figure('registry')}; ${figure('cache')}`);
  });
});
