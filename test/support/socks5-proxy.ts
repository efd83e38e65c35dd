// A real SOCKS5 proxy on loopback for tests (RFC 1928 CONNECT, RFC 1929 user/password): counts the tunnels it opens; `hosts` maps names the way the proxy's own DNS would.
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface Socks5Proxy {
  readonly port: number;
  /** `host:port` of every tunnel opened, as the client named it. */
  readonly tunnels: string[];
  close(): Promise<void>;
}

/** Reads exactly `length` bytes from `socket`, keeping what arrived beyond them. */
function reader(socket: Socket): (length: number) => Promise<Buffer> {
  let buffered = Buffer.alloc(0);
  let waiting: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    waiting?.();
  });
  return async (length) => {
    while (buffered.length < length) {
      if (socket.destroyed) throw new Error('closed');
      await new Promise<void>((resolve) => {
        waiting = resolve;
        socket.once('close', resolve);
      });
    }
    const taken = buffered.subarray(0, length);
    buffered = buffered.subarray(length);
    return taken;
  };
}

export async function startSocks5Proxy(
  options: { hosts?: Readonly<Record<string, string>>; credentials?: string } = {},
): Promise<Socks5Proxy> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    client.once('close', () => sockets.delete(client));
    const read = reader(client);
    void (async () => {
      const [version, count] = await read(2);
      const methods = await read(count ?? 0);
      if (version !== 5) return client.destroy();
      if (options.credentials !== undefined) {
        if (!methods.includes(2)) return client.end(Buffer.from([5, 0xff]));
        client.write(Buffer.from([5, 2]));
        const [, userLength] = await read(2);
        const user = (await read(userLength ?? 0)).toString();
        const [passwordLength] = await read(1);
        const password = (await read(passwordLength ?? 0)).toString();
        const ok = `${user}:${password}` === options.credentials;
        client.write(Buffer.from([1, ok ? 0 : 1]));
        if (!ok) return client.end();
      } else {
        client.write(Buffer.from([5, 0]));
      }
      const [, command, , type] = await read(4);
      let host: string;
      if (type === 1) host = [...(await read(4))].join('.');
      else if (type === 3) host = (await read((await read(1))[0] ?? 0)).toString();
      else return client.destroy();
      const port = (await read(2)).readUInt16BE(0);
      if (command !== 1) return client.end(Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]));
      tunnels.push(`${host}:${port}`);
      const upstream = connect(port, options.hosts?.[host] ?? host);
      sockets.add(upstream);
      upstream.on('error', () => client.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])));
      upstream.once('close', () => client.destroy());
      client.once('close', () => upstream.destroy());
      await once(upstream, 'connect');
      client.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
      client.removeAllListeners('data');
      upstream.pipe(client);
      client.pipe(upstream);
    })().catch(() => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    tunnels,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
