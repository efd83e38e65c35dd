// Starting and stopping a Node HTTP(S) server as promises: the operator's probe and metrics listeners and the webhook use them.
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** Listens on `host:port` (port 0: any free port); rejects if the address cannot be bound. */
export function listen(
  server: HttpServer | HttpsServer,
  host: string,
  port: number,
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Stops accepting connections, closes the idle keep-alive ones at once, and resolves when the
 * requests in flight have been answered.
 */
export function closeServer(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
