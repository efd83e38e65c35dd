// POST /inject over real HTTPS with what a hostile caller or a careless manifest sends: a denial or a 4xx with a Status, never a 5xx (issue #10, defect 7).
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import {
  appliedPatch,
  assertStatus,
  decodedPatch,
  reviewAnswer,
  webhookFixture,
} from '../../support/admission-answers.ts';
import {
  startHttpsWebhook,
  type HttpsReply,
  type HttpsWebhook,
} from '../../support/webhook-https.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Review {
  apiVersion: string;
  kind: string;
  request: { uid: string; object: V1Pod & Record<string, Json> } & Record<string, Json>;
}

/** Asserts the 400 for a body nested deeper than the server reads. */
function assertTooDeep(reply: HttpsReply): void {
  assertStatus(reply, 400, 'NestingTooDeep', /nested deeper than 100 levels/);
}

/** `levels` arrays, one inside the other, around `inner`. */
function nested(levels: number, inner = '0'): string {
  return `${'['.repeat(levels)}${inner}${']'.repeat(levels)}`;
}

/** The CREATE fixture as text, with `value` (raw JSON) put in at request.object.metadata.x. */
function withRawValue(value: string): string {
  const text = JSON.stringify(webhookFixture<Review>('pod-create-v1'));
  const marker = '"metadata":{';
  assert.ok(text.includes(marker));
  return text.replace(marker, `${marker}"x":${value},`);
}

