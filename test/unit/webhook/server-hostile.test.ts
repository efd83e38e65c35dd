// The injector's HTTPS server against a hostile or broken client: bodies that never end, trickle,
// lie about their length, overflow the limit, come compressed or in the wrong type or charset,
// and routes as express matched them. Every answer is a 4xx (or a denial) with a Status, never a
// 5xx, and the server goes on serving (docs/decisions/028).
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import {
  assertStatus,
  reviewAnswer,
  webhookFixture,
  type FailureStatus,
} from '../../support/admission-answers.ts';
import { startHttpsWebhook, type HttpsWebhook } from '../../support/webhook-https.ts';

const BODY_TIMEOUT_MS = 1_000;

interface RawReply {
  /** Everything the server sent, as text. */
  readonly text: string;
  /** Whether the server closed the connection before the deadline. */
  readonly closed: boolean;
  readonly ms: number;
}

/**
 * One raw TLS connection: writes `head` and then `chunks` (one every `everyMs`), never ends the
 * request unless `end`, and reads until the server closes or `deadlineMs` passes.
 */
function raw(
  port: number,
  head: string,
  chunks: readonly (string | Buffer)[],
  options: { readonly everyMs?: number; readonly end?: boolean; readonly deadlineMs: number },
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    const received: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      clearTimeout(deadline);
      clearInterval(timer);
      socket.destroy();
      resolve({
        text: Buffer.concat(received).toString('utf8'),
        closed,
        ms: performance.now() - started,
      });
    };
    const deadline = setTimeout(() => finish(false), options.deadlineMs);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.once('close', () => finish(true));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      // The server may reset a connection it refused; what it answered first still counts.
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.once('secureConnect', () => {
      socket.write(head);
      const rest = [...chunks];
      const next = (): void => {
        const chunk = rest.shift();
        if (chunk !== undefined && !socket.destroyed) socket.write(chunk);
        if (rest.length === 0) {
          clearInterval(timer);
          if (options.end) socket.end();
        }
      };
      if (options.everyMs === undefined) {
        while (rest.length > 0) next();
        if (options.end) socket.end();
      } else {
        timer = setInterval(next, options.everyMs);
      }
    });
  });
}

function postHead(length: number | undefined, extra = ''): string {
  return (
    'POST /inject HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\n' +
    (length === undefined ? '' : `Content-Length: ${length}\r\n`) +
    extra +
    '\r\n'
  );
}

/** The status codes of every HTTP/1.1 answer in a raw reply. */
function statusCodes(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));
}

/** The JSON Status of the first answer in a raw reply. */
function firstStatus(text: string): FailureStatus {
  const start = text.indexOf('\r\n\r\n') + 4;
  const length = Number(/content-length: (\d+)/i.exec(text)?.[1]);
  return JSON.parse(
    Buffer.from(text)
      .subarray(start, start + length)
      .toString(),
  ) as FailureStatus;
}

const review = (): string => JSON.stringify(webhookFixture('pod-create-v1'));

