// The manager starts caches before runnables, gates leader-only runnables on the election, and stops in reverse.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Manager,
  type Cache,
  type LeadershipCallbacks,
} from '../../../src/kube/runtime/manager.ts';

function recorder() {
  const steps: string[] = [];
  const cache = (name: string): Cache & { synced: boolean } => {
    let release: () => void = () => undefined;
    const synced = new Promise<void>((resolve) => (release = resolve));
    const entry = {
      synced: false,
      start: () => {
        steps.push(`start ${name}`);
        setImmediate(() => {
          entry.synced = true;
          steps.push(`synced ${name}`);
          release();
        });
      },
      stop: () => {
        steps.push(`stop ${name}`);
        return Promise.resolve();
      },
      waitForSync: () => synced,
      hasSynced: () => entry.synced,
    };
    return entry;
  };
  const runnable = (name: string) => ({
    start: () => void steps.push(`start ${name}`),
    stop: () => {
      steps.push(`stop ${name}`);
      return Promise.resolve();
    },
  });
  return { steps, cache, runnable };
}

describe('Manager', () => {
  it('syncs every cache before any runnable starts, and stops runnables, caches, then closers last-first', async () => {
    const { steps, cache, runnable } = recorder();
    const manager = new Manager();
    manager.addCache(cache('items'));
    manager.addCache(cache('secrets'));
    manager.add(runnable('controller'), { leaderOnly: true });
    manager.add(runnable('poller'), { leaderOnly: true });
    manager.addCloser(() => Promise.resolve(void steps.push('close client')));
    manager.addCloser(() => Promise.resolve(void steps.push('flush events')));
    assert.equal(manager.notReady(), 'caches not synced');
    await manager.start();
    assert.deepEqual(steps.splice(0), [
      'start items',
      'start secrets',
      'synced items',
      'synced secrets',
      'start controller',
      'start poller',
    ]);
    assert.equal(manager.leading, true);
    assert.equal(manager.notReady(), undefined);
    await manager.stop();
    await manager.stopped;
    assert.deepEqual(steps, [
      'stop controller',
      'stop poller',
      'stop items',
      'stop secrets',
      'flush events',
      'close client',
    ]);
    assert.equal(manager.stop(), manager.stop(), 'stop() twice is one shutdown');
  });

  it('runs leader-only runnables only while leading, and resolves stopped when leadership is lost', async () => {
    const { steps, runnable } = recorder();
    let callbacks: LeadershipCallbacks | undefined;
    let released = 0;
    const leadership: string[] = [];
    const manager = new Manager({
      election: (given) => {
        callbacks = given;
        return {
          start: () => void steps.push('campaign'),
          release: () => Promise.resolve(void (released += 1)),
        };
      },
      onLeadership: (event) => leadership.push(event),
    });
    manager.add(runnable('always'), { leaderOnly: false });
    manager.add(runnable('controller'), { leaderOnly: true });
    await manager.start();
    assert.deepEqual(steps.splice(0), ['start always', 'campaign']);
    assert.equal(manager.leading, false);

    const term = new AbortController();
    callbacks?.onStartedLeading(term.signal);
    assert.deepEqual(steps.splice(0), ['start controller']);
    term.abort();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(steps.splice(0), ['stop controller']);
    callbacks?.onStoppedLeading();
    await manager.stopped;
    assert.deepEqual(leadership, ['started', 'lost']);

    await manager.stop();
    assert.equal(released, 1);
    assert.deepEqual(steps, ['stop always']);
  });

  it('adds its readiness checks to the caches’ and refuses a second start', async () => {
    const manager = new Manager();
    let connect: string | undefined = 'Connect unreachable for the last 3 polls';
    manager.addReadiness(() => connect);
    await manager.start();
    assert.equal(manager.notReady(), 'Connect unreachable for the last 3 polls');
    connect = undefined;
    assert.equal(manager.notReady(), undefined);
    await assert.rejects(manager.start(), /started already/);
    await manager.stop();
  });
});
