// op-kube's apiserver client against the real kube-apiserver: an oversized write fails alone, with the apiserver's reason, and the calls and watches beside it carry on.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import { isKubeApiError, type KubeApiError } from '../../src/kube/client/api-error.ts';
import { serverSideApply } from '../../src/kube/client/apply.ts';
import type { KubeClient } from '../../src/kube/client/client.ts';
import { openWatch } from '../../src/kube/cache/watch.ts';
import { eventually, kubeClientFor, testNamespace } from '../support/cluster.ts';
import { recordReliability } from '../support/reliability.ts';

/** The apiserver's own limit on a request body (MaxRequestBodyBytes, 3 MiB). */
const MAX_REQUEST_BYTES = 3 * 1024 * 1024;

/**
 * A client for one test, and the signal that ends its watches. The watches end before the client
 * closes, whatever order the test registered its cleanups in.
 */
function clientFor(t: TestContext): { client: KubeClient; watchSignal: AbortSignal } {
  const client = kubeClientFor();
  const stop = new AbortController();
  t.after(async () => {
    stop.abort();
    await client.close();
  });
  return { client, watchSignal: stop.signal };
}

/** Watches ConfigMaps in `namespace` until `signal` aborts; returns the names it saw added. */
async function watchAdded(
  client: KubeClient,
  namespace: string,
  signal: AbortSignal,
): Promise<Set<string>> {
  const events = await openWatch(client, `/api/v1/namespaces/${namespace}/configmaps`, {}, signal);
  const added = new Set<string>();
  void (async () => {
    try {
      for await (const event of events) {
        if (event.type === 'ADDED') added.add(event.object.metadata?.name ?? '');
      }
    } catch {
      // Ended by the test's abort; a watch that broke earlier shows as missing events.
    }
  })();
  return added;
}

function applySecret(client: KubeClient, namespace: string, bytes: number): Promise<V1Secret> {
  const secret: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'oversized', namespace },
    // Random bytes: no compression or repetition helps the request along.
    data: { payload: randomBytes(bytes).toString('base64') },
  };
  return serverSideApply(client, secret, { fieldManager: 'op-kube-e2e', force: true });
}

async function refusal(promise: Promise<unknown>): Promise<KubeApiError> {
  const error = await promise.then(
    () => assert.fail('the apiserver accepted an oversized Secret'),
    (caught: unknown) => caught,
  );
  assert.ok(isKubeApiError(error), String(error));
  return error;
}

/**
 * 50 ordinary calls at once (25 ConfigMap creates, 25 reads); returns how long they took. Every
 * one must succeed.
 */
async function ordinaryCalls(
  client: KubeClient,
  namespace: string,
  prefix: string,
): Promise<number> {
  const started = Date.now();
  const outcomes = await Promise.all(
    Array.from({ length: 50 }, (_, index) =>
      (index % 2 === 0
        ? client.request({
            method: 'POST',
            path: `/api/v1/namespaces/${namespace}/configmaps`,
            body: {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: { name: `${prefix}-${index}` },
              data: { index: String(index) },
            },
          })
        : client.request({ method: 'GET', path: `/api/v1/namespaces/${namespace}` })
      ).then(
        () => 'ok',
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      ),
    ),
  );
  assert.deepEqual(
    outcomes.filter((outcome) => outcome !== 'ok'),
    [],
    'every call after the refusal succeeds',
  );
  return Date.now() - started;
}

function created(prefix: string): string[] {
  return Array.from({ length: 25 }, (_, index) => `${prefix}-${index * 2}`);
}

