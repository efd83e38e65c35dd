// A manager told to rejoin after losing leadership stops its leader-only controllers, keeps running, and starts fresh ones on the next win.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { controllerFor } from '../../../src/kube/runtime/builder.ts';
import { Manager, type LeadershipCallbacks } from '../../../src/kube/runtime/manager.ts';

async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

describe('Manager with rejoinAfterLoss', () => {
  it('keeps running after a loss, and a new win reconciles every listed key again', async () => {
    let callbacks: LeadershipCallbacks | undefined;
    const leadership: string[] = [];
    const manager = new Manager({
      election: (given) => {
        callbacks = given;
        return { start: () => undefined, release: () => Promise.resolve() };
      },
      onLeadership: (event) => leadership.push(event),
      rejoinAfterLoss: true,
    });
    const seen: string[] = [];
    controllerFor(manager, {
      name: 'tls',
      reconciler: {
        reconcile: (key) => {
          seen.push(key);
          return Promise.resolve({});
        },
      },
    })
      .for({
        onAdd: () => undefined,
        onUpdate: () => undefined,
        onDelete: () => undefined,
        keys: () => ['op/tls'],
      })
      .complete();
    let always = 0;
    manager.add(
      { start: () => void (always += 1), stop: () => Promise.resolve() },
      { leaderOnly: false },
    );
    await manager.start();

    const first = new AbortController();
    callbacks?.onStartedLeading(first.signal);
    await settle();
    assert.deepEqual(seen.splice(0), ['op/tls']);

    first.abort();
    callbacks?.onStoppedLeading();
    // Won again at once, before the first period's controller may have stopped.
    const second = new AbortController();
    callbacks?.onStartedLeading(second.signal);
    await settle();
    assert.deepEqual(seen.splice(0), ['op/tls'], 'a new controller lists the key again');
    assert.deepEqual(leadership, ['started', 'lost', 'started']);
    assert.equal(manager.leading, true);
    assert.equal(always, 1, 'the always-on runnables run on');

    let stopped = false;
    void manager.stopped.then(() => (stopped = true));
    await settle();
    assert.equal(stopped, false, 'a loss does not stop the manager');
    await manager.stop();
    assert.equal(stopped, true);
  });
});
