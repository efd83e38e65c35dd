// KubeClient and the kubeconfig credentials against scripted HTTP/1.1 and HTTP/2 servers: headers, errors, rotating tokens, exec plugins, broken and poisoned connections, watches beside requests.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  constants as h2,
  createSecureServer,
  type Http2SecureServer,
  type Http2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { isKubeApiError } from '../../../src/kube/client/api-error.ts';
import {
  CONTENT_TYPE,
  KubeClient,
  type KubeClientOptions,
} from '../../../src/kube/client/client.ts';
import { shouldReplace } from '../../../src/kube/client/connection-pool.ts';
import {
  classifyTransportFailure,
  isIdempotent,
  isRetryableTransportFailure,
} from '../../../src/kube/client/transport-failure.ts';
import {
  generateCertificateAuthority,
  issueServingCertificate,
  type PemKeyPair,
} from '../../../src/webhook/tls/certificates.ts';
import { CredentialSource } from '../../../src/kube/client/credentials.ts';
import {
  KubeConfigError,
  parseKubeConfig,
  type UserConfig,
} from '../../../src/kube/client/kubeconfig.ts';
import { resourcePath } from '../../../src/kube/client/resources.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Answer = (request: Seen) => {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
};

async function server(t: TestContext, answer: Answer): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const http = createServer((incoming: IncomingMessage, response: ServerResponse) => {
    let body = '';
    incoming.on('data', (chunk: Buffer) => (body += chunk.toString()));
    incoming.on('end', () => {
      const request = {
        method: incoming.method ?? '',
        url: incoming.url ?? '',
        headers: incoming.headers,
        body,
      };
      seen.push(request);
      const { status, body: reply, headers } = answer(request);
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(reply === undefined ? '' : JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, seen };
}

function client(t: TestContext, url: string, user: UserConfig): KubeClient {
  const created = new KubeClient({ cluster: { name: 'c', server: url }, user }, { qps: 0 });
  t.after(() => created.close());
  return created;
}

describe('KubeClient', () => {
  it('sends the bearer token, JSON bodies with their content type, and the query', async (t) => {
    const fake = await server(t, () => ({ status: 200, body: { kind: 'Secret' } }));
    const kube = client(t, fake.url, { name: 'u', token: 'abc' });
    const answer = await kube.request<{ kind: string }>({
      method: 'PATCH',
      path: resourcePath({ apiVersion: 'v1', plural: 'secrets', namespace: 'a b', name: 'x/y' }),
      query: { fieldManager: 'op-kube', force: true, dryRun: undefined },
      body: { data: { k: null } },
      contentType: CONTENT_TYPE.mergePatch,
    });
    assert.equal(answer.kind, 'Secret');
    const [request] = fake.seen;
    assert.equal(request?.method, 'PATCH');
    assert.equal(
      request?.url,
      '/api/v1/namespaces/a%20b/secrets/x%2Fy?fieldManager=op-kube&force=true',
    );
    assert.equal(request?.headers.authorization, 'Bearer abc');
    assert.equal(request?.headers['content-type'], 'application/merge-patch+json');
    assert.equal(request?.body, '{"data":{"k":null}}');
  });

  it('fails with the Status reason, causes and the operation, never the request body', async (t) => {
    const fake = await server(t, () => ({
      status: 422,
      body: {
        kind: 'Status',
        code: 422,
        reason: 'Invalid',
        message: 'Secret "x" is invalid: type: Invalid value',
        details: { causes: [{ field: 'type', reason: 'FieldValueInvalid' }] },
      },
    }));
    const kube = client(t, fake.url, { name: 'u' });
    const error = await kube
      .request({
        method: 'PUT',
        path: '/api/v1/x',
        body: { data: 'hunter2' },
        operation: 'apply x',
      })
      .then(
        () => assert.fail('no error'),
        (caught: unknown) => caught,
      );
    assert.ok(isKubeApiError(error, 422));
    assert.equal(error.reason, 'Invalid');
    assert.equal(error.operation, 'apply x');
    assert.deepEqual(error.causes, [{ field: 'type', reason: 'FieldValueInvalid' }]);
    assert.match(error.message, /^apply x: Secret "x" is invalid/);
    assert.doesNotMatch(error.message, /hunter2/);
    assert.equal(fake.seen[0]?.headers.authorization, undefined);
  });

  it('gives an answer without a Status the reason of its HTTP status, and a refused connection status 0', async (t) => {
    const fake = await server(t, () => ({ status: 404 }));
    const missing = await client(t, fake.url, { name: 'u' })
      .request({ method: 'GET', path: '/api/v1/nothing' })
      .catch((caught: unknown) => caught);
    assert.ok(isKubeApiError(missing, 404));
    assert.equal(missing.reason, 'NotFound');
    const refused = await client(t, 'http://127.0.0.1:1', { name: 'u' })
      .request({ method: 'GET', path: '/api/v1' })
      .catch((caught: unknown) => caught);
    assert.ok(isKubeApiError(refused, 0));
    assert.equal(refused.reason, 'Unavailable');
  });

  it('re-reads a rotated token file after a 401 and retries once', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'op-kube-client-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'old\n');
    const fake = await server(t, (request) =>
      request.headers.authorization === 'Bearer new'
        ? { status: 200, body: {} }
        : { status: 401, body: { kind: 'Status', code: 401, reason: 'Unauthorized' } },
    );
    const kube = client(t, fake.url, { name: 'u', tokenFile });
    await assert.rejects(kube.request({ method: 'GET', path: '/api' }), (error) =>
      isKubeApiError(error, 401),
    );
    writeFileSync(tokenFile, 'new\n');
    // The cached token is still tried first; its 401 makes the client read the file again.
    await kube.request({ method: 'GET', path: '/api' });
    assert.deepEqual(
      fake.seen.map((request) => request.headers.authorization),
      ['Bearer old', 'Bearer old', 'Bearer old', 'Bearer new'],
    );
  });
});

// --- Broken connections, poisoned sessions, watches beside requests (issue #10, decision 011) ---

/** A CA and a serving certificate for 127.0.0.1, made once for every TLS server below. */
let tlsMaterial: Promise<{ ca: PemKeyPair; serving: PemKeyPair }> | undefined;
function tls(): Promise<{ ca: PemKeyPair; serving: PemKeyPair }> {
  tlsMaterial ??= (async () => {
    const now = new Date();
    const ca = await generateCertificateAuthority({
      now,
      validityMs: 3_600_000,
      commonName: 'op-kube client test CA',
    });
    const serving = await issueServingCertificate(ca, {
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      now,
      validityMs: 3_600_000,
    });
    return { ca, serving };
  })();
  return tlsMaterial;
}

const STATUS_413 = {
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  message: 'Request entity too large: limit is 1048576',
  reason: 'RequestEntityTooLarge',
  code: 413,
};

function port(server: Server | Http2SecureServer): number {
  return (server.address() as AddressInfo).port;
}

/**
 * An HTTPS server speaking HTTP/2 (and HTTP/1.1 when `allowHTTP1`) that acts as the apiserver
 * does with a body over its limit: answers 413 at once from the Content-Length, never reading
 * the body.
 */
async function tlsServer(
  t: TestContext,
  options: { allowHTTP1: boolean; onStream?: (stream: ServerHttp2Stream, path: string) => boolean },
): Promise<{ url: string; ca: string; sessions: Http2Session[]; http1: number[] }> {
  const { ca, serving } = await tls();
  const sessions: Http2Session[] = [];
  const http1: number[] = [];
  const server = createSecureServer({
    cert: serving.cert,
    key: serving.key,
    allowHTTP1: options.allowHTTP1,
  });
  server.on('session', (session) => sessions.push(session));
  server.on('connection', () => http1.push(Date.now()));
  server.on('request', (request, response) => {
    // Streams reset by the client or by the test must not crash the server.
    request.on('error', () => undefined);
    response.on('error', () => undefined);
    if (request.httpVersion === '2.0') {
      const stream = request.stream;
      if (options.onStream?.(stream, request.url)) return;
    }
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > 1_048_576) {
      response.writeHead(413, { 'content-type': 'application/json' });
      response.end(JSON.stringify(STATUS_413));
      return;
    }
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ kind: 'Namespace', path: request.url }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const session of sessions) session.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `https://127.0.0.1:${port(server)}`, ca: ca.cert, sessions, http1 };
}