describe('KubeClient beside an oversized write', () => {
  it('fails a Secret over the request limit with 413, and 50 calls and an open watch carry on at once', async (t) => {
    const namespace = await testNamespace(t, 'client-oversized');
    const { client, watchSignal } = clientFor(t);
    const added = await watchAdded(client, namespace, watchSignal);
    // 16 MiB of data is a 21 MiB body. Over HTTP/2 the unread rest of it poisoned the client's
    // one session (decision 011): this refusal itself, and every call after it, failed with
    // NGHTTP2_ENHANCE_YOUR_CALM.
    const error = await refusal(applySecret(client, namespace, 16 * 1024 * 1024));
    assert.equal(error.status, 413, error.message);
    assert.equal(error.reason, 'RequestEntityTooLarge');
    assert.equal(error.operation, `apply v1 Secret ${namespace}/oversized`);
    assert.equal(
      error.message,
      `apply v1 Secret ${namespace}/oversized: Request entity too large: limit is ${MAX_REQUEST_BYTES}`,
    );
    const elapsed = await ordinaryCalls(client, namespace, 'after-413');
    assert.ok(elapsed < 3_000, `50 calls took ${elapsed} ms`);
    await eventually(
      'the watch opened before the refusal to see all 25 ConfigMaps',
      () => Promise.resolve(created('after-413').every((name) => added.has(name)) || undefined),
      { timeoutMs: 5_000 },
    );
    await recordReliability({
      suite: 'kube-client-resilience',
      fault: 'A 16 MiB Secret applied (a 21 MiB body, over the apiserver’s 3 MiB request limit)',
      expected:
        'that call fails with 413 naming the operation; other calls and an open watch unaffected',
      observed: `413 RequestEntityTooLarge; 50 calls right after in ${elapsed} ms; the watch saw all 25 new objects`,
    });
  });

  it('fails a Secret over 1 MiB with the apiserver Invalid reason, never its data, and calls carry on', async (t) => {
    const namespace = await testNamespace(t, 'client-too-long');
    const { client } = clientFor(t);
    // 1.5 MiB is within the request limit: the apiserver reads it and refuses it on validation.
    const error = await refusal(applySecret(client, namespace, 1.5 * 1024 * 1024));
    assert.equal(error.status, 422, error.message);
    assert.equal(error.reason, 'Invalid');
    assert.match(error.message, new RegExp(`^apply v1 Secret ${namespace}/oversized: .*Too long`));
    assert.ok(error.message.length < 500, `a ${error.message.length}-character message`);
    const elapsed = await ordinaryCalls(client, namespace, 'after-422');
    assert.ok(elapsed < 3_000, `50 calls took ${elapsed} ms`);
  });

  it('keeps serving calls after the same oversized apply is refused 15 times in a row', async (t) => {
    // An operator retrying one failing item: 4 MiB bodies took the HTTP/2 session down after 13.
    const namespace = await testNamespace(t, 'client-repeated');
    const { client } = clientFor(t);
    for (let attempt = 0; attempt < 15; attempt += 1) {
      const error = await refusal(applySecret(client, namespace, 3 * 1024 * 1024));
      assert.equal(error.status, 413, `attempt ${attempt}: ${error.message}`);
    }
    const elapsed = await ordinaryCalls(client, namespace, 'after-15');
    assert.ok(elapsed < 3_000, `50 calls took ${elapsed} ms`);
    await recordReliability({
      suite: 'kube-client-resilience',
      fault:
        'The same 4 MiB apply refused 15 times in a row (an operator retrying one item; HTTP/2 died after 13)',
      expected: '413 each time; no other call fails',
      observed: `413 × 15; 50 calls right after in ${elapsed} ms, none failed`,
    });
  });
});

describe('KubeClient with many watches', () => {
  it('completes 50 calls while 20 watches are open on one client, and every watch sees them', async (t) => {
    const namespace = await testNamespace(t, 'client-watches');
    const { client, watchSignal } = clientFor(t);
    // More watches than the 16 request connections: under HTTP/1.1 each holds a connection.
    const watches = await Promise.all(
      Array.from({ length: 20 }, () => watchAdded(client, namespace, watchSignal)),
    );
    const elapsed = await ordinaryCalls(client, namespace, 'beside-watches');
    assert.ok(elapsed < 3_000, `50 calls took ${elapsed} ms`);
    await eventually(
      'all 20 watches to see all 25 ConfigMaps',
      () =>
        Promise.resolve(
          watches.every((added) => created('beside-watches').every((name) => added.has(name))) ||
            undefined,
        ),
      { timeoutMs: 5_000 },
    );
  });
});
