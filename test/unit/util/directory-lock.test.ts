import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { withDirectoryLock } from '../../../src/util/directory-lock.ts';

async function lockPath(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'op-kube-lock-')), 'the.lock');
}

describe('withDirectoryLock', () => {
  it('survives processes taking and releasing it back to back (a release never trips on the next holder)', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-kube-lock-race-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const lock = join(dir, 'x.lock');
    const script = `import { withDirectoryLock } from ${JSON.stringify(new URL('../../../src/util/directory-lock.ts', import.meta.url).href)};
for (let i = 0; i < 100; i += 1) await withDirectoryLock(${JSON.stringify(lock)}, async () => {}, { pollMs: 1 });`;
    const runs = Array.from(
      { length: 4 },
      () =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
          let stderr = '';
          child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
          child.on('close', (code) => resolve({ code, stderr }));
        }),
    );
    for (const run of await Promise.all(runs)) assert.equal(run.code, 0, run.stderr);
  });

  it('runs holders one at a time, in full', async () => {
    const lock = await lockPath();
    const events: string[] = [];
    await Promise.all(
      [1, 2, 3].map((n) =>
        withDirectoryLock(lock, async () => {
          events.push(`start ${n}`);
          await sleep(20);
          events.push(`end ${n}`);
        }),
      ),
    );
    for (let index = 0; index < events.length; index += 2) {
      assert.equal(events[index]?.replace('start', 'end'), events[index + 1]);
    }
    assert.equal(events.length, 6);
  });

  it('waits for a live holder, naming its pid', async () => {
    const lock = await lockPath();
    await mkdir(lock);
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300)']);
    await writeFile(join(lock, 'pid'), String(holder.pid));
    const waitedFor: (number | undefined)[] = [];
    const released = new Promise((resolve) => holder.on('exit', resolve)).then(() =>
      rm(lock, { recursive: true }),
    );
    const started = Date.now();
    await withDirectoryLock(lock, () => Promise.resolve(), {
      onWait: (pid) => waitedFor.push(pid),
    });
    await released;
    assert.deepEqual(waitedFor, [holder.pid]);
    assert.ok(Date.now() - started >= 250);
  });

  it('takes over from a dead holder and from a pid-less lock left by a crash', async () => {
    const dead = await lockPath();
    await mkdir(dead);
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => gone.on('exit', resolve));
    await writeFile(join(dead, 'pid'), String(gone.pid));
    assert.equal(await withDirectoryLock(dead, () => Promise.resolve('ran')), 'ran');

    const orphan = await lockPath();
    await mkdir(orphan);
    const old = new Date(Date.now() - 60_000);
    await utimes(orphan, old, old);
    assert.equal(await withDirectoryLock(orphan, () => Promise.resolve('ran')), 'ran');
  });

  it('releases the lock when the work throws', async () => {
    const lock = await lockPath();
    await assert.rejects(
      withDirectoryLock(lock, () => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await withDirectoryLock(lock, () => Promise.resolve(1)), 1);
  });
});
