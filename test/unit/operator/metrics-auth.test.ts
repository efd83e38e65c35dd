// --metrics-secure (1Password's default): HTTPS and callers reviewed by the apiserver, on fakes.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { KubeRequest } from '../../../src/kube/client/client.ts';
import { serveMetrics } from '../../../src/operator/endpoints.ts';
import {
  METRICS_AUTH_CACHE_ENTRIES,
  MetricsAuthorizer,
  selfSignedMetricsCertificate,
  type ReviewClient,
} from '../../../src/operator/metrics-auth.ts';
import { closeServer } from '../../../src/util/http-server.ts';
import type { PemKeyPair } from '../../../src/util/tls-files.ts';
import {
  generateCertificateAuthority,
  issueServingCertificate,
} from '../../../src/webhook/tls/certificates.ts';
import { SecretVolume } from '../../support/secret-volume.ts';

const TOKEN = 'sa-token-that-must-never-show';

/** An apiserver that knows `users` (token → name) and lets `readers` get /metrics. */
class FakeReviews implements ReviewClient {
  readonly calls: KubeRequest[] = [];
  failing = false;

  readonly users: Record<string, string>;
  readonly readers: readonly string[];

  constructor(users: Record<string, string>, readers: readonly string[]) {
    this.users = users;
    this.readers = readers;
  }

  request<T>(call: KubeRequest): Promise<T> {
    this.calls.push(call);
    if (this.failing) return Promise.reject(new Error(`apiserver down (${JSON.stringify(call)})`));
    const body = call.body as { spec: Record<string, unknown> };
    if (call.path.endsWith('/tokenreviews')) {
      const username = this.users[String(body.spec.token)];
      return Promise.resolve({
        status: username
          ? {
              authenticated: true,
              user: { username, uid: 'u1', groups: ['system:serviceaccounts'] },
            }
          : { authenticated: false, error: 'invalid bearer token' },
      } as T);
    }
    const attributes = body.spec.nonResourceAttributes as { path: string; verb: string };
    const allowed =
      this.readers.includes(String(body.spec.user)) &&
      attributes.path === '/metrics' &&
      attributes.verb === 'get';
    return Promise.resolve({ status: { allowed } } as T);
  }

  count(kind: 'tokenreviews' | 'subjectaccessreviews'): number {
    return this.calls.filter((call) => call.path.endsWith(kind)).length;
  }
}

describe('MetricsAuthorizer', () => {
  it('answers 401 without a bearer token, asking the apiserver nothing', async () => {
    const reviews = new FakeReviews({}, []);
    const authorizer = new MetricsAuthorizer({ client: reviews });
    for (const header of [undefined, '', 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer  ']) {
      assert.equal((await authorizer.check(header, '/metrics', 'get')).status, 401, header);
    }
    assert.equal(reviews.calls.length, 0);
  });

  it('answers 401 for a token the apiserver refuses, 403 for a user not allowed, 200 for a reader', async () => {
    const reviews = new FakeReviews(
      { [TOKEN]: 'system:serviceaccount:monitoring:prometheus', other: 'someone' },
      ['system:serviceaccount:monitoring:prometheus'],
    );
    const authorizer = new MetricsAuthorizer({ client: reviews });
    assert.equal((await authorizer.check('Bearer wrong', '/metrics', 'get')).status, 401);
    const denied = await authorizer.check('Bearer other', '/metrics', 'get');
    assert.equal(denied.status, 403);
    assert.match(denied.reason, /"someone" may not get \/metrics/);
    assert.equal((await authorizer.check(`Bearer ${TOKEN}`, '/metrics', 'get')).status, 200);
    assert.equal((await authorizer.check(`bearer ${TOKEN}`, '/other', 'get')).status, 403);
    const review = reviews.calls.find(
      (call) =>
        call.path === '/apis/authorization.k8s.io/v1/subjectaccessreviews' &&
        (call.body as { spec: { user: string } }).spec.user.endsWith('prometheus'),
    );
    assert.equal(review?.method, 'POST');
    assert.deepEqual(review?.body, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: 'system:serviceaccount:monitoring:prometheus',
        uid: 'u1',
        groups: ['system:serviceaccounts'],
        nonResourceAttributes: { path: '/metrics', verb: 'get' },
      },
    });
  });

  it('caches answers as controller-runtime does: 1 min a token, 10 s a refusal, 5 min an allow, 30 s a deny', async () => {
    let now = 1_000_000;
    const reviews = new FakeReviews({ [TOKEN]: 'reader', other: 'someone' }, ['reader']);
    const authorizer = new MetricsAuthorizer({ client: reviews, now: () => now });
    for (let i = 0; i < 5; i += 1) {
      await authorizer.check(`Bearer ${TOKEN}`, '/metrics', 'get');
      await authorizer.check('Bearer other', '/metrics', 'get');
      await authorizer.check('Bearer wrong', '/metrics', 'get');
    }
    assert.equal(reviews.count('tokenreviews'), 3);
    assert.equal(reviews.count('subjectaccessreviews'), 2);
    now += 11_000; // the refused token is asked again
    await authorizer.check('Bearer wrong', '/metrics', 'get');
    assert.equal(reviews.count('tokenreviews'), 4);
    now += 20_000; // 31 s: the deny expired, the allow did not
    await authorizer.check('Bearer other', '/metrics', 'get');
    await authorizer.check(`Bearer ${TOKEN}`, '/metrics', 'get');
    assert.equal(reviews.count('subjectaccessreviews'), 3);
    now += 30_000; // 61 s: tokens reviewed again
    await authorizer.check(`Bearer ${TOKEN}`, '/metrics', 'get');
    assert.equal(reviews.count('tokenreviews'), 5);
  });

  it(`keeps at most ${METRICS_AUTH_CACHE_ENTRIES} tokens: a flood of random ones is not remembered`, async () => {
    const reviews = new FakeReviews({ [TOKEN]: 'reader' }, ['reader']);
    const authorizer = new MetricsAuthorizer({ client: reviews });
    await authorizer.check(`Bearer ${TOKEN}`, '/metrics', 'get');
    for (let i = 0; i < METRICS_AUTH_CACHE_ENTRIES + 10; i += 1) {
      await authorizer.check(`Bearer random-${i}`, '/metrics', 'get');
    }
    const before = reviews.count('tokenreviews');
    await authorizer.check(`Bearer ${TOKEN}`, '/metrics', 'get');
    assert.equal(reviews.count('tokenreviews'), before + 1, 'the oldest entry was evicted');
  });

  it('answers 500 when the apiserver fails, without the token in the answer', async () => {
    const reviews = new FakeReviews({ [TOKEN]: 'reader' }, ['reader']);
    reviews.failing = true;
    const authorizer = new MetricsAuthorizer({ client: reviews });
    const answer = await authorizer.check(`Bearer ${TOKEN}`, '/metrics', 'get');
    assert.equal(answer.status, 500);
    assert.ok(!answer.reason.includes(TOKEN));
  });
});

