// Free loopback ports for local servers (the control plane, connect-local and operator in tests).
//
// They are drawn below the kernel's ephemeral range on purpose. A port the kernel handed out with
// `listen(0)` is an ephemeral one, and the moment its server stops (a component restarted on the
// same port, say), any outgoing connection on the machine may take it as its local port, and the
// restart fails with EADDRINUSE. Outgoing connections never use a port outside that range. (A
// process's own exit can hold its port a moment longer too: plane.ts retries a start for that.)
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** Below the NodePort range (30000–32767) a worker node's kube-proxy may use; above well-known services. */
const PREFERRED = { low: 20_000, high: 29_999 } as const;
const ATTEMPTS_PER_PORT = 50;

/** The kernel's ephemeral range (`net.ipv4.ip_local_port_range`), or Linux's default if unreadable. */
export function ephemeralRange(
  read: () => string = () => readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'),
): { low: number; high: number } {
  try {
    const [low, high] = read().trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low!) {
      return { low: low!, high: high! };
    }
  } catch {
    // Not Linux, or /proc not mounted: fall through to the default.
  }
  return { low: 32_768, high: 60_999 };
}

/** The ports to draw from: PREFERRED minus any part of it the ephemeral range covers. */
export function candidateRange(ephemeral: {
  low: number;
  high: number;
}): { low: number; high: number } | undefined {
  if (ephemeral.low > PREFERRED.high || ephemeral.high < PREFERRED.low) return PREFERRED;
  if (ephemeral.low > PREFERRED.low) return { low: PREFERRED.low, high: ephemeral.low - 1 };
  if (ephemeral.high < PREFERRED.high) return { low: ephemeral.high + 1, high: PREFERRED.high };
  return undefined;
}

function listenOn(server: Server, port: number): Promise<number | undefined> {
  return new Promise((resolvePort) => {
    const fail = (): void => resolvePort(undefined);
    server.once('error', fail);
    // Every address: a port some server holds on any interface (or 0.0.0.0) is refused too.
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => {
      server.off('error', fail);
      const address = server.address();
      resolvePort(typeof address === 'object' && address ? address.port : undefined);
    });
  });
}

async function holdPort(
  range: { low: number; high: number } | undefined,
  taken: Set<number>,
): Promise<Server> {
  for (let attempt = 0; range && attempt < ATTEMPTS_PER_PORT; attempt += 1) {
    const port = range.low + Math.floor(Math.random() * (range.high - range.low + 1));
    if (taken.has(port)) continue;
    const server = createServer();
    if ((await listenOn(server, port)) === port) return server;
    server.close();
  }
  // No room outside the ephemeral range (or all tries taken): let the kernel choose.
  const server = createServer();
  if ((await listenOn(server, 0)) === undefined) throw new Error('no free port');
  return server;
}

/** Distinct free ports, held open together so none is handed out twice. */
export async function freePorts(count: number): Promise<number[]> {
  const range = candidateRange(ephemeralRange());
  const servers: Server[] = [];
  const taken = new Set<number>();
  try {
    for (let index = 0; index < count; index += 1) {
      const server = await holdPort(range, taken);
      servers.push(server);
      const address = server.address();
      if (typeof address === 'object' && address) taken.add(address.port);
    }
    return [...taken];
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

export async function freePort(): Promise<number> {
  const [port = 0] = await freePorts(1);
  return port;
}