function tlsClient(
  t: TestContext,
  server: { url: string; ca: string },
  options: KubeClientOptions = {},
): KubeClient {
  const created = new KubeClient(
    { cluster: { name: 'c', server: server.url, caData: server.ca }, user: { name: 'u' } },
    { qps: 0, ...options },
  );
  t.after(() => created.close());
  return created;
}

/** Sends `count` GETs at once and tallies their outcomes: `ok`, or the error's reason and message. */
async function burst(kube: KubeClient, count: number): Promise<Record<string, number>> {
  const outcomes: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: count }, (_, index) =>
      kube
        .request({ method: 'GET', path: `/api/v1/namespaces/n${index}` })
        .then(
          () => 'ok',
          (error: unknown) =>
            isKubeApiError(error) ? `${error.reason}: ${error.message}` : String(error),
        )
        .then((outcome) => {
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        }),
    ),
  );
  return outcomes;
}

/** A Secret apply whose body is `mebibytes` of data: over the test servers' 1 MiB limit. */
function oversizedApply(mebibytes: number): Parameters<KubeClient['request']>[0] {
  return {
    method: 'PATCH',
    path: '/api/v1/namespaces/a/secrets/big',
    query: { fieldManager: 'op-kube', force: true },
    body: { apiVersion: 'v1', kind: 'Secret', data: { k: 'c2VjcmV0'.repeat(mebibytes * 131_072) } },
    contentType: CONTENT_TYPE.apply,
    operation: 'apply v1 Secret a/big',
  };
}

