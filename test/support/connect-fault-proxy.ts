// A loopback HTTP proxy in front of connect-local that corrupts chosen answers, switched at run time per route.
//
// connect-local fails the way a server does by itself (outage 503, latency, 429, "file not yet
// synced": src/connect-local/faults.ts, through its admin listener). This proxy adds what only a
// broken network, load balancer or proxy produces: a 200 of the wrong shape, HTML with 200, a body
// cut short of its Content-Length, file content shorter than the item declares (with a matching
// Content-Length), a reset connection, an answer that never comes, a body that trickles.
import { once } from 'node:events';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';

export type ConnectFault =
  /** A 200 JSON answer made from the real one (which must be a 2xx JSON answer). */
  | { readonly kind: 'rewrite'; readonly name: string; readonly body: (real: unknown) => unknown }
  /** The real status and headers with a Content-Length `extraBytes` larger, half the body, then FIN. */
  | { readonly kind: 'truncate'; readonly extraBytes: number }
  /** The real answer less its last `missingBytes` bytes, with a Content-Length that matches. */
  | { readonly kind: 'short-body'; readonly missingBytes: number }
  /** A 200 `text/html` page, as a captive portal or a misrouted load balancer answers. */
  | { readonly kind: 'html' }
  /** The connection is reset (RST) as soon as the request has arrived. */
  | { readonly kind: 'reset' }
  /** The request is read and never answered. */
  | { readonly kind: 'hang' }
  /** The real status and headers at once, then the body one byte every `intervalMs`. */
  | { readonly kind: 'slow-body'; readonly intervalMs: number };

/** The faults the matrix runs, by name. */
export const FAULTS = {
  emptyObject: { kind: 'rewrite', name: '{}', body: () => ({}) },
  nullFields: {
    kind: 'rewrite',
    name: '"fields": null',
    body: (real) => ({ ...(real as Record<string, unknown>), fields: null }),
  },
  listForObject: { kind: 'rewrite', name: 'a list for an object', body: (real) => [real] },
  truncate: { kind: 'truncate', extraBytes: 512 },
  shortBody: { kind: 'short-body', missingBytes: 7 },
  html: { kind: 'html' },
  reset: { kind: 'reset' },
  hang: { kind: 'hang' },
  slowBody: { kind: 'slow-body', intervalMs: 500 },
} as const satisfies Record<string, ConnectFault>;

export interface FaultHit {
  readonly method: string;
  readonly path: string;
  readonly fault: ConnectFault['kind'];
}

export interface ConnectFaultProxy {
  /** `http://127.0.0.1:<port>`: give it to the client as its Connect host. */
  readonly url: string;
  /** Applies `fault` to requests whose `METHOD /path` (no query) matches `route`; replaces an earlier fault on the same route. */
  set(route: RegExp, fault: ConnectFault): void;
  /**
   * Switches every fault off: pass-through again. Connections a hang or a slow body still holds
   * are reset, as when a stuck peer finally goes away, so the client sees the healing at once
   * rather than after its own timeout.
   */
  clear(): void;
  /** Requests a fault was applied to, oldest first. */
  readonly hits: readonly FaultHit[];
  close(): Promise<void>;
}

/** `GET` of one item, by ids. */
export function itemRoute(vaultId: string, itemId: string): RegExp {
  return new RegExp(`^GET /v1/vaults/${vaultId}/items/${itemId}/?$`);
}

/** `GET` of the content of any file of one item. */
export function fileContentRoute(vaultId: string, itemId: string): RegExp {
  return new RegExp(`^GET /v1/vaults/${vaultId}/items/${itemId}/files/[^/]+/content/?$`);
}

// Hop-by-hop headers, and the length the proxy sets itself.
const DROPPED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

interface Upstream {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

export async function startConnectFaultProxy(upstreamUrl: string): Promise<ConnectFaultProxy> {
  const upstream = new URL(upstreamUrl);
  const agent = new Agent({ keepAlive: true });
  const rules = new Map<string, { route: RegExp; fault: ConnectFault }>();
  const held = new Set<Socket>();
  const sockets = new Set<Socket>();
  const hits: FaultHit[] = [];

  const forward = (req: IncomingMessage, body: Buffer): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
      const outgoing = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers,
          agent,
        },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('error', reject);
          answer.on('end', () => {
            const kept: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(answer.headers)) {
              if (value !== undefined && !DROPPED.has(name)) kept[name] = value;
            }
            resolve({
              status: answer.statusCode ?? 502,
              headers: kept,
              body: Buffer.concat(chunks),
            });
          });
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });

  const hold = (res: ServerResponse): void => {
    const { socket } = res;
    if (!socket) return;
    held.add(socket);
    socket.once('close', () => held.delete(socket));
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const target = `${req.method ?? 'GET'} ${path}`;
    const fault = [...rules.values()].find((rule) => rule.route.test(target))?.fault;
    if (fault) hits.push({ method: req.method ?? 'GET', path, fault: fault.kind });
    if (fault?.kind === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    if (fault?.kind === 'hang') {
      hold(res);
      return;
    }
    let real: Upstream;
    try {
      real = await forward(req, body);
    } catch {
      res.writeHead(502, { 'content-type': 'text/plain' }).end('connect-local unreachable');
      return;
    }
    switch (fault?.kind) {
      case undefined: {
        res.writeHead(real.status, { ...real.headers, 'content-length': real.body.length });
        res.end(real.body);
        return;
      }
      case 'rewrite': {
        const rewritten = Buffer.from(JSON.stringify(fault.body(JSON.parse(real.body.toString()))));
        const headers = { ...real.headers, 'content-length': rewritten.length };
        res.writeHead(200, headers).end(rewritten);
        return;
      }
      case 'html': {
        const page = Buffer.from('<!doctype html><html><body><h1>Welcome</h1></body></html>');
        res.writeHead(200, { 'content-type': 'text/html', 'content-length': page.length });
        res.end(page);
        return;
      }
      case 'truncate': {
        const length = real.body.length + fault.extraBytes;
        res.writeHead(real.status, { ...real.headers, 'content-length': length });
        res.write(real.body.subarray(0, Math.floor(real.body.length / 2)), () => res.socket?.end());
        return;
      }
      case 'short-body': {
        const cut = real.body.subarray(0, Math.max(0, real.body.length - fault.missingBytes));
        res.writeHead(real.status, { ...real.headers, 'content-length': cut.length }).end(cut);
        return;
      }
      case 'slow-body': {
        hold(res);
        res.writeHead(real.status, { ...real.headers, 'content-length': real.body.length });
        let sent = 0;
        const timer = setInterval(() => {
          if (sent >= real.body.length || res.destroyed) {
            clearInterval(timer);
            res.end();
            return;
          }
          res.write(real.body.subarray(sent, sent + 1));
          sent += 1;
        }, fault.intervalMs);
        res.once('close', () => clearInterval(timer));
        return;
      }
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => void answer(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');

  return {
    url: `http://127.0.0.1:${address.port}`,
    hits,
    set(route, fault) {
      rules.set(route.source, { route, fault });
    },
    clear() {
      rules.clear();
      for (const socket of held) socket.resetAndDestroy();
      held.clear();
    },
    async close() {
      rules.clear();
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
