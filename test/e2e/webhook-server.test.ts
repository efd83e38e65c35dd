// The injector's HTTPS server for real, on loopback, without Kubernetes: `runWebhook` in files TLS
// mode, called as the apiserver calls it, with a serving certificate replaced the kubelet's way.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { parseFlags } from '../../src/cli/flags.ts';
import { parseWebhookConfig, webhookFlags } from '../../src/webhook/config.ts';
import { runWebhook, type RunningWebhook } from '../../src/webhook/run.ts';
import {
  describeCertificate,
  generateCertificateAuthority,
  issueServingCertificate,
  type PemKeyPair,
} from '../../src/webhook/tls/certificates.ts';
import {
  appliedPatch,
  assertStatus,
  decodedPatch,
  reviewAnswer,
  webhookFixture,
} from '../support/admission-answers.ts';
import { SecretVolume } from '../support/secret-volume.ts';
import { httpsExchange, type HttpsExchange } from '../support/webhook-https.ts';

const HOST = '127.0.0.1';
const DAY_MS = 86_400_000;
const SECRET = 'hunter2';
const REFERENCE = 'op://vault/item/field';

async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A CA and a serving certificate for 127.0.0.1 signed by it. */
async function certificates(name: string): Promise<{ ca: PemKeyPair; serving: PemKeyPair }> {
  const now = new Date();
  const ca = await generateCertificateAuthority({
    now,
    validityMs: DAY_MS,
    commonName: `${name}@${now.getTime()}`,
  });
  const serving = await issueServingCertificate(ca, {
    dnsNames: ['op-kube-webhook', 'op-kube-webhook.op.svc'],
    ipAddresses: [HOST],
    now,
    validityMs: DAY_MS,
  });
  return { ca, serving };
}

interface CallOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** Without one, each call opens (and closes) a connection of its own. */
  readonly agent?: Agent;
}

/** One HTTPS request to the webhook, trusting only `ca`. */
function call(
  port: number,
  ca: string,
  path: string,
  options: CallOptions = {},
): Promise<HttpsExchange> {
  return httpsExchange(
    {
      host: HOST,
      port,
      path,
      method: options.method ?? 'GET',
      ca,
      agent: options.agent ?? false,
      headers: options.headers,
    },
    options.body,
  );
}

interface ReviewBody {
  request: { uid: string; namespace?: string; object: V1Pod };
}

/** The v1 CREATE fixture, its checkout container given an op:// reference and a literal secret. */
function createReview(name = 'pod-create-v1'): ReviewBody & Record<string, unknown> {
  const review = webhookFixture<ReviewBody & Record<string, unknown>>(name);
  const checkout = review.request.object.spec?.containers.find(
    (container) => container.name === 'checkout',
  );
  assert.ok(checkout);
  checkout.env = [
    ...(checkout.env ?? []),
    { name: 'API_KEY', value: REFERENCE },
    { name: 'LEGACY_CONFIG', value: `password: ${SECRET}` },
  ];
  return review;
}

/** The value of one Prometheus sample whose labels include `labels`; undefined when absent. */
function sample(
  metrics: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of metrics.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const text = match[2] ?? '';
    if (Object.entries(labels).every(([key, value]) => text.includes(`${key}="${value}"`))) {
      return Number(match[3]);
    }
  }
  return undefined;
}

function container(pod: V1Pod, name: string): V1Container {
  const found = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
    (candidate) => candidate.name === name,
  );
  assert.ok(found, `container ${name}`);
  return found;
}

