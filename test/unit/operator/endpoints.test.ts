// The operator's probe (/healthz, /readyz) and metrics (/metrics) listeners against hostile and
// sloppy callers: unknown paths, other methods, HEAD, query strings, huge and slow requests,
// callers without a token, a failing metrics collection.
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { KubeRequest } from '../../../src/kube/client/client.ts';
import { serveMetrics, serveProbes } from '../../../src/operator/endpoints.ts';
import { MetricsAuthorizer, type ReviewClient } from '../../../src/operator/metrics-auth.ts';
import { closeServer } from '../../../src/util/http-server.ts';

const TOKEN = 'endpoint-token-that-must-never-show';
const LOCAL = { host: '127.0.0.1', port: 0 };

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function call(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; tls?: boolean; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = (options.tls ? httpsRequest : httpRequest)(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: options.headers ?? {},
        agent: false,
        rejectUnauthorized: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes `head` on a raw socket and resolves with everything the server sends until it closes. */
function raw(port: number, head: string | Buffer, waitMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(text);
    }, waitMs);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (text) resolve(text);
      else reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write(head);
  });
}

/** An apiserver that knows TOKEN as `reader`, who may `get` /metrics and nothing else. */
class Reviews implements ReviewClient {
  readonly attributes: { path: string; verb: string }[] = [];
  request<T>(request: KubeRequest): Promise<T> {
    const body = request.body as {
      kind: string;
      spec: { token?: string; nonResourceAttributes?: { path: string; verb: string } };
    };
    if (body.kind === 'TokenReview') {
      const known = body.spec.token === TOKEN;
      return Promise.resolve({
        status: { authenticated: known, ...(known ? { user: { username: 'reader' } } : {}) },
      } as T);
    }
    const attributes = body.spec.nonResourceAttributes ?? { path: '', verb: '' };
    this.attributes.push(attributes);
    return Promise.resolve({
      status: { allowed: attributes.path === '/metrics' && attributes.verb === 'get' },
    } as T);
  }
}