describe('KubeClient rate budgets', () => {
  it('gives each budget its own token bucket: an Event waits for no spent write, and writes still wait for each other', async (t) => {
    const fake = await server(t, () => ({ status: 200, body: {} }));
    const kube = new KubeClient(
      { cluster: { name: 'c', server: fake.url }, user: { name: 'u' } },
      { qps: 2, burst: 1 },
    );
    t.after(() => kube.close());
    const finished: string[] = [];
    const send = (label: string, budget?: string): Promise<void> =>
      kube.request({ method: 'GET', path: `/${label}`, ...(budget ? { budget } : {}) }).then(() => {
        finished.push(label);
      });
    // The burst of 1 goes to the first write; the second write waits 500 ms for a token.
    await Promise.all([send('write-1'), send('write-2'), send('event', 'events')]);
    assert.deepEqual(finished, ['write-1', 'event', 'write-2']);
  });
});

describe('KubeClient timeouts and the rate limit', () => {
  it('starts its timeout when a call has its rate token, so calls queued behind the limit are sent, not failed', async (t) => {
    const fake = await server(t, () => ({ status: 200, body: {} }));
    const kube = new KubeClient(
      { cluster: { name: 'c', server: fake.url }, user: { name: 'u' } },
      { qps: 4, burst: 1, timeoutMs: 200 },
    );
    t.after(() => kube.close());
    // Four calls at once: the last waits 750 ms for its token, far beyond the 200 ms timeout.
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, (_, index) =>
        kube.request({ method: 'GET', path: `/q${index}` }).then(
          () => 'ok',
          (error: unknown) => (error as Error).message,
        ),
      ),
    );
    assert.deepEqual(outcomes, ['ok', 'ok', 'ok', 'ok']);
    // A caller's own signal still ends the wait.
    await kube.request({ method: 'GET', path: '/spent' });
    await assert.rejects(
      kube.request({ method: 'GET', path: '/late', signal: AbortSignal.timeout(50) }),
    );
  });
});

