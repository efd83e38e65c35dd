// The self-managed TLS reconciler against an in-memory apiserver: Secret written with optimistic concurrency, caBundle published with a test per webhook, requeue times.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1MutatingWebhookConfiguration, V1Secret } from '@kubernetes/client-node';
import pino from 'pino';
import type { KubeClient } from '../../../src/kube/client/client.ts';
import type { Reconciler } from '../../../src/kube/runtime/controller.ts';
import { caBundleOf, tlsBundleFromSecretData } from '../../../src/webhook/tls/bundle.ts';
import {
  ROTATE_CA_ANNOTATION,
  ROTATED_CA_ANNOTATION,
  TlsBundleReconciler,
} from '../../../src/webhook/tls/self-managed.ts';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-12-01T00:00:00Z');

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
}

/** Answers GET with the configuration, echoes writes, and records every request. */
function fakeApiserver(configuration: V1MutatingWebhookConfiguration, fail = false) {
  const sent: Sent[] = [];
  const client = {
    request: (request: Sent) => {
      sent.push({ method: request.method, path: request.path, body: request.body });
      if (fail) return Promise.reject(new Error('connection refused'));
      return Promise.resolve(
        request.method === 'GET' ? structuredClone(configuration) : request.body,
      );
    },
  } as unknown as KubeClient;
  return { client, sent };
}

function configuration(caBundle = ''): V1MutatingWebhookConfiguration {
  return {
    metadata: { name: 'op-kube-webhook' },
    webhooks: ['a.example.com', 'b.example.com'].map((name) => ({
      name,
      clientConfig: { caBundle },
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
    })),
  };
}

function reconciler(
  client: KubeClient,
  secret: V1Secret | undefined,
  lines: string[] = [],
): Reconciler {
  return new TlsBundleReconciler({
    client,
    secrets: { get: () => secret },
    namespace: 'op',
    secretName: 'op-kube-webhook-tls',
    webhookConfigName: 'op-kube-webhook',
    rotation: {
      serviceNames: ['op-kube-webhook.op.svc'],
      validityMs: 30 * DAY_MS,
      rotateBeforeMs: 7 * DAY_MS,
      caPropagationMs: 60_000,
    },
    logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }),
    now: () => NOW,
  });
}

const signal = new AbortController().signal;

describe('TlsBundleReconciler', () => {
  it('creates the Secret, publishes ca.crt into every webhook with a test of its name, and looks again within 10 minutes', async () => {
    const { client, sent } = fakeApiserver(configuration());
    const result = await reconciler(client, undefined).reconcile('op/op-kube-webhook-tls', signal);
    assert.deepEqual(
      sent.map((request) => `${request.method} ${request.path}`),
      [
        'GET /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/op-kube-webhook',
        'POST /api/v1/namespaces/op/secrets',
        'PATCH /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/op-kube-webhook',
      ],
    );
    const created = sent[1]?.body as V1Secret;
    const bundle = tlsBundleFromSecretData(created.data);
    assert.ok(bundle['ca.crt'] && bundle['tls.crt'] && bundle['tls.key'] && bundle['ca.key']);
    const caBundle = caBundleOf({ 'ca.crt': bundle['ca.crt'] });
    assert.deepEqual(sent[2]?.body, [
      { op: 'test', path: '/webhooks/0/name', value: 'a.example.com' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: caBundle },
      { op: 'test', path: '/webhooks/1/name', value: 'b.example.com' },
      { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: caBundle },
    ]);
    assert.equal(result.requeueAfterMs, 10 * 60_000);
  });

  it('changes nothing when the Secret and the caBundle are current', async () => {
    const first = fakeApiserver(configuration());
    await reconciler(first.client, undefined).reconcile('op/op-kube-webhook-tls', signal);
    const stored = first.sent[1]?.body as V1Secret;
    const caCrt = tlsBundleFromSecretData(stored.data)['ca.crt'] ?? '';
    const again = fakeApiserver(configuration(caBundleOf({ 'ca.crt': caCrt })));
    const result = await reconciler(again.client, stored).reconcile(
      'op/op-kube-webhook-tls',
      signal,
    );
    assert.deepEqual(
      again.sent.map((request) => request.method),
      ['GET'],
    );
    assert.equal(result.requeueAfterMs, 10 * 60_000);
  });

  it('takes the first step of a requested CA rotation: PUT on the cached resourceVersion, the request recorded', async () => {
    const first = fakeApiserver(configuration());
    await reconciler(first.client, undefined).reconcile('op/op-kube-webhook-tls', signal);
    const created = first.sent[1]?.body as V1Secret;
    const stored: V1Secret = {
      ...created,
      metadata: {
        ...created.metadata,
        resourceVersion: '42',
        annotations: { [ROTATE_CA_ANNOTATION]: '1' },
      },
    };
    const before = tlsBundleFromSecretData(stored.data);
    const lines: string[] = [];
    const again = fakeApiserver(configuration(caBundleOf({ 'ca.crt': before['ca.crt'] ?? '' })));
    const result = await reconciler(again.client, stored, lines).reconcile(
      'op/op-kube-webhook-tls',
      signal,
    );
    const put = again.sent.find((request) => request.method === 'PUT');
    assert.equal(put?.path, '/api/v1/namespaces/op/secrets/op-kube-webhook-tls');
    const written = put.body as V1Secret;
    assert.equal(written.metadata?.resourceVersion, '42');
    assert.equal(written.metadata?.annotations?.[ROTATED_CA_ANNOTATION], '1');
    const after = tlsBundleFromSecretData(written.data);
    assert.equal(after['ca.crt']?.match(/BEGIN CERTIFICATE/g)?.length, 2, 'new CA, then the old');
    assert.equal(after['tls.crt'], before['tls.crt'], 'still serving from the old CA');
    assert.ok(lines.some((line) => line.includes('"msg":"webhook TLS updated"')));
    // The switch to the new CA waits for the propagation time.
    assert.equal(result.requeueAfterMs, 60_000);
  });

  it('logs a failed pass and looks again in 5 s', async () => {
    const { client } = fakeApiserver(configuration(), true);
    const lines: string[] = [];
    const result = await reconciler(client, undefined, lines).reconcile(
      'op/op-kube-webhook-tls',
      signal,
    );
    assert.equal(result.requeueAfterMs, 5_000);
    assert.ok(lines.some((line) => line.includes('"msg":"could not reconcile the webhook TLS"')));
  });
});
