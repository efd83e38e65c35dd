// A real node:http server on 127.0.0.1:0 for client tests: each test scripts the answers and reads what arrived.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONNECT_VERSION_HEADER } from '../../../src/connect/models.ts';

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface Reply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
}

/** `'hang'` accepts the request and never answers. */
export type Handler = (request: Received) => Reply | 'hang' | Promise<Reply | 'hang'>;

export interface Stub {
  readonly url: string;
  readonly received: Received[];
  /** TCP connections accepted so far. */
  connections(): number;
}

/** A JSON answer as Connect sends it; `version: null` leaves out the version header. */
export function json(status: number, body: unknown, version: string | null = '1.7.3'): Reply {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (version !== null) headers[CONNECT_VERSION_HEADER] = version;
  return { status, headers, body: status === 204 ? '' : JSON.stringify(body) };
}

/** A Connect error body: `{status, message}`. */
export function fail(status: number, message: string): Reply {
  return json(status, { status, message });
}

export async function startStub(
  registrar: { after(fn: () => Promise<void>): void },
  handler: Handler,
): Promise<Stub> {
  const received: Received[] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(request);
      void Promise.resolve(handler(request)).then((reply) => {
        if (reply === 'hang') return;
        res.writeHead(reply.status, reply.headers);
        res.end(reply.body);
      });
    });
  });
  server.on('connection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  registrar.after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, connections: () => connections };
}

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
