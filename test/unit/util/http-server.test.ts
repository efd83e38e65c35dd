// Closing a server: connections that never send a request (Go clients dial spares) do not hold the
// close, and a request in flight is still answered whole.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect as connectTcp } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as connectTls } from 'node:tls';
import { describe, it } from 'node:test';
import {
  closeServer,
  listen,
  SILENT_CONNECTION_GRACE_MS,
  silentConnections,
} from '../../../src/util/http-server.ts';
import {
  generateCertificateAuthority,
  issueServingCertificate,
} from '../../../src/webhook/tls/certificates.ts';

/** A serving pair from the project's own certificate authority. */
async function servingPair(): Promise<{ key: string; cert: string }> {
  const now = new Date();
  const ca = await generateCertificateAuthority({
    now,
    validityMs: 3_600_000,
    commonName: 'op-kube http-server test CA',
  });
  return issueServingCertificate(ca, {
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    now,
    validityMs: 3_600_000,
  });
}

/** Resolves to how long `closing` took, or rejects if it took over `limitMs`. */
async function within(closing: Promise<void>, limitMs: number): Promise<number> {
  const started = Date.now();
  const timeout = sleep(limitMs, 'timeout' as const, { ref: false });
  const outcome = await Promise.race([closing.then(() => 'closed' as const), timeout]);
  assert.equal(outcome, 'closed', `the server was still open after ${limitMs} ms`);
  return Date.now() - started;
}

describe('closeServer', () => {
  it('ends a TLS connection that completed its handshake and never sent a request', async () => {
    const server: HttpsServer = createHttpsServer(await servingPair(), (_request, response) =>
      response.end('ok'),
    );
    const { port } = await listen(server, '127.0.0.1', 0);
    const socket = connectTls({ port, host: '127.0.0.1', rejectUnauthorized: false });
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // Node alone keeps this one open until its 60 s headersTimeout.
    const took = await within(closeServer(server), 5_000);
    await ended;
    assert.ok(took >= SILENT_CONNECTION_GRACE_MS - 50, `closed after ${took} ms: too early`);
  });

  it('ends a plain connection that never sent a request', async () => {
    const server = createHttpServer((_request, response) => response.end('ok'));
    const { port } = await listen(server, '127.0.0.1', 0);
    const socket = connectTcp(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    await sleep(50);
    await within(closeServer(server), 5_000);
    socket.destroy();
  });

  it('answers a request in flight whole, however long past the grace, then closes', async () => {
    const slowMs = SILENT_CONNECTION_GRACE_MS + 800;
    const server = createHttpServer((_request, response) => {
      setTimeout(() => response.end('the whole answer'), slowMs);
    });
    const { port } = await listen(server, '127.0.0.1', 0);
    const answer = new Promise<string>((resolve, reject) => {
      httpRequest({ port, host: '127.0.0.1', path: '/' }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve(body));
        response.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    await sleep(100);
    const took = await within(closeServer(server), slowMs + 3_000);
    assert.equal(await answer, 'the whole answer');
    assert.ok(took >= slowMs - 200, `closed after ${took} ms, before the answer`);
  });

  it('chooses connections with nothing in flight and silent for the grace', () => {
    const connections = new Map([
      ['new', { inFlight: 0, lastActivity: 9_500 }],
      ['old spare', { inFlight: 0, lastActivity: 1_000 }],
      ['busy', { inFlight: 1, lastActivity: 1_000 }],
      ['just answered', { inFlight: 0, lastActivity: 9_900 }],
      ['exactly at grace', { inFlight: 0, lastActivity: 9_000 }],
    ]);
    assert.deepEqual(silentConnections(connections, 10_000, 1_000), [
      'old spare',
      'exactly at grace',
    ]);
  });
});
