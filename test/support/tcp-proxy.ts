// A loopback TCP proxy for e2e tests: spreads connections over backends in turn, and can simulate network failures (TLS passes through untouched).
//
// One URL-based webhook clientConfig names one address; several replicas behind the proxy are how
// the tests make the apiserver reach all of them, as a Service would. The same proxy in front of
// an apiserver lets a test cut a client off (`partition`) or make its requests hang (`blackHole`).
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** `https://127.0.0.1:<port>`: the backends' certificates name 127.0.0.1, whatever the port. */
  readonly url: string;
  /** Connections handed to each backend so far, in the order the backends were given. */
  readonly connections: readonly number[];
  /** Closes every open connection (call it only while no request is in flight). */
  dropConnections(): void;
  /** A network partition: closes every connection and refuses new ones until `heal()`. */
  partition(): void;
  heal(): void;
  /** Requests hang: open connections stay open but no byte goes through any more, either way. */
  blackHole(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(backendPorts: readonly number[]): Promise<TcpProxy> {
  if (backendPorts.length === 0) throw new RangeError('a proxy needs at least one backend');
  const connections = backendPorts.map(() => 0);
  const sockets = new Set<Socket>();
  let next = 0;
  let refusing = false;
  let forwarding = true;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const index = next;
    next = (next + 1) % backendPorts.length;
    connections[index] = (connections[index] ?? 0) + 1;
    const upstream = connect(backendPorts[index] ?? 0, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      if (forwarding) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (forwarding) client.write(chunk);
    });
    for (const socket of [client, upstream]) {
      socket.on('error', () => {});
      socket.once('close', () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(socket);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
  const dropConnections = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: address.port,
    url: `https://127.0.0.1:${address.port}`,
    connections,
    dropConnections,
    partition: () => {
      refusing = true;
      dropConnections();
    },
    heal: () => {
      refusing = false;
    },
    blackHole: () => {
      forwarding = false;
    },
    close: async () => {
      dropConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