describe('KubeClient and Retry-After', () => {
  const tooMany = (retryAfter?: string) => ({
    status: 429,
    body: {
      kind: 'Status',
      code: 429,
      reason: 'TooManyRequests',
      message: 'storage is (re)initializing',
    },
    ...(retryAfter === undefined ? {} : { headers: { 'retry-after': retryAfter } }),
  });

  it('waits out a 429 for its Retry-After and sends any call again, a create included', async (t) => {
    let refusals = 2;
    const fake = await server(t, () =>
      refusals-- > 0 ? tooMany('1') : { status: 201, body: { kind: 'Secret' } },
    );
    const kube = client(t, fake.url, { name: 'u' });
    const started = Date.now();
    const created = await kube.request<{ kind: string }>({
      method: 'POST',
      path: '/api/v1/namespaces/a/secrets',
      body: { metadata: { name: 's' } },
    });
    assert.equal(created.kind, 'Secret');
    assert.equal(fake.seen.length, 3);
    assert.ok(fake.seen.every((seen) => seen.body === '{"metadata":{"name":"s"}}'));
    // Two waits of the one second the apiserver asked for, not an immediate hammering.
    assert.ok(Date.now() - started >= 1900, `${Date.now() - started} ms`);
  });

  it('gives up after ten waits with the 429 itself', async (t) => {
    const fake = await server(t, () => tooMany('0'));
    const error = await client(t, fake.url, { name: 'u' })
      .request({ method: 'GET', path: '/api/v1/secrets' })
      .catch((caught: unknown) => caught);
    assert.ok(isKubeApiError(error, 429));
    assert.equal(error.reason, 'TooManyRequests');
    assert.equal(fake.seen.length, 11);
  });

  it('answers a 429 it may not wait for with the 429 itself, not a timeout', async (t) => {
    const fake = await server(t, () => tooMany('5'));
    const kube = new KubeClient(
      { cluster: { name: 'c', server: fake.url }, user: { name: 'u' } },
      { qps: 0, timeoutMs: 300 },
    );
    t.after(() => kube.close());
    const started = Date.now();
    const error = await kube
      .request({ method: 'GET', path: '/api/v1/secrets' })
      .catch((caught: unknown) => caught);
    assert.ok(isKubeApiError(error, 429), String(error));
    assert.match(error.message, /storage is \(re\)initializing/);
    assert.equal(fake.seen.length, 1);
    assert.ok(Date.now() - started < 3000);
  });

  it('does not resend without a usable Retry-After (missing, a date, garbage, negative)', async (t) => {
    for (const header of [undefined, 'Wed, 21 Oct 2026 07:28:00 GMT', 'soon', '-1', '1.5']) {
      const fake = await server(t, () => tooMany(header));
      const error = await client(t, fake.url, { name: 'u' })
        .request({ method: 'GET', path: '/x' })
        .catch((caught: unknown) => caught);
      assert.ok(isKubeApiError(error, 429), String(header));
      assert.equal(fake.seen.length, 1, String(header));
    }
  });

  it('resends a repeatable call after a 5xx with Retry-After, never a create (it may have been done)', async (t) => {
    let failures = 1;
    const fake = await server(t, (request) =>
      request.method === 'GET' && failures-- > 0
        ? { status: 503, body: { kind: 'Status', code: 503 }, headers: { 'retry-after': '0' } }
        : request.method === 'GET'
          ? { status: 200, body: { kind: 'Secret' } }
          : { status: 504, body: { kind: 'Status', code: 504 }, headers: { 'retry-after': '0' } },
    );
    const kube = client(t, fake.url, { name: 'u' });
    assert.equal(
      (await kube.request<{ kind: string }>({ method: 'GET', path: '/s' })).kind,
      'Secret',
    );
    assert.equal(fake.seen.length, 2);
    const error = await kube
      .request({ method: 'POST', path: '/s', body: {} })
      .catch((caught: unknown) => caught);
    assert.ok(isKubeApiError(error, 504));
    assert.equal(fake.seen.filter((seen) => seen.method === 'POST').length, 1);
  });
});

