// connect-local closes while a client holds a connection that never sent a request (Go clients,
// `op run` among them, dial spares): its close does not wait for Node's 60 s headers timeout.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import pino from 'pino';
import { startConnectLocal } from '../../../src/connect-local/server.ts';

describe('connect-local close', () => {
  it('ends a connection that never sent a request, and closes', async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'op-kube-connect-local-close-'));
    t.after(() => rm(stateDir, { recursive: true, force: true }));
    const running = await startConnectLocal({
      host: '127.0.0.1',
      port: 0,
      stateDir,
      activityRetention: 100,
      maxInlineFileBytes: 1024,
      maxBodyBytes: 1024 * 1024,
      logger: pino({ level: 'silent' }),
    });
    const { port } = new URL(running.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.resume();
    const outcome = await Promise.race([
      running.close().then(() => 'closed' as const),
      sleep(5_000, 'still open' as const, { ref: false }),
    ]);
    socket.destroy();
    assert.equal(outcome, 'closed');
    await ended;
  });
});