describe('op-kube webhook server over HTTPS', () => {
  const logLines: string[] = [];
  const agents: Agent[] = [];
  let dir: string;
  let volume: SecretVolume;
  let first: { ca: PemKeyPair; serving: PemKeyPair };
  let webhook: RunningWebhook;
  let port: number;
  /** The CA of the certificate being served. */
  let currentCa: string;

  const post = (body: string | Buffer, options: CallOptions = {}): Promise<HttpsExchange> =>
    call(port, first.ca.cert, '/inject', {
      method: 'POST',
      body,
      ...options,
      headers: { 'content-type': 'application/json', ...options.headers },
    });
  const get = (path: string): Promise<HttpsExchange> => call(port, first.ca.cert, path);
  const logs = (): string => logLines.join('');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-kube-webhook-server-'));
    volume = new SecretVolume(join(dir, 'tls'));
    await mkdir(volume.dir);
    first = await certificates('first-ca');
    await volume.publish(first.serving);
    currentCa = first.ca.cert;

    const flags = parseFlags(Object.values(webhookFlags), [
      '-service-name=op-kube-webhook',
      '-v=5',
      '--bind-address=127.0.0.1',
      '--tls-mode=files',
      `--tls-cert-file=${volume.certFile}`,
      `--tls-key-file=${volume.keyFile}`,
      '--shutdown-delay=0s',
      '2>&1',
    ]);
    const config = parseWebhookConfig(
      flags,
      { OP_CONNECT_HOST: 'http://onepassword-connect:8080' },
      '0.1.0',
    );
    assert.equal(config.logLevel, 'debug');
    const logger = pino(
      { level: config.logLevel },
      {
        write: (line: string) => {
          logLines.push(line);
        },
      },
    );
    // Port 0 is refused as a flag (a Deployment must name its port); here any free port will do.
    webhook = await runWebhook({ ...config, port: 0 }, {}, logger);
    port = webhook.port;
  });

  after(async () => {
    for (const agent of agents) agent.destroy();
    await webhook?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers a v1 Pod CREATE with its uid and a JSONPatch that injects the pod', async () => {
    const review = createReview();
    const reply = await post(JSON.stringify(review));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.fingerprint, describeCertificate(first.serving.cert).fingerprint);
    const body = reviewAnswer(reply);
    assert.equal(body.apiVersion, 'admission.k8s.io/v1');
    assert.equal(body.kind, 'AdmissionReview');
    assert.equal(body.response.uid, review.request.uid);
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.patchType, 'JSONPatch');
    assert.ok(body.response.patch);

    const patch = decodedPatch(body.response.patch);
    assert.ok(Array.isArray(patch) && patch.length > 0);
    const pod = appliedPatch(review.request.object, patch);

    const checkout = container(pod, 'checkout');
    assert.deepEqual(checkout.command, ['/op/bin/op', 'run', '--', '/app/checkout']);
    assert.deepEqual(checkout.args, ['--listen', ':8080']);
    const env = new Map((checkout.env ?? []).map((variable) => [variable.name, variable]));
    assert.equal(env.get('OP_CONNECT_HOST')?.value, 'http://onepassword-connect:8080');
    assert.deepEqual(env.get('OP_CONNECT_TOKEN')?.valueFrom, {
      secretKeyRef: { name: 'onepassword-token', key: 'token' },
    });
    assert.equal(env.get('API_KEY')?.value, REFERENCE, 'references are left for op run');
    assert.equal(env.get('LEGACY_CONFIG')?.value, `password: ${SECRET}`);
    assert.ok(
      checkout.volumeMounts?.some((mount) => mount.name === 'op-bin' && mount.readOnly === true),
    );
    assert.deepEqual(container(pod, 'migrate').command?.slice(0, 3), ['/op/bin/op', 'run', '--']);
    assert.equal(container(pod, 'metrics').command, undefined, 'unlisted containers stay');
    const copy = container(pod, 'copy-op-bin');
    assert.equal(copy.image, '1password/op:2.30.0');
    assert.ok(
      (pod.spec?.initContainers ?? []).findIndex((init) => init.name === 'copy-op-bin') <
        (pod.spec?.initContainers ?? []).findIndex((init) => init.name === 'migrate'),
      'op is copied before the injected init container runs',
    );
    assert.ok(pod.spec?.volumes?.some((volume) => volume.name === 'op-bin'));
    assert.equal(pod.metadata?.annotations?.['operator.1password.io/status'], 'injected');
  });

  it('answers a v1beta1 review as v1beta1', async () => {
    const review = createReview('pod-create-v1beta1');
    const reply = await post(JSON.stringify(review));
    const body = reviewAnswer(reply);
    assert.equal(body.apiVersion, 'admission.k8s.io/v1beta1');
    assert.equal(body.kind, 'AdmissionReview');
    assert.equal(body.response.uid, review.request.uid);
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.patchType, 'JSONPatch');
    const pod = appliedPatch(review.request.object, decodedPatch(body.response.patch ?? ''));
    assert.equal(container(pod, 'checkout').command?.[0], '/op/bin/op');
  });

  it('allows an UPDATE unchanged', async () => {
    const review = webhookFixture<ReviewBody>('pod-update-v1');
    const reply = await post(JSON.stringify(review));
    const body = reviewAnswer(reply);
    assert.deepEqual(body, {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: review.request.uid, allowed: true },
    });
  });

  it('denies a pod that names a container it does not have, with a 200 and a Status', async () => {
    const review = createReview();
    const annotations = review.request.object.metadata?.annotations;
    assert.ok(annotations);
    annotations['operator.1password.io/inject'] = 'checkout, chekout';
    const reply = await post(JSON.stringify(review));
    const body = reviewAnswer(reply);
    assert.equal(body.response.uid, review.request.uid);
    assert.equal(body.response.allowed, false);
    assert.equal(body.response.patch, undefined);
    assert.equal(body.response.status?.code, 400);
    assert.match(body.response.status?.message ?? '', /"chekout"/);
  });

  it('answers an empty body with 400 and a Status', async () => {
    assertStatus(await post(''), 400, 'BadRequest', /empty body/);
    assertStatus(await post('{}'), 400, 'BadRequest', /empty body/);
  });

  it('refuses a body that is not application/json with 415', async () => {
    const reply = await post(JSON.stringify(createReview()), {
      headers: { 'content-type': 'text/plain' },
    });
    assertStatus(reply, 415, 'UnsupportedMediaType', /application\/json, got text\/plain/);
  });

  it('answers malformed JSON with 400 and a Status', async () => {
    assertStatus(
      await post(`{"request": {"password": "${SECRET}"`),
      400,
      'BadRequest',
      /malformed JSON/,
    );
    // strict: a JSON document that is not an object or an array is not a review.
    assertStatus(await post('"AdmissionReview"'), 400, 'BadRequest', /malformed JSON/);
  });

  it('answers a review it cannot read with 400 naming the problem', async () => {
    const review = createReview();
    delete (review.request as { uid?: string }).uid;
    assertStatus(
      await post(JSON.stringify(review)),
      400,
      'InvalidAdmissionReview',
      /request\.uid is missing/,
    );
    assertStatus(
      await post(JSON.stringify({ ...createReview(), apiVersion: 'admission.k8s.io/v2' })),
      400,
      'InvalidAdmissionReview',
      /apiVersion "admission\.k8s\.io\/v2"/,
    );
    assertStatus(await post('[{}]'), 400, 'InvalidAdmissionReview', /not a JSON object/);
  });

  it('accepts a 2 MB review (far above Express’s 100 kB default) and refuses 9 MB with 413', async () => {
    const review = createReview();
    const annotations = review.request.object.metadata?.annotations;
    assert.ok(annotations);
    annotations['example.com/blob'] = 'x'.repeat(2 * 1024 * 1024);
    const body = Buffer.from(JSON.stringify(review));
    assert.ok(body.length > 2 * 1024 * 1024);
    const reply = await post(body);
    assert.equal(reply.status, 200, reply.text.slice(0, 500));
    const answer = reviewAnswer(reply);
    assert.equal(answer.response.uid, review.request.uid);
    assert.equal(answer.response.patchType, 'JSONPatch');
    assert.ok(reply.text.length < 64 * 1024, 'the patch does not repeat the large annotation');

    const huge = Buffer.from(JSON.stringify({ pad: 'x'.repeat(9 * 1024 * 1024) }));
    assertStatus(await post(huge), 413, 'RequestEntityTooLarge', /larger than 8mb/);
    // The connection was drained, not broken: the server goes on answering.
    assert.equal((await get('/healthz')).status, 200);
  });

  it('serves /healthz and, in files mode, a ready /readyz', async () => {
    const health = await get('/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.text, 'ok');
    const ready = await get('/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.text, 'ok');
    assert.equal((await get('/nope')).status, 404);
    assert.equal((await call(port, first.ca.cert, '/healthz', { method: 'POST' })).status, 404);
  });

  it('keeps idle connections longer than the apiserver does (keep-alive 125 s, headers 130 s)', async () => {
    const servers: Server[] = [];
    const onRequest = (message: unknown): void => {
      servers.push((message as { server: Server }).server);
    };
    subscribe('http.server.request.start', onRequest);
    let reply: HttpsExchange;
    try {
      reply = await call(port, first.ca.cert, '/healthz', {
        headers: { connection: 'keep-alive' },
      });
    } finally {
      unsubscribe('http.server.request.start', onRequest);
    }
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.connection, 'keep-alive');
    assert.equal(reply.headers['keep-alive'], 'timeout=125');
    const [server] = servers;
    assert.ok(server, 'the request reached the server');
    assert.ok(server.keepAliveTimeout >= 120_000, `keepAliveTimeout ${server.keepAliveTimeout}`);
    assert.ok(
      server.headersTimeout > server.keepAliveTimeout,
      `headersTimeout ${server.headersTimeout} > keepAliveTimeout ${server.keepAliveTimeout}`,
    );

    // A pooled connection is used again for the next review, as the apiserver's client does.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    const firstCall = await post(JSON.stringify(createReview()), { agent });
    const second = await post(JSON.stringify(createReview()), { agent });
    assert.equal(firstCall.status, 200);
    assert.equal(second.status, 200);
    assert.equal(second.reusedSocket, true);
  });

  it('exposes admissions by namespace and outcome, and request durations, on /metrics', async () => {
    // Its own namespace, so the counts are exactly this test's.
    const review = createReview();
    review.request.namespace = 'metrics-ns';
    await post(JSON.stringify(review));
    await post(JSON.stringify(review));
    const broken = createReview();
    broken.request.namespace = 'metrics-ns';
    delete (broken.request as { uid?: string }).uid;
    await post(JSON.stringify(broken));

    const reply = await get('/metrics');
    assert.equal(reply.status, 200);
    assert.match(reply.headers['content-type'] ?? '', /^text\/plain/);
    const metrics = reply.text;
    assert.match(metrics, /# TYPE op_kube_webhook_admissions_total counter/);
    const admissions = (outcome: string, namespace = 'metrics-ns'): number | undefined =>
      sample(metrics, 'op_kube_webhook_admissions_total', { namespace, outcome });
    assert.equal(admissions('injected'), 2);
    assert.equal(admissions('invalid'), 1);
    assert.ok((admissions('injected', 'shop') ?? 0) >= 1);
    assert.ok((admissions('skipped', 'shop') ?? 0) >= 1, 'the UPDATE');
    assert.ok((admissions('denied', 'shop') ?? 0) >= 1);

    assert.match(metrics, /# TYPE op_kube_webhook_request_duration_seconds histogram/);
    const injects =
      sample(metrics, 'op_kube_webhook_request_duration_seconds_count', { path: '/inject' }) ?? 0;
    assert.ok(injects >= 3, `${injects} /inject requests timed`);
    assert.equal(
      sample(metrics, 'op_kube_webhook_request_duration_seconds_bucket', {
        path: '/inject',
        le: '+Inf',
      }),
      injects,
    );
    assert.ok(
      (sample(metrics, 'op_kube_webhook_requests_total', { path: '/inject', status: '413' }) ??
        0) >= 1,
    );
    assert.ok(
      (sample(metrics, 'op_kube_webhook_requests_total', { path: '/inject', status: '415' }) ??
        0) >= 1,
    );
    assert.ok(
      (sample(metrics, 'op_kube_webhook_requests_total', { path: 'other', status: '404' }) ?? 0) >=
        1,
      'unknown paths share one label',
    );
    assert.equal(
      sample(metrics, 'op_kube_webhook_certificate_expiry_timestamp_seconds'),
      Math.floor(describeCertificate(first.serving.cert).notAfter.getTime() / 1000),
    );
  });

  it('serves a certificate swapped into its files without a restart', async () => {
    // A connection established before the swap, kept in a pool.
    const pooled = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(pooled);
    const early = await call(port, first.ca.cert, '/healthz', { agent: pooled });
    assert.equal(early.status, 200);

    const second = await certificates('second-ca');
    const secondFingerprint = describeCertificate(second.serving.cert).fingerprint;
    assert.notEqual(secondFingerprint, describeCertificate(first.serving.cert).fingerprint);
    await volume.publish(second.serving);

    let latest: HttpsExchange | undefined;
    await until(async () => {
      try {
        latest = await call(port, second.ca.cert, '/healthz');
        return true;
      } catch {
        return false;
      }
    }, 'a new connection trusting only the new CA');
    assert.equal(latest?.status, 200);
    assert.equal(latest.fingerprint, secondFingerprint);
    currentCa = second.ca.cert;

    // Admission works over the new certificate.
    const review = createReview();
    const reply = await call(port, second.ca.cert, '/inject', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(review),
    });
    assert.equal(reviewAnswer(reply).response.uid, review.request.uid);

    // New connections no longer present the old certificate...
    await assert.rejects(call(port, first.ca.cert, '/healthz'), (error: NodeJS.ErrnoException) => {
      assert.match(error.code ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET/);
      return true;
    });
    // ...while the one established before the swap keeps its session.
    const late = await call(port, first.ca.cert, '/healthz', { agent: pooled });
    assert.equal(late.status, 200);
    assert.equal(late.reusedSocket, true);
    assert.equal(late.fingerprint, early.fingerprint);

    const metrics = (await call(port, second.ca.cert, '/metrics')).text;
    assert.equal(sample(metrics, 'op_kube_webhook_tls_reloads_total', { result: 'success' }), 2);
    assert.equal(
      sample(metrics, 'op_kube_webhook_certificate_expiry_timestamp_seconds'),
      Math.floor(describeCertificate(second.serving.cert).notAfter.getTime() / 1000),
    );
    const loaded = logLines
      .map((line) => JSON.parse(line) as { msg?: string; fingerprint?: string })
      .filter((entry) => entry.msg === 'serving certificate loaded');
    assert.equal(loaded.at(-1)?.fingerprint, secondFingerprint);
  });

  it('logs what it admits without the values in the pods', () => {
    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(
      entries.some((entry) => entry.msg === 'pod admitted' && entry.outcome === 'injected'),
      'admissions are logged at debug',
    );
    assert.ok(entries.some((entry) => entry.msg === 'pod denied'));
    assert.ok(entries.some((entry) => entry.msg === 'webhook listening'));
    const text = logs();
    assert.doesNotMatch(text, new RegExp(SECRET));
    assert.ok(!text.includes(REFERENCE), 'env values are not logged');
    assert.doesNotMatch(text, /PRIVATE KEY/);
  });

  it('stops promptly, closing idle keep-alive connections, and refuses connections afterwards', async () => {
    const idle = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(idle);
    assert.equal((await call(port, currentCa, '/healthz', { agent: idle })).status, 200);
    const sockets = Object.values(idle.freeSockets).flat();
    assert.equal(sockets.length, 1, 'an idle pooled connection is open during stop()');

    await withTimeout(webhook.stop(), 5_000, 'stop()');
    await withTimeout(webhook.stopped, 1_000, 'stopped');
    await until(() => sockets.every((socket) => socket?.destroyed), 'the idle connection to close');
    await assert.rejects(call(port, currentCa, '/healthz'), { code: 'ECONNREFUSED' });
  });
});

