// A real HTTP forward proxy on loopback for tests: CONNECT tunnels (https targets, watches included) and absolute-form requests (http targets), counting what it carries.
//
// `hosts` maps names to the address the proxy connects to, as a proxy's own DNS would: a client
// told to reach `apiserver.proxy.test` can only get there through this proxy. `refuse` makes it
// answer 403 to everything; `credentials` makes it demand Proxy-Authorization (407 otherwise).
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface ForwardProxyOptions {
  /** Host name → address to connect to instead. */
  readonly hosts?: Readonly<Record<string, string>>;
  /** `user:password` the proxy demands (Basic). */
  readonly credentials?: string;
}

export interface ForwardProxy {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** `host:port` of every CONNECT tunnel opened, in order. */
  readonly tunnels: string[];
  /** Absolute URLs of every forwarded (non-CONNECT) request, in order. */
  readonly forwarded: string[];
  /** Every Proxy-Authorization header received. */
  readonly authorizations: string[];
  /** Tunnels whose both ends are still open. */
  openTunnels(): number;
  /** Answer 403 to every CONNECT and request from now on (true) or carry them again (false). */
  refuse(refusing: boolean): void;
  close(): Promise<void>;
}

function splitTarget(target: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
  if (!match) return { host: target, port: 443 };
  return { host: match[1] ?? '', port: Number(match[2]) };
}

export async function startForwardProxy(options: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const tunnels: string[] = [];
  const forwarded: string[] = [];
  const authorizations: string[] = [];
  const sockets = new Set<Socket>();
  let open = 0;
  let refusing = false;
  const expected =
    options.credentials === undefined
      ? undefined
      : `Basic ${Buffer.from(options.credentials).toString('base64')}`;
  const address = (host: string): string => options.hosts?.[host.toLowerCase()] ?? host;

  /** Undefined when the request may pass, else the status to refuse it with. */
  const verdict = (req: IncomingMessage): number | undefined => {
    const authorization = req.headers['proxy-authorization'];
    if (authorization !== undefined) authorizations.push(authorization);
    if (refusing) return 403;
    if (expected !== undefined && authorization !== expected) return 407;
    return undefined;
  };

  const server = createServer((req, res) => {
    const status = verdict(req);
    if (status !== undefined) {
      res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(status === 407 ? 'proxy authentication required\n' : 'forbidden by proxy\n');
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end();
      return;
    }
    forwarded.push(target.href);
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = httpRequest(
      {
        host: address(target.hostname.replace(/^\[(.*)\]$/, '$1')),
        port: Number(target.port || 80),
        method: req.method,
        path: target.pathname + target.search,
        headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    client.on('error', () => {});
    const status = verdict(req);
    if (status !== undefined) {
      client.end(
        `HTTP/1.1 ${status} ${status === 407 ? 'Proxy Authentication Required' : 'Forbidden'}\r\n` +
          (status === 407 ? 'Proxy-Authenticate: Basic realm="test"\r\n' : '') +
          'Content-Length: 0\r\nConnection: close\r\n\r\n',
      );
      return;
    }
    const target = req.url ?? '';
    tunnels.push(target);
    const { host, port } = splitTarget(target);
    const upstream = connect(port, address(host));
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    let established = false;
    let finished = false;
    upstream.once('connect', () => {
      established = true;
      open += 1;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    const finish = (): void => {
      if (established && !finished) open -= 1;
      finished = true;
      client.destroy();
      upstream.destroy();
      sockets.delete(upstream);
    };
    client.once('close', finish);
    upstream.once('close', finish);
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    tunnels,
    forwarded,
    authorizations,
    openTunnels: () => open,
    refuse(value) {
      refusing = value;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
