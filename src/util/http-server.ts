// Starting and stopping a Node HTTP(S) server as promises: the operator's probe and metrics listeners and the webhook use them.
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

type AnyServer = HttpServer | HttpsServer;

/** What closing needs to know of a connection: requests unanswered, and when it last did anything. */
interface ConnectionState {
  inFlight: number;
  lastActivity: number;
}

/**
 * A connection that has carried no request for this long while the server closes is ended. Go's
 * HTTP client (the apiserver calling a webhook, Prometheus scraping) dials spare connections it may
 * never use, and Node counts one that finished its TLS handshake but sent nothing as busy until
 * its headersTimeout (60 s): `closeIdleConnections` leaves it, and closing waited for it (a
 * webhook stop took 20 s, until the test's SIGKILL). A real first request follows its handshake
 * within milliseconds; Go's own server gives such connections 5 s.
 */
export const SILENT_CONNECTION_GRACE_MS = 1_000;
const SWEEP_INTERVAL_MS = 100;

const tracked = new WeakMap<AnyServer, Map<Socket, ConnectionState>>();

function track(server: AnyServer): void {
  if (tracked.has(server)) return;
  const connections = new Map<Socket, ConnectionState>();
  tracked.set(server, connections);
  // Over TLS the request's socket is the TLS one, so that is the one to follow.
  const event = 'setSecureContext' in server ? 'secureConnection' : 'connection';
  server.on(event, (socket: Socket) => {
    connections.set(socket, { inFlight: 0, lastActivity: Date.now() });
    socket.once('close', () => connections.delete(socket));
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const state = connections.get(request.socket);
    if (!state) return;
    state.inFlight += 1;
    state.lastActivity = Date.now();
    response.once('close', () => {
      state.inFlight -= 1;
      state.lastActivity = Date.now();
    });
  });
}

/** Listens on `host:port` (port 0: any free port); rejects if the address cannot be bound. */
export function listen(server: AnyServer, host: string, port: number): Promise<AddressInfo> {
  track(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** The connections a closing server ends now: no request in flight, silent for `graceMs`. */
export function silentConnections<S>(
  connections: ReadonlyMap<S, ConnectionState>,
  now: number,
  graceMs: number,
): S[] {
  return [...connections]
    .filter(([, state]) => state.inFlight === 0 && now - state.lastActivity >= graceMs)
    .map(([socket]) => socket);
}

/**
 * Stops accepting connections, closes the idle keep-alive ones at once and the ones that never
 * sent a request once they have been silent for SILENT_CONNECTION_GRACE_MS, and resolves when the
 * requests in flight have been answered.
 */
export function closeServer(server: AnyServer): Promise<void> {
  const connections = tracked.get(server);
  return new Promise((resolve) => {
    const sweep = (): void => {
      server.closeIdleConnections();
      if (!connections) return;
      for (const socket of silentConnections(connections, Date.now(), SILENT_CONNECTION_GRACE_MS)) {
        socket.destroy();
      }
    };
    const sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
    sweeper.unref();
    server.close(() => {
      clearInterval(sweeper);
      resolve();
    });
    sweep();
  });
}
