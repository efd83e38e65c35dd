// A loopback TCP proxy that hands each new connection to the next backend in turn (TLS passes through), counting connections per backend.
//
// A URL-based webhook clientConfig names one address; putting several webhook replicas behind it
// is how the e2e tests make the apiserver talk to all of them, as a Service would.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface RoundRobinProxy {
  readonly port: number;
  /** Connections handed to each backend so far, in the order the backends were given. */
  readonly connections: readonly number[];
  /** Connections that found their backend down (closed at once). */
  readonly refused: number;
  /** Closes every open connection (call it only while no request is in flight). */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startRoundRobinProxy(
  backendPorts: readonly number[],
): Promise<RoundRobinProxy> {
  if (backendPorts.length === 0) throw new RangeError('a proxy needs at least one backend');
  const connections = backendPorts.map(() => 0);
  const sockets = new Set<Socket>();
  let next = 0;
  let refused = 0;
  const server: Server = createServer((client) => {
    const index = next;
    next = (next + 1) % backendPorts.length;
    connections[index] = (connections[index] ?? 0) + 1;
    const upstream = connect(backendPorts[index] ?? 0, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.once('error', () => {
      refused += 1;
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
  return {
    port: address.port,
    connections,
    get refused() {
      return refused;
    },
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