describe('KubeClient against a server that refuses large bodies', () => {
  it('keeps answering after refused oversized bodies: each fails with the 413, the calls after succeed', async (t) => {
    // Node's HTTP/2 client charges the unread rest of a refused body to its session for good and,
    // past 10 MB, resets every later stream with ENHANCE_YOUR_CALM: before decision 011 the
    // third 8 MiB refusal poisoned the one session all calls share.
    const server = await tlsServer(t, { allowHTTP1: true });
    const kube = tlsClient(t, server);
    assert.deepEqual(await burst(kube, 5), { ok: 5 });
    for (let refusal = 0; refusal < 4; refusal += 1) {
      const error = await kube.request(oversizedApply(8)).then(
        () => assert.fail('an oversized apply was accepted'),
        (caught: unknown) => caught,
      );
      assert.ok(isKubeApiError(error, 413), `refusal ${refusal}: ${String(error)}`);
      assert.equal(error.reason, 'RequestEntityTooLarge');
      assert.equal(error.operation, 'apply v1 Secret a/big');
      assert.match(error.message, /^apply v1 Secret a\/big: Request entity too large/);
      assert.doesNotMatch(error.message, /c2VjcmV0/);
      assert.ok(error.message.length < 300);
    }
    const started = Date.now();
    assert.deepEqual(await burst(kube, 50), { ok: 50 });
    assert.ok(Date.now() - started < 2_000, `50 calls took ${Date.now() - started} ms`);
  });

  it('over HTTP/2, replaces the session refused bodies poisoned, so the calls after succeed', async (t) => {
    const server = await tlsServer(t, { allowHTTP1: false });
    const replaced: string[] = [];
    const kube = tlsClient(t, server, {
      http2: true,
      onPoolReplaced: (event) => replaced.push(`${event.pool} ${event.reason}`),
    });
    const refusals: string[] = [];
    for (let refusal = 0; refusal < 4; refusal += 1) {
      const error = await kube.request(oversizedApply(8)).catch((caught: unknown) => caught);
      assert.ok(isKubeApiError(error));
      assert.doesNotMatch(error.message, /c2VjcmV0/);
      refusals.push(`${error.status} ${error.reason}`);
    }
    // Some refusals themselves are lost to the poisoned session; none of the calls after them.
    assert.ok(refusals.includes('413 RequestEntityTooLarge'), refusals.join(', '));
    assert.ok(replaced.length >= 1 && replaced.every((line) => line === 'requests session'));
    assert.deepEqual(await burst(kube, 50), { ok: 50 });
  });

  it('over HTTP/2, replaces a session that resets every stream and sends idempotent calls again once', async (t) => {
    // The poisoned session as Node's client shows it: every stream on it reset with
    // ENHANCE_YOUR_CALM, while a new session works.
    const poisoned = new WeakSet<Http2Session>();
    const server = await tlsServer(t, {
      allowHTTP1: false,
      onStream: (stream, path) => {
        if (stream.session === undefined) return false;
        if (path.endsWith('/poison')) poisoned.add(stream.session);
        if (!poisoned.has(stream.session)) return false;
        stream.close(h2.NGHTTP2_ENHANCE_YOUR_CALM);
        return true;
      },
    });
    const replaced: string[] = [];
    const kube = tlsClient(t, server, {
      http2: true,
      onPoolReplaced: (event) => replaced.push(`${event.pool} ${event.reason}`),
    });
    assert.deepEqual(await burst(kube, 5), { ok: 5 });
    assert.equal(server.sessions.length, 1);
    await assert.rejects(kube.request({ method: 'POST', path: '/poison', body: {} }), (error) => {
      assert.ok(isKubeApiError(error, 0));
      assert.equal(error.reason, 'Unavailable');
      assert.match(error.message, /^POST \/poison: .*ENHANCE_YOUR_CALM/);
      return true;
    });
    assert.deepEqual(replaced, ['requests session']);
    const started = Date.now();
    assert.deepEqual(await burst(kube, 50), { ok: 50 });
    assert.ok(Date.now() - started < 2_000, `50 calls took ${Date.now() - started} ms`);
    assert.equal(server.sessions.length, 2);
    assert.deepEqual(kube.poolReplacements, { requests: 1, watches: 0 });
  });

  it('over HTTP/2, carries on after a GOAWAY with ENHANCE_YOUR_CALM', async (t) => {
    const server = await tlsServer(t, {
      allowHTTP1: false,
      onStream: (stream, path) => {
        if (!path.endsWith('/goaway')) return false;
        stream.session?.goaway(h2.NGHTTP2_ENHANCE_YOUR_CALM);
        return true;
      },
    });
    const kube = tlsClient(t, server, { http2: true });
    assert.deepEqual(await burst(kube, 5), { ok: 5 });
    await assert.rejects(kube.request({ method: 'POST', path: '/goaway', body: {} }), (error) =>
      isKubeApiError(error, 0),
    );
    assert.deepEqual(await burst(kube, 50), { ok: 50 });
  });
});

/**
 * A plain HTTP/1.1 apiserver: watches (`?watch=true`) get one ADDED event and stay open, `/hang`
 * never answers, `/reset/<id>` destroys the connection of its first `resets` requests, anything
 * else is answered with `{}`.
 */
