// Ports for the local servers come from outside the kernel's ephemeral range, so a server stopped
// and started again on its port cannot find it taken by some outgoing connection meanwhile.
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { candidateRange, ephemeralRange, freePorts } from '../../../tools/cluster/ports.ts';

describe('free ports for local servers', () => {
  it('reads the ephemeral range, and falls back to the default on a malformed or missing file', () => {
    assert.deepEqual(
      ephemeralRange(() => '32768\t60999\n'),
      { low: 32_768, high: 60_999 },
    );
    assert.deepEqual(
      ephemeralRange(() => '1024 65535'),
      { low: 1024, high: 65_535 },
    );
    for (const text of ['', 'garbage', '60999 32768', '-1 5', '10']) {
      assert.deepEqual(
        ephemeralRange(() => text),
        { low: 32_768, high: 60_999 },
        text,
      );
    }
    assert.deepEqual(
      ephemeralRange(() => {
        throw new Error('ENOENT');
      }),
      { low: 32_768, high: 60_999 },
    );
  });

  it('draws below the ephemeral range, trimming where a widened range overlaps', () => {
    assert.deepEqual(candidateRange({ low: 32_768, high: 60_999 }), { low: 20_000, high: 29_999 });
    assert.deepEqual(candidateRange({ low: 25_000, high: 60_999 }), { low: 20_000, high: 24_999 });
    assert.deepEqual(candidateRange({ low: 1024, high: 24_999 }), { low: 25_000, high: 29_999 });
    assert.equal(candidateRange({ low: 1024, high: 65_535 }), undefined);
  });

  it('hands out distinct ports, none of which this machine gives outgoing connections', async () => {
    const ephemeral = ephemeralRange();
    const ports = await freePorts(20);
    assert.equal(new Set(ports).size, 20);
    for (const port of ports) {
      assert.ok(port < ephemeral.low || port > ephemeral.high, `${port} is ephemeral`);
    }
  });

  it('a port stays free for its server across a burst of outgoing connections made while it is down', async () => {
    const [port = 0] = await freePorts(1);
    const target = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const address = target.address();
    assert.ok(typeof address === 'object' && address);
    const sockets: Socket[] = [];
    try {
      // A thousand outgoing connections, as a busy test run makes: none may take `port`.
      await Promise.all(
        Array.from(
          { length: 1000 },
          () =>
            new Promise<void>((resolve, reject) => {
              const socket = connect(address.port, '127.0.0.1', () => resolve());
              socket.on('error', reject);
              sockets.push(socket);
            }),
        ),
      );
      assert.ok(sockets.every((socket) => socket.localPort !== port));
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
      await new Promise((resolve) => server.close(resolve));
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => target.close(resolve));
    }
  });
});