describe('the webhook server against a hostile client', () => {
  let webhook: HttpsWebhook;

  before(async () => {
    webhook = await startHttpsWebhook(undefined, { bodyTimeoutMs: BODY_TIMEOUT_MS });
  });

  after(async () => {
    await webhook?.stop();
  });

  describe('bodies that do not arrive', () => {
    it('times out a request whose body never ends (Content-Length 1000, 14 bytes sent): 408, connection closed', async () => {
      const reply = await raw(webhook.port, postHead(1000), ['{"apiVersion":'], {
        deadlineMs: 5 * BODY_TIMEOUT_MS,
      });
      assert.ok(reply.closed, `still open after ${Math.round(reply.ms)} ms: ${reply.text}`);
      assert.deepEqual(statusCodes(reply.text), [408], reply.text);
      const status = firstStatus(reply.text);
      assert.equal(status.reason, 'RequestTimeout');
      assert.ok(reply.ms < 3 * BODY_TIMEOUT_MS, `${Math.round(reply.ms)} ms`);
    });

    it('times out a body trickled a byte every 50 ms: the limit is on the whole body, not per byte', async () => {
      const bytes = review().split('').slice(0, 200);
      const reply = await raw(webhook.port, postHead(100_000), bytes, {
        everyMs: 50,
        deadlineMs: 5 * BODY_TIMEOUT_MS,
      });
      assert.ok(reply.closed, `still open after ${Math.round(reply.ms)} ms`);
      assert.deepEqual(statusCodes(reply.text), [408], reply.text);
      assert.ok(reply.ms < 3 * BODY_TIMEOUT_MS, `${Math.round(reply.ms)} ms`);
    });

    it('times out a chunked body that never sends its last chunk', async () => {
      const reply = await raw(
        webhook.port,
        postHead(undefined, 'Transfer-Encoding: chunked\r\n'),
        ['e\r\n{"apiVersion":\r\n'],
        { deadlineMs: 5 * BODY_TIMEOUT_MS },
      );
      assert.ok(reply.closed, `still open after ${Math.round(reply.ms)} ms`);
      assert.deepEqual(statusCodes(reply.text), [408], reply.text);
    });

    it('owes nothing to a client that drops the connection mid-body, and goes on serving', async () => {
      const reply = await raw(webhook.port, postHead(5000), ['{"apiVersion":"admission'], {
        deadlineMs: 100,
      });
      assert.equal(reply.text, '');
      assert.equal((await webhook.get('/healthz')).status, 200);
    });

    it('answers a body cut short by a half-close with 400', async () => {
      const reply = await raw(webhook.port, postHead(1000), ['{"apiVersion":'], {
        end: true,
        deadlineMs: 5 * BODY_TIMEOUT_MS,
      });
      assert.deepEqual(statusCodes(reply.text), [400], reply.text);
    });
  });

  describe('lengths that lie or overflow', () => {
    it('refuses a Content-Length shorter than the body: the bytes past it are a bad next request, 400 and closed', async () => {
      const body = review();
      const reply = await raw(
        webhook.port,
        postHead(body.length - 10, 'Connection: keep-alive\r\n'),
        [body],
        { deadlineMs: 3_000 },
      );
      // Node's parser refuses the leftover bytes and closes the connection, usually before the
      // first request is answered; whatever is answered is a 400.
      assert.ok(reply.closed);
      const codes = statusCodes(reply.text);
      assert.ok(codes.length > 0, reply.text);
      assert.ok(
        codes.every((code) => code === 400),
        codes.join(', '),
      );
    });

    it('refuses a Content-Length over 8 MB with 413 at once, without waiting for the body', async () => {
      const reply = await raw(webhook.port, postHead(1024 * 1024 * 1024), ['{"a":'], {
        deadlineMs: 5 * BODY_TIMEOUT_MS,
      });
      const codes = statusCodes(reply.text);
      assert.deepEqual(codes, [413], reply.text);
      assert.equal(firstStatus(reply.text).reason, 'RequestEntityTooLarge');
      assert.ok(reply.ms < 3 * BODY_TIMEOUT_MS, `${Math.round(reply.ms)} ms`);
    });

    it('refuses a chunked body past 8 MB with 413, and goes on serving', async () => {
      const body = Buffer.alloc(9 * 1024 * 1024, 0x20);
      const reply = await webhook.post(body, { headers: { 'transfer-encoding': 'chunked' } });
      assertStatus(reply, 413, 'RequestEntityTooLarge', /larger than 8mb/);
      assert.equal((await webhook.get('/healthz')).status, 200);
    });

    it('reads a body of exactly 8 MB', async () => {
      const text = review();
      const body = Buffer.alloc(8 * 1024 * 1024, 0x20);
      body.write(text);
      const reply = await webhook.post(body);
      assert.equal(reviewAnswer(reply).response.allowed, true);
    });

    it('answers an empty chunked body with 400 empty body', async () => {
      const reply = await webhook.post(Buffer.alloc(0), {
        headers: { 'transfer-encoding': 'chunked' },
      });
      assertStatus(reply, 400, 'BadRequest', /empty body/);
    });
  });

  describe('content types and charsets', () => {
    it('refuses a review without a Content-Type with 415', async () => {
      const body = review();
      const reply = await raw(
        webhook.port,
        `POST /inject HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
        [body],
        { deadlineMs: 3_000 },
      );
      assert.deepEqual(statusCodes(reply.text), [415], reply.text);
      assert.match(firstStatus(reply.text).message, /application\/json, got none/);
    });

    const refused: [string, string, RegExp][] = [
      ['text/plain', 'text/plain', /application\/json, got text\/plain/],
      ['a +json type', 'application/json-patch+json', /application\/json, got/],
      ['a type without a subtype', 'application', /application\/json, got application$/],
      ['a charset of Latin-1', 'application/json; charset=latin1', /charset/i],
      ['a charset of utf8 (not a charset name)', 'application/json; charset=utf8', /charset/i],
    ];
    for (const [what, type, message] of refused) {
      it(`refuses ${what} with 415`, async () => {
        const reply = await webhook.post(review(), { headers: { 'content-type': type } });
        assert.equal(reply.status, 415, reply.text);
        const body = JSON.parse(reply.text) as FailureStatus;
        assert.equal(body.kind, 'Status');
        assert.equal(body.code, 415);
        assert.match(body.message, message);
      });
    }

    for (const type of [
      'application/json',
      'APPLICATION/JSON; Charset=UTF-8',
      'application/json;charset="utf-8"',
      'application/json; charset=utf-8; foo=bar',
      // Parameters that do not parse are skipped, as express's content-type module skips them.
      'application/json; charset',
      'application/json; charset=utf-8; charset=latin1',
      ' application/json ',
    ]) {
      it(`reads a review sent as ${type}`, async () => {
        const reply = await webhook.post(review(), { headers: { 'content-type': type } });
        assert.equal(reviewAnswer(reply).response.allowed, true);
      });
    }

    it('reads a review with a UTF-8 byte order mark', async () => {
      const reply = await webhook.post(`\ufeff${review()}`);
      assert.equal(reviewAnswer(reply).response.allowed, true);
    });

    it('reads bytes that are not UTF-8 inside a string as U+FFFD and answers the review', async () => {
      const text = review().replace('"metadata":{', '"metadata":{"x":"AB",');
      const bytes = Buffer.from(text);
      const at = bytes.indexOf('"AB"') + 1;
      bytes[at] = 0xff;
      bytes[at + 1] = 0xfe;
      const reply = await webhook.post(bytes);
      assert.equal(reviewAnswer(reply).response.allowed, true);
    });
  });

  describe('JSON that is not a review', () => {
    const bodies: [string, string][] = [
      ['trailing garbage', '{"apiVersion":"admission.k8s.io/v1"}x'],
      ['null', 'null'],
      ['a number', '123'],
      ['a string', '"AdmissionReview"'],
      ['a truncated object', '{"apiVersion":'],
      ['a lone bracket', '['],
      ['whitespace then text', '   nope'],
    ];
    for (const [what, body] of bodies) {
      it(`answers ${what} with 400 malformed JSON`, async () => {
        assertStatus(await webhook.post(body), 400, 'BadRequest', /malformed JSON/);
      });
    }

    it('answers an empty array with 400 empty body, as an empty object', async () => {
      assertStatus(await webhook.post('[]'), 400, 'BadRequest', /empty body/);
      assertStatus(await webhook.post('  {}  '), 400, 'BadRequest', /empty body/);
    });
  });

  describe('content encodings', () => {
    const encoders: [string, (input: Buffer) => Buffer][] = [
      ['gzip', (input) => zlib.gzipSync(input)],
      ['GZIP', (input) => zlib.gzipSync(input)],
      ['deflate', (input) => zlib.deflateSync(input)],
      ['br', (input) => zlib.brotliCompressSync(input)],
      ['identity', (input) => input],
    ];
    if ('zstdCompressSync' in zlib) {
      const zstd = zlib as unknown as { zstdCompressSync(input: Buffer): Buffer };
      encoders.push(['zstd', (input) => zstd.zstdCompressSync(input)]);
    }
    for (const [encoding, encode] of encoders) {
      it(`reads a review sent with Content-Encoding: ${encoding}`, async () => {
        const reply = await webhook.post(encode(Buffer.from(review())), {
          headers: { 'content-encoding': encoding },
        });
        assert.equal(reviewAnswer(reply).response.allowed, true);
      });
    }

    it('refuses an unknown content encoding with 415', async () => {
      const reply = await webhook.post(review(), { headers: { 'content-encoding': 'compress' } });
      assert.equal(reply.status, 415, reply.text);
      assert.match((JSON.parse(reply.text) as FailureStatus).message, /content encoding/);
    });

    it('answers a corrupt gzip body with 400', async () => {
      const gz = zlib.gzipSync(Buffer.from(review()));
      gz[12] = (gz[12] ?? 0) ^ 0xff;
      gz[20] = (gz[20] ?? 0) ^ 0xff;
      const reply = await webhook.post(gz, { headers: { 'content-encoding': 'gzip' } });
      assert.equal(reply.status, 400, reply.text);
      assert.equal((JSON.parse(reply.text) as FailureStatus).kind, 'Status');
    });

    it('answers a gzip body cut short with 400', async () => {
      const gz = zlib.gzipSync(Buffer.from(review()));
      const reply = await webhook.post(gz.subarray(0, gz.length - 40), {
        headers: { 'content-encoding': 'gzip' },
      });
      assert.equal(reply.status, 400, reply.text);
    });
  });

  describe('routes and methods, as express matched them', () => {
    it('answers POST /inject with the query the apiserver adds (?timeout=10s)', async () => {
      const reply = await raw(
        webhook.port,
        `POST /inject?timeout=10s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(review())}\r\nConnection: close\r\n\r\n`,
        [review()],
        { deadlineMs: 3_000 },
      );
      assert.deepEqual(statusCodes(reply.text), [200], reply.text);
      assert.match(reply.text, /"allowed":true/);
    });

    for (const path of ['/healthz/', '/HEALTHZ', '/healthz?x=1', '/readyz']) {
      it(`answers GET ${path} with 200 ok`, async () => {
        const reply = await webhook.get(path);
        assert.equal(reply.status, 200);
        assert.equal(reply.text, 'ok');
        assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8');
      });
    }

    it('answers HEAD /healthz with 200 and no body', async () => {
      const reply = await raw(
        webhook.port,
        'HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        [],
        { deadlineMs: 3_000 },
      );
      assert.deepEqual(statusCodes(reply.text), [200], reply.text);
      assert.ok(reply.text.endsWith('\r\n\r\n'), JSON.stringify(reply.text));
    });

    for (const [method, path] of [
      ['GET', '/inject'],
      ['PUT', '/inject'],
      ['POST', '/healthz'],
      ['DELETE', '/metrics'],
      ['GET', '/'],
      ['GET', '/inject/x'],
      ['GET', '/%2e%2e/healthz'],
    ] as const) {
      it(`answers ${method} ${path} with 404`, async () => {
        const reply = await raw(
          webhook.port,
          `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
          [],
          { deadlineMs: 3_000 },
        );
        assert.deepEqual(statusCodes(reply.text), [404], reply.text);
      });
    }

    it('serves /metrics in the Prometheus text format, without sending ETag or X-Powered-By', async () => {
      const reply = await webhook.get('/metrics');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      assert.equal(reply.headers.etag, undefined);
      assert.equal(reply.headers['x-powered-by'], undefined);
      assert.match(reply.text, /# TYPE op_kube_webhook_requests_total counter/);
      assert.match(reply.text, /process_resident_memory_bytes/);
    });

    it('answers a review with application/json; charset=utf-8 and a Content-Length', async () => {
      const reply = await webhook.post(review());
      assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(Number(reply.headers['content-length']), Buffer.byteLength(reply.text));
    });
  });

  it('answered none of it with a 5xx, and logged no failure', async () => {
    assert.doesNotMatch(webhook.logs(), /admission failed|request failed/);
    const metrics = (await webhook.get('/metrics')).text;
    assert.doesNotMatch(metrics, /op_kube_webhook_requests_total\{[^}]*status="5\d\d"/);
    assert.doesNotMatch(metrics, /outcome="error"/);
  });
});