describe('selfSignedMetricsCertificate', () => {
  it('is a serving certificate for localhost and 127.0.0.1, valid now for a year', async () => {
    const now = new Date();
    const { cert, key } = await selfSignedMetricsCertificate(now);
    const certificate = new X509Certificate(cert);
    assert.match(key, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(certificate.checkHost('localhost'));
    assert.ok(certificate.checkIP('127.0.0.1'));
    assert.ok(new Date(certificate.validFrom) < now && new Date(certificate.validTo) > now);
    assert.ok(new Date(certificate.validTo).getTime() - now.getTime() >= 364 * 86_400_000);
  });
});

function get(
  port: number,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; peerCert: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/metrics',
        headers,
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            peerCert: (res.socket as TLSSocket).getPeerCertificate().subject.CN as string,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('serveMetrics with --metrics-secure', () => {
  it('serves HTTPS with a self-signed certificate and reviews every caller', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({});
    const reviews = new FakeReviews({ [TOKEN]: 'reader', other: 'someone' }, ['reader']);
    const { server, port } = await serveMetrics({ host: '127.0.0.1', port: 0 }, registry, {
      authorizer: new MetricsAuthorizer({ client: reviews }),
    });
    try {
      const anonymous = await get(port);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.peerCert, 'op-kube-operator-metrics');
      assert.equal((await get(port, { authorization: 'Bearer other' })).status, 403);
      const reader = await get(port, { authorization: `Bearer ${TOKEN}` });
      assert.equal(reader.status, 200);
      for (const answer of [anonymous, reader]) assert.ok(!answer.body.includes(TOKEN));
      await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'no plain HTTP');
    } finally {
      await closeServer(server);
    }
  });
});

describe('serveMetrics with --metrics-cert-path', () => {
  async function pair(name: string): Promise<PemKeyPair> {
    const now = new Date();
    const ca = await generateCertificateAuthority({
      now,
      validityMs: 86_400_000,
      commonName: `ca-${name}`,
    });
    return issueServingCertificate(ca, { dnsNames: [name], now, validityMs: 86_400_000 });
  }

  async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
    for (let waited = 0; waited < 10_000; waited += 50) {
      if (await check()) return;
      await sleep(50);
    }
    assert.fail(`not within 10 s: ${what}`);
  }

  it('reloads the certificate when the mounted Secret changes, and keeps the last good one when it breaks', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-kube-metrics-cert-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const volume = new SecretVolume(dir);
    const first = await pair('metrics-first');
    await volume.publish(first);
    const warnings: string[] = [];
    const logger = {
      info: () => undefined,
      warn: (fields: object, message: string) =>
        void warnings.push(`${message} ${JSON.stringify(fields)}`),
    } as unknown as Pick<Logger, 'info' | 'warn'>;
    const { server, port } = await serveMetrics({ host: '127.0.0.1', port: 0 }, new Registry(), {
      tls: { certFile: volume.certFile, keyFile: volume.keyFile },
      logger,
    });
    t.after(() => closeServer(server));
    assert.equal((await get(port)).peerCert, 'metrics-first');

    const second = await pair('metrics-second');
    await volume.publish(second);
    await until(
      'the new certificate served',
      async () => (await get(port)).peerCert === 'metrics-second',
    );

    // A pair whose key is not the certificate's: refused, the last good pair stays, said once.
    await volume.publish({ cert: (await pair('metrics-broken')).cert, key: second.key });
    await until('the broken pair reported', () => warnings.length > 0);
    assert.equal((await get(port)).peerCert, 'metrics-second');
    assert.match(warnings[0] ?? '', /serving the last good one/);
    assert.ok(!warnings.join('').includes('PRIVATE KEY'), 'no key material in the log');
  });

  it('refuses to start on unreadable files, naming them', async () => {
    await assert.rejects(
      serveMetrics({ host: '127.0.0.1', port: 0 }, new Registry(), {
        tls: { certFile: '/nonexistent/tls.crt', keyFile: '/nonexistent/tls.key' },
      }),
      /cannot read \/nonexistent\/tls\.crt/,
    );
  });
});