describe('POST /inject with malformed input over HTTPS', () => {
  let webhook: HttpsWebhook;

  before(async () => {
    webhook = await startHttpsWebhook();
  });

  after(async () => {
    await webhook?.stop();
  });

  const denials: [string, (review: Review) => void, RegExp][] = [
    [
      'a numeric inject annotation',
      (review) => {
        (review.request.object.metadata?.annotations as unknown as Record<string, Json>)[
          'operator.1password.io/inject'
        ] = 5;
      },
      /metadata\.annotations\["operator\.1password\.io\/inject"\] must be a string, not a number/,
    ],
    [
      'containers that are an object',
      (review) => {
        (review.request.object.spec as unknown as Record<string, Json>).containers = {};
      },
      /spec\.containers must be an array, not an object/,
    ],
    [
      'an env that is a string',
      (review) => {
        (review.request.object.spec?.containers[0] as unknown as Record<string, Json>).env = 'x';
      },
      /spec\.containers\[0\]\.env must be an array, not a string/,
    ],
    [
      'volumes that are an object',
      (review) => {
        (review.request.object.spec as unknown as Record<string, Json>).volumes = {
          name: 'op-bin',
        };
      },
      /spec\.volumes must be an array, not an object/,
    ],
    [
      'init containers that are a number',
      (review) => {
        (review.request.object.spec as unknown as Record<string, Json>).initContainers = 2;
      },
      /spec\.initContainers must be an array, not a number/,
    ],
    [
      'a null container',
      (review) => {
        (review.request.object.spec as unknown as Record<string, Json>).containers = [null];
      },
      /spec\.containers\[0\] must be an object, not null/,
    ],
  ];
  for (const [what, change, message] of denials) {
    it(`denies a pod with ${what}: 200, allowed false, the path named`, async () => {
      const review = webhookFixture<Review>('pod-create-v1');
      change(review);
      const body = reviewAnswer(await webhook.post(JSON.stringify(review)));
      assert.equal(body.apiVersion, 'admission.k8s.io/v1');
      assert.equal(body.kind, 'AdmissionReview');
      assert.equal(body.response.uid, review.request.uid);
      assert.equal(body.response.allowed, false);
      assert.equal(body.response.patch, undefined);
      assert.equal(body.response.status?.code, 400);
      assert.match(body.response.status?.message ?? '', message);
    });
  }

  it('injects a pod with only init containers ("containers": null), as the apiserver sends it', async () => {
    const review = webhookFixture<Review>('pod-create-init-only-v1');
    const body = reviewAnswer(await webhook.post(JSON.stringify(review)));
    assert.equal(body.response.uid, review.request.uid);
    assert.equal(body.response.allowed, true);
    const pod = appliedPatch(review.request.object, decodedPatch(body.response.patch ?? ''));
    assert.deepEqual(
      pod.spec?.initContainers?.map((container) => container.name),
      ['copy-op-bin', 'migrate'],
    );
  });

  it('refuses a body nested 10,000 deep with 400, before parsing it', async () => {
    assertTooDeep(await webhook.post(withRawValue(nested(10_000))));
  });

  it('refuses a review holding 8 MB of brackets (4 million levels) with 400, promptly', async () => {
    const started = performance.now();
    const reply = await webhook.post(withRawValue(nested(4_000_000, '')));
    const ms = performance.now() - started;
    assertTooDeep(reply);
    assert.ok(ms < 2_000, `${Math.round(ms)} ms`);
  });

  it('refuses 8 MB of empty objects (millions of values) with 400 before parsing them', async () => {
    const flat = Array.from({ length: 2_600_000 }, () => '{}').join(',');
    const started = performance.now();
    const reply = await webhook.post(withRawValue(`[${flat}]`));
    const ms = performance.now() - started;
    assertStatus(reply, 400, 'TooManyValues', /more than 200000 objects and arrays/);
    assert.ok(ms < 2_000, `${Math.round(ms)} ms`);
  });

  it('reads a large real review: 2 containers with 1,000 env entries each, managedFields, oldObject', async () => {
    const env = Array.from({ length: 1_000 }, (_, index) => ({
      name: `VAR_${index}`,
      valueFrom: { secretKeyRef: { name: 'app', key: `k${index}` } },
    }));
    const value = JSON.stringify(Array.from({ length: 4 }, () => ({ env, more: [env, env] })));
    const reply = await webhook.post(withRawValue(value));
    assert.equal(reviewAnswer(reply).response.allowed, true);
  });

  it('counts nesting in the whole review: 100 levels are read, 101 refused', async () => {
    // The review, its request, the object and its metadata are four levels; x adds the rest.
    const ok = await webhook.post(withRawValue(nested(96)));
    assert.equal(reviewAnswer(ok).response.allowed, true);
    assertTooDeep(await webhook.post(withRawValue(nested(97))));
  });

  it('does not count brackets inside strings, escaped quotes included', async () => {
    const value = JSON.stringify(`\\"${'['.repeat(10_000)}\\"{`);
    const reply = await webhook.post(withRawValue(value));
    assert.equal(reviewAnswer(reply).response.allowed, true);
  });

  it('refuses a deep body in UTF-16 as well: any charset but UTF-8 is 415', async () => {
    const text = withRawValue(nested(10_000));
    const reply = await webhook.post(Buffer.from(`\ufeff${text}`, 'utf16le'), {
      headers: { 'content-type': 'application/json; charset=utf-16' },
    });
    assertStatus(reply, 415, 'UnsupportedMediaType', /UTF-8/);
  });

  it('checks a gzip body after inflating it: deep is 400, a bomb beyond 8 MB is 413', async () => {
    const deep = await webhook.post(gzipSync(withRawValue(nested(10_000))), {
      headers: { 'content-encoding': 'gzip' },
    });
    assertTooDeep(deep);
    const bomb = gzipSync(Buffer.alloc(9 * 1024 * 1024, 0x20));
    assert.ok(bomb.length < 20_000, `${bomb.length} bytes compressed`);
    const reply = await webhook.post(bomb, { headers: { 'content-encoding': 'gzip' } });
    assertStatus(reply, 413, 'RequestEntityTooLarge', /larger than 8mb/);
  });

  it('answers a body cut short of its Content-Length with 400 and goes on serving', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      // A raw TLS socket, so the request can lie about its length and then half-close.
      const socket = connect({ host: '127.0.0.1', port: webhook.port, rejectUnauthorized: false });
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.once('error', reject);
      socket.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      socket.once('secureConnect', () => {
        socket.end(
          'POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
            'Content-Length: 1000\r\nConnection: close\r\n\r\n{"apiVersion":',
        );
      });
    });
    // Node's HTTP parser answers this one itself (a bare 400); what matters is no 5xx, no crash.
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.equal((await webhook.get('/healthz')).status, 200);
  });

  it('labels metrics only with valid namespace names, whatever the review says', async () => {
    const review = webhookFixture<Review>('pod-create-v1');
    (review.request as Record<string, Json>).namespace = `Not_A-Namespace-${'x'.repeat(10_000)}`;
    reviewAnswer(await webhook.post(JSON.stringify(review)));
    const metrics = (await webhook.get('/metrics')).text;
    assert.doesNotMatch(metrics, /Not_A-Namespace/);
    assert.match(metrics, /op_kube_webhook_admissions_total\{namespace="",outcome="injected"\} 1/);
  });

  it('logged no admission failure and counted no error outcome', async () => {
    assert.doesNotMatch(webhook.logs(), /admission failed|request failed/);
    const metrics = (await webhook.get('/metrics')).text;
    assert.doesNotMatch(metrics, /outcome="error"/);
    assert.doesNotMatch(metrics, /op_kube_webhook_requests_total\{[^}]*status="5\d\d"/);
  });
});