async function http1Server(
  t: TestContext,
  options: { resets?: number; acceptWatches?: boolean } = {},
): Promise<{ url: string; seen: string[]; connections: () => number }> {
  const seen: string[] = [];
  let connections = 0;
  const resetsLeft = new Map<string, number>();
  const server = createServer((request, response) => {
    const url = request.url ?? '';
    seen.push(`${request.method ?? ''} ${url}`);
    if (url.includes('watch=true')) {
      if (options.acceptWatches === false) return;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write(
        `${JSON.stringify({ type: 'ADDED', object: { kind: 'Secret', metadata: { name: 'w' } } })}\n`,
      );
      return;
    }
    if (url === '/hang') return;
    if (url.startsWith('/reset/')) {
      const left = resetsLeft.get(url) ?? options.resets ?? 1;
      if (left > 0) {
        resetsLeft.set(url, left - 1);
        request.socket.destroy();
        return;
      }
    }
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
  });
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${port(server)}`, seen, connections: () => connections };
}

describe('KubeClient connections', () => {
  it('serves requests while 20 watches are open on a 16-connection pool', async (t) => {
    const fake = await http1Server(t);
    const kube = client(t, fake.url, { name: 'u' });
    const stop = new AbortController();
    t.after(() => stop.abort());
    const watches = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        kube.stream({
          path: `/api/v1/namespaces/w${index}/secrets`,
          query: { watch: true },
          signal: stop.signal,
        }),
      ),
    );
    for (const watch of watches) {
      const first = await watch[Symbol.asyncIterator]().next();
      assert.match(Buffer.from(first.value as Uint8Array).toString(), /"ADDED"/);
    }
    const started = Date.now();
    assert.deepEqual(await burst(kube, 50), { ok: 50 });
    assert.ok(Date.now() - started < 2_000, `50 calls took ${Date.now() - started} ms`);
    assert.ok(fake.connections() <= 20 + 16, `${fake.connections()} connections`);
  });

  it('fails a watch the apiserver does not accept within timeoutMs', async (t) => {
    const fake = await http1Server(t, { acceptWatches: false });
    const kube = new KubeClient(
      { cluster: { name: 'c', server: fake.url }, user: { name: 'u' } },
      { qps: 0, timeoutMs: 300 },
    );
    t.after(() => kube.close());
    const started = Date.now();
    await assert.rejects(
      kube.stream({ path: '/api/v1/secrets', query: { watch: true }, operation: 'watch secrets' }),
      (error) => isKubeApiError(error, 0) && /^watch secrets: /.test(error.message),
    );
    assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
  });

  it('ends calls on a saturated, silent pool at their timeout, then recovers by itself', async (t) => {
    const fake = await http1Server(t);
    const kube = new KubeClient(
      { cluster: { name: 'c', server: fake.url }, user: { name: 'u' } },
      { qps: 0, timeoutMs: 300, connections: 4 },
    );
    t.after(() => kube.close());
    const started = Date.now();
    const hung = await Promise.all(
      Array.from({ length: 8 }, () =>
        kube.request({ method: 'GET', path: '/hang' }).catch((error: unknown) => error),
      ),
    );
    for (const error of hung) assert.ok(isKubeApiError(error, 0) && error.reason === 'Timeout');
    assert.ok(Date.now() - started < 1_500, `hung calls took ${Date.now() - started} ms`);
    assert.deepEqual(await burst(kube, 20), { ok: 20 });
  });

  it('sends a GET, an apply and a merge patch again once when the connection breaks, never a POST or a JSON patch', async (t) => {
    const fake = await http1Server(t, { resets: 1 });
    const kube = client(t, fake.url, { name: 'u' });
    await kube.request({ method: 'GET', path: '/reset/get' });
    await kube.request({
      method: 'PATCH',
      path: '/reset/apply',
      body: {},
      contentType: CONTENT_TYPE.apply,
    });
    await kube.request({
      method: 'PATCH',
      path: '/reset/merge',
      body: {},
      contentType: CONTENT_TYPE.mergePatch,
    });
    for (const [method, path, contentType] of [
      ['POST', '/reset/post', undefined],
      ['PATCH', '/reset/json', CONTENT_TYPE.jsonPatch],
    ] as const) {
      await assert.rejects(
        kube.request({ method, path, body: [], contentType }),
        (error) =>
          isKubeApiError(error, 0) &&
          error.reason === 'Unavailable' &&
          /other side closed/.test(error.message),
      );
    }
    const counts = (path: string): number => fake.seen.filter((line) => line.endsWith(path)).length;
    assert.deepEqual(
      ['/reset/get', '/reset/apply', '/reset/merge', '/reset/post', '/reset/json'].map(counts),
      [2, 2, 2, 1, 1],
    );
  });

  it('replaces the pool after three broken connections in a row, and not for a refused one', async (t) => {
    const fake = await http1Server(t, { resets: 100 });
    const replaced: string[] = [];
    const kube = new KubeClient(
      { cluster: { name: 'c', server: fake.url }, user: { name: 'u' } },
      {
        qps: 0,
        onPoolReplaced: (event) =>
          replaced.push(`${event.pool} ${event.reason} ${event.consecutive}`),
      },
    );
    t.after(() => kube.close());
    // Each POST fails once (not resent): three in a row replace the pool.
    for (let index = 0; index < 3; index += 1) {
      await kube.request({ method: 'POST', path: '/reset/p', body: {} }).catch(() => undefined);
    }
    assert.deepEqual(replaced, ['requests connection 3']);
    // An answer in between starts the count again.
    await kube.request({ method: 'POST', path: '/reset/p', body: {} }).catch(() => undefined);
    await kube.request({ method: 'GET', path: '/ok' });
    await kube.request({ method: 'POST', path: '/reset/p', body: {} }).catch(() => undefined);
    await kube.request({ method: 'POST', path: '/reset/p', body: {} }).catch(() => undefined);
    assert.equal(replaced.length, 1);
    // No apiserver at all: nothing a new pool could fix.
    const refused = new KubeClient(
      { cluster: { name: 'c', server: 'http://127.0.0.1:1' }, user: { name: 'u' } },
      { qps: 0, onPoolReplaced: (event) => replaced.push(`refused ${event.reason}`) },
    );
    t.after(() => refused.close());
    for (let index = 0; index < 5; index += 1) {
      await refused.request({ method: 'GET', path: '/' }).catch(() => undefined);
    }
    assert.equal(replaced.length, 1);
  });
});

describe('transport failures', () => {
  const coded = (code: string, message = code, name = 'Error'): Error =>
    Object.assign(new Error(message), { code, name });

  it('sorts undici and Node errors by what they say about the connection', () => {
    const cases: [unknown, string][] = [
      [
        coded('ERR_HTTP2_STREAM_ERROR', 'Stream closed with error code NGHTTP2_ENHANCE_YOUR_CALM'),
        'session',
      ],
      [coded('ERR_HTTP2_SESSION_ERROR', 'Session closed with error code 11'), 'session'],
      [
        coded('UND_ERR_SOCKET', 'HTTP/2: "GOAWAY" frame received with code 11', 'SocketError'),
        'session',
      ],
      [
        coded('UND_ERR_INFO', 'HTTP/2: "GOAWAY" frame received with code 0', 'InformationalError'),
        'session',
      ],
      [
        coded('ERR_HTTP2_STREAM_ERROR', 'Stream closed with error code NGHTTP2_INTERNAL_ERROR'),
        'connection',
      ],
      [coded('UND_ERR_SOCKET', 'other side closed', 'SocketError'), 'connection'],
      [coded('UND_ERR_HEADERS_TIMEOUT'), 'connection'],
      [coded('ECONNRESET'), 'connection'],
      [new Error('fetch failed', { cause: coded('EPIPE') }), 'connection'],
      [coded('ECONNREFUSED'), 'unreachable'],
      [coded('UND_ERR_CONNECT_TIMEOUT'), 'unreachable'],
      [new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'timeout'],
      [new DOMException('This operation was aborted', 'AbortError'), 'aborted'],
      [coded('UND_ERR_ABORTED'), 'aborted'],
      [coded('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), 'other'],
      [new TypeError('bad'), 'other'],
      ['a string', 'other'],
      [undefined, 'other'],
    ];
    for (const [error, kind] of cases) {
      assert.equal(classifyTransportFailure(error), kind, String(error));
    }
    const cyclic = coded('X');
    (cyclic as { cause?: unknown }).cause = cyclic;
    assert.equal(classifyTransportFailure(cyclic), 'other');
  });

  it('resends only calls that are safe to repeat, after failures a fresh connection can fix', () => {
    assert.deepEqual(
      [
        ['GET', undefined],
        ['PUT', CONTENT_TYPE.json],
        ['DELETE', undefined],
        ['PATCH', CONTENT_TYPE.apply],
        ['PATCH', CONTENT_TYPE.mergePatch],
        ['PATCH', CONTENT_TYPE.jsonPatch],
        ['PATCH', CONTENT_TYPE.strategicMergePatch],
        ['PATCH', undefined],
        ['POST', CONTENT_TYPE.json],
      ].map(([method, type]) => isIdempotent(method ?? '', type)),
      [true, true, true, true, true, false, false, false, false],
    );
    assert.deepEqual(
      (['session', 'connection', 'timeout', 'unreachable', 'aborted', 'other'] as const).map(
        isRetryableTransportFailure,
      ),
      [true, true, false, false, false, false],
    );
  });

  it('replaces a pool at once for a session failure, after three in a row for connection failures and timeouts', () => {
    assert.equal(shouldReplace('session', 1, 3), true);
    assert.equal(shouldReplace('connection', 2, 3), false);
    assert.equal(shouldReplace('connection', 3, 3), true);
    assert.equal(shouldReplace('timeout', 3, 3), true);
    for (const kind of ['unreachable', 'aborted', 'other'] as const) {
      assert.equal(shouldReplace(kind, 100, 3), false);
    }
  });
});

describe('CredentialSource', () => {
  it('runs an exec plugin with KUBERNETES_EXEC_INFO and caches its token until it expires', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'op-kube-exec-'));
    const counter = join(dir, 'runs');
    const plugin = join(dir, 'plugin.sh');
    writeFileSync(
      plugin,
      `#!/bin/sh\necho run >> ${counter}\n` +
        `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' "$PREFIX-$(echo "$KUBERNETES_EXEC_INFO" | grep -c ExecCredential)" "$EXPIRES"\n`,
    );
    chmodSync(plugin, 0o755);
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    const source = new CredentialSource(
      { name: 'c', server: 'https://example' },
      {
        name: 'u',
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: plugin,
          args: [],
          env: [
            { name: 'PREFIX', value: 'tok' },
            { name: 'EXPIRES', value: expires },
          ],
          provideClusterInfo: true,
        },
      },
    );
    assert.equal((await source.current()).authorization, 'Bearer tok-1');
    assert.equal((await source.current()).authorization, 'Bearer tok-1');
    const { readFileSync } = await import('node:fs');
    assert.equal(readFileSync(counter, 'utf8').trim().split('\n').length, 1);
    // Within 10 s of expiry the token is renewed.
    await source.current(Date.parse(expires) - 5_000);
    assert.equal(readFileSync(counter, 'utf8').trim().split('\n').length, 2);
  });

  it('refuses a certificate without its key', () => {
    assert.throws(
      () =>
        new CredentialSource(
          { name: 'c', server: 'https://example' },
          { name: 'u', clientCertificateData: 'PEM' },
        ),
      KubeConfigError,
    );
  });
});