describe('op-kube webhook shutting down', () => {
  it('reports not ready but keeps admitting during --shutdown-delay, closing kept-alive connections after each reply, then stops', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-kube-webhook-shutdown-'));
    // The apiserver's way: connections kept alive and reused, pinned to one pod.
    const keptAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const volume = new SecretVolume(join(dir, 'tls'));
      await mkdir(volume.dir);
      const pair = await certificates('shutdown-ca');
      await volume.publish(pair.serving);
      const flags = parseFlags(Object.values(webhookFlags), [
        '--bind-address=127.0.0.1',
        '--tls-mode=files',
        `--tls-cert-file=${volume.certFile}`,
        `--tls-key-file=${volume.keyFile}`,
        '--shutdown-delay=1500ms',
      ]);
      const config = parseWebhookConfig(flags, {}, '0.1.0');
      const webhook = await runWebhook({ ...config, port: 0 }, {}, pino({ level: 'silent' }));
      const get = (path: string): Promise<HttpsExchange> => call(webhook.port, pair.ca.cert, path);
      const review = (): Promise<HttpsExchange> =>
        call(webhook.port, pair.ca.cert, '/inject', {
          method: 'POST',
          body: JSON.stringify(createReview()),
          headers: { 'content-type': 'application/json' },
          agent: keptAlive,
        });
      assert.equal((await get('/readyz')).status, 200);
      const before = await review();
      assert.equal(before.status, 200);
      assert.equal(before.headers.connection, 'keep-alive');
      const stopping = webhook.stop();
      const during = await get('/readyz');
      assert.equal(during.status, 503);
      assert.match(during.text, /shutting down/);
      const admitted = await review();
      assert.equal(
        admitted.status,
        200,
        'requests routed here before the endpoints update still succeed',
      );
      assert.equal(admitted.reusedSocket, true, 'on the connection kept alive before');
      assert.equal(
        admitted.headers.connection,
        'close',
        'the client is told to reconnect (to a ready replica) rather than have the connection ' +
          'closed under a later review',
      );
      const next = await review();
      assert.equal(next.status, 200);
      assert.equal(next.reusedSocket, false, 'the next review came on a new connection');
      await withTimeout(stopping, 10_000, 'stop()');
      await assert.rejects(get('/healthz'));
    } finally {
      keptAlive.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