describe('probe listener (/healthz, /readyz)', () => {
  it('answers GET and HEAD on its two paths, and nothing else', async () => {
    let why: string | undefined = 'caches not synced';
    const { server, port } = await serveProbes(LOCAL, () => why);
    try {
      const healthz = await call(port, 'GET', '/healthz');
      assert.equal(healthz.status, 200);
      assert.equal(healthz.body, 'ok');
      assert.equal(healthz.headers['content-type'], 'text/plain; charset=utf-8');
      const head = await call(port, 'HEAD', '/healthz');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.equal(head.headers['content-length'], '2');

      const notReady = await call(port, 'GET', '/readyz');
      assert.equal(notReady.status, 503);
      assert.equal(notReady.body, 'not ready: caches not synced');
      assert.equal(notReady.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal((await call(port, 'HEAD', '/readyz')).status, 503);
      why = undefined;
      const ready = await call(port, 'GET', '/readyz');
      assert.deepEqual([ready.status, ready.body], [200, 'ok']);

      // As express routed them (kubelet probes send neither, but a hand-written probe may).
      for (const path of ['/healthz?verbose=1', '/healthz/', '/HEALTHZ', '/readyz?x=%zz']) {
        assert.equal((await call(port, 'GET', path)).status, 200, path);
      }
      for (const path of ['/', '/nope', '//healthz', '/healthz%2F', '/healthzz', '/metrics']) {
        const unknown = await call(port, 'GET', path);
        assert.equal(unknown.status, 404, path);
      }
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        assert.equal((await call(port, method, '/healthz')).status, 404, method);
      }
      const options = await call(port, 'OPTIONS', '/readyz');
      assert.equal(options.status, 200);
      assert.equal(options.headers.allow, 'GET, HEAD');
    } finally {
      await closeServer(server);
    }
  });

  it('does not reflect what the caller sent into a page', async () => {
    const { server, port } = await serveProbes(LOCAL, () => undefined);
    try {
      const answer = await call(port, 'GET', '/%3Cscript%3Ealert(1)%3C%2Fscript%3E');
      assert.equal(answer.status, 404);
      assert.ok(!answer.body.includes('script'), answer.body);
      assert.notEqual(answer.headers['content-type']?.startsWith('text/html'), true);
    } finally {
      await closeServer(server);
    }
  });

  it('survives huge and slow requests, and keeps answering others meanwhile', async () => {
    const { server, port } = await serveProbes(LOCAL, () => undefined);
    try {
      // A header block beyond Node's limit: refused, not buffered.
      const huge = await raw(
        port,
        `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
      );
      assert.match(huge, /^HTTP\/1\.1 431 /);
      // A path of 1 MB.
      const long = await raw(port, `GET /${'b'.repeat(1 << 20)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.match(long, /^HTTP\/1\.1 (404|414|431) /);
      // A body announced as 1 GB on a route that reads none: answered without waiting for it.
      const started = Date.now();
      const big = await raw(
        port,
        `POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n${'c'.repeat(65536)}`,
        2_000,
      );
      assert.match(big, /^HTTP\/1\.1 404 /);
      assert.ok(Date.now() - started < 2_000, 'answered before the body');
      // A slow client holding half a request does not block the next caller.
      const slow = connect(port, '127.0.0.1');
      slow.on('error', () => undefined);
      slow.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      try {
        assert.equal((await call(port, 'GET', '/healthz')).status, 200);
      } finally {
        slow.destroy();
      }
      // Garbage instead of HTTP.
      assert.match(await raw(port, 'NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1\.1 400 /);
      assert.equal((await call(port, 'GET', '/healthz')).status, 200);
    } finally {
      await closeServer(server);
    }
  });
});

describe('metrics listener (/metrics)', () => {
  it('serves the registry on GET and HEAD, nothing on other paths or methods', async () => {
    const registry = new Registry();
    const { server, port } = await serveMetrics(LOCAL, registry);
    try {
      const metrics = await call(port, 'GET', '/metrics');
      assert.equal(metrics.status, 200);
      assert.equal(metrics.headers['content-type'], registry.contentType);
      const head = await call(port, 'HEAD', '/metrics?name[]=x');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.equal((await call(port, 'GET', '/healthz')).status, 404);
      assert.equal((await call(port, 'POST', '/metrics', { body: 'x' })).status, 404);
    } finally {
      await closeServer(server);
    }
  });

  it('answers 500 without the error or a stack trace when collecting fails', async () => {
    const registry = new Registry();
    registry.metrics = () => Promise.reject(new Error(`collector failed near ${TOKEN}`));
    const warnings: unknown[] = [];
    const logger = {
      info: () => undefined,
      warn: (...args: unknown[]) => warnings.push(args),
    };
    const { server, port } = await serveMetrics(LOCAL, registry, { logger });
    try {
      const answer = await call(port, 'GET', '/metrics');
      assert.equal(answer.status, 500);
      assert.ok(!answer.body.includes(TOKEN), answer.body);
      assert.ok(!answer.body.includes(' at '), 'no stack trace');
      assert.equal((await call(port, 'GET', '/metrics')).status, 500, 'still serving');
      assert.equal(warnings.length, 2, 'told to the log');
    } finally {
      await closeServer(server);
    }
  });

  it('with --metrics-secure, reviews every caller before routing, on any path and method', async () => {
    const reviews = new Reviews();
    const { server, port } = await serveMetrics(LOCAL, new Registry(), {
      authorizer: new MetricsAuthorizer({ client: reviews }),
    });
    const tls = true;
    const reader = { authorization: `Bearer ${TOKEN}` };
    try {
      for (const path of ['/metrics', '/nope', '/metrics?x=1']) {
        const anonymous = await call(port, 'GET', path, { tls });
        assert.equal(anonymous.status, 401, path);
        assert.equal(anonymous.body, 'Unauthorized: no bearer token\n');
      }
      assert.equal(
        (await call(port, 'GET', '/metrics', { tls, headers: { authorization: 'Bearer x' } }))
          .status,
        401,
      );
      assert.equal((await call(port, 'POST', '/metrics', { tls, body: 'x' })).status, 401);
      assert.equal((await call(port, 'GET', '/metrics?x=1', { tls, headers: reader })).status, 200);
      const head = await call(port, 'HEAD', '/metrics', { tls, headers: reader });
      assert.deepEqual([head.status, head.body], [200, '']);
      const other = await call(port, 'GET', '/nope', { tls, headers: reader });
      assert.equal(other.status, 403);
      assert.equal(other.body, 'Forbidden: "reader" may not get /nope\n');
      assert.equal((await call(port, 'POST', '/metrics', { tls, headers: reader })).status, 403);
      // The reviewed path is the request's path without its query; HEAD is reviewed as get.
      assert.deepEqual(reviews.attributes, [
        { path: '/metrics', verb: 'get' },
        { path: '/nope', verb: 'get' },
        { path: '/metrics', verb: 'post' },
      ]);
    } finally {
      await closeServer(server);
    }
  });
});