describe('parseKubeConfig', () => {
  it('reads exec plugins and decodes embedded certificates', () => {
    const doc = parseKubeConfig(
      JSON.stringify({
        clusters: [
          {
            name: 'c',
            cluster: {
              server: 'https://k',
              'certificate-authority-data': Buffer.from('CA PEM').toString('base64'),
              'tls-server-name': 'kubernetes',
            },
          },
        ],
        users: [
          {
            name: 'u',
            user: {
              exec: {
                apiVersion: 'client.authentication.k8s.io/v1beta1',
                command: 'aws',
                args: ['eks', 'get-token'],
                env: [{ name: 'AWS_PROFILE', value: 'prod' }],
              },
            },
          },
        ],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
      '/etc/kube/config',
    );
    assert.equal(doc.clusters[0]?.caData, 'CA PEM');
    assert.equal(doc.clusters[0]?.tlsServerName, 'kubernetes');
    assert.deepEqual(doc.users[0]?.exec?.args, ['eks', 'get-token']);
    assert.deepEqual(doc.users[0]?.exec?.env, [{ name: 'AWS_PROFILE', value: 'prod' }]);
  });

  it('refuses the removed auth-provider plugins with a pointer to exec plugins', () => {
    assert.throws(
      () =>
        parseKubeConfig(
          JSON.stringify({ users: [{ name: 'u', user: { 'auth-provider': { name: 'gcp' } } }] }),
          '/k',
        ),
      /auth-provider gcp.*exec credential plugin/,
    );
  });
});
