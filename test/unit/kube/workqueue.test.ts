// WorkQueue: dedup, one worker per key, dirty re-adds, priorities, delayed and rate-limited adds, shutdown, metrics.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock, flush } from '../../support/manual-clock.ts';
import type { RateLimiter } from '../../../src/kube/runtime/rate-limiter.ts';
import {
  WorkQueue,
  type Priority,
  type WorkQueueMetrics,
} from '../../../src/kube/runtime/workqueue.ts';

function queueWith(options: { metrics?: WorkQueueMetrics; rateLimiter?: RateLimiter } = {}): {
  queue: WorkQueue;
  clock: ManualClock;
} {
  const clock = new ManualClock();
  return { queue: new WorkQueue({ name: 'test', clock, ...options }), clock };
}

/** Takes every ready key, marking each done at once. */
async function drain(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.len() > 0) {
    const key = await queue.get();
    assert.ok(key !== undefined);
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

/** A get() whose result can be looked at without awaiting it. */
function pendingGet(queue: WorkQueue): { settled: boolean; key: string | undefined } {
  const slot: { settled: boolean; key: string | undefined } = { settled: false, key: undefined };
  void queue.get().then((key) => {
    slot.settled = true;
    slot.key = key;
  });
  return slot;
}

describe('WorkQueue: dedup and order', () => {
  it('holds a key added many times once', async () => {
    const { queue } = queueWith();
    for (const key of ['a', 'b', 'a', 'a', 'c', 'b']) queue.add(key);
    assert.equal(queue.len(), 3);
    assert.deepEqual(await drain(queue), ['a', 'b', 'c']);
  });

  it('hands keys out in order of adding', async () => {
    const { queue } = queueWith();
    const keys = Array.from({ length: 3000 }, (_, index) => `ns/k${index}`);
    for (const key of keys) queue.add(key);
    assert.deepEqual(await drain(queue), keys);
  });

  it('makes get() wait for an add, serving waiters in order', async () => {
    const { queue } = queueWith();
    const first = pendingGet(queue);
    const second = pendingGet(queue);
    await flush();
    assert.equal(first.settled, false);
    queue.add('a');
    queue.add('b');
    await flush();
    assert.deepEqual([first.key, second.key], ['a', 'b']);
    assert.equal(queue.len(), 0);
  });

  it('ignores done() for a key that is not being processed', async () => {
    const { queue } = queueWith();
    queue.add('a');
    queue.done('a');
    queue.done('b');
    assert.equal(queue.len(), 1);
    assert.deepEqual(await drain(queue), ['a']);
  });
});

describe('WorkQueue: one worker per key', () => {
  it('does not hand out a key again before its done()', async () => {
    const { queue } = queueWith();
    queue.add('a');
    assert.equal(await queue.get(), 'a');
    queue.add('a');
    assert.equal(queue.len(), 0, 'a re-added while processing waits for done');
    const second = pendingGet(queue);
    await flush();
    assert.equal(second.settled, false);
    queue.done('a');
    await flush();
    assert.equal(second.key, 'a');
  });

  it('processes a key added during processing once more, however often it was added', async () => {
    const { queue } = queueWith();
    queue.add('a');
    queue.add('b');
    assert.equal(await queue.get(), 'a');
    queue.add('a');
    queue.add('a');
    queue.done('a');
    assert.deepEqual(await drain(queue), ['b', 'a']);
  });

  it('hands other keys out while one is processed', async () => {
    const { queue } = queueWith();
    queue.add('a');
    queue.add('b');
    assert.equal(await queue.get(), 'a');
    assert.equal(await queue.get(), 'b');
  });

  // The model is the plainest restatement of the rules; the queue must agree with it at every
  // step, and independently never have one key out with two holders.
  type Key = 'a' | 'b' | 'c';
  type Op =
    | { readonly op: 'add'; readonly key: Key; readonly priority: Priority }
    | { readonly op: 'get' }
    | { readonly op: 'done'; readonly key: Key };

  class Model {
    readonly ready: Record<Priority, Key[]> = { normal: [], low: [] };
    readonly redo = new Map<Key, Priority>();
    readonly processing = new Set<Key>();
    readonly waiters: number[] = [];
    readonly delivered: (Key | undefined)[] = [];

    add(key: Key, priority: Priority): void {
      if (this.ready.normal.includes(key)) return;
      if (this.ready.low.includes(key)) {
        if (priority === 'normal') {
          this.ready.low.splice(this.ready.low.indexOf(key), 1);
          this.ready.normal.push(key);
        }
        return;
      }
      const redo = this.redo.get(key);
      if (redo !== undefined) {
        if (priority === 'normal') this.redo.set(key, 'normal');
        return;
      }
      if (this.processing.has(key)) this.redo.set(key, priority);
      else this.ready[priority].push(key);
      this.#serve();
    }

    get(index: number): void {
      this.delivered[index] = undefined;
      this.waiters.push(index);
      this.#serve();
    }

    done(key: Key): void {
      if (!this.processing.delete(key)) return;
      const redo = this.redo.get(key);
      if (redo !== undefined) {
        this.redo.delete(key);
        this.ready[redo].push(key);
      }
      this.#serve();
    }

    len(): number {
      return this.ready.normal.length + this.ready.low.length;
    }

    #serve(): void {
      while (this.waiters.length > 0 && this.len() > 0) {
        const key = this.ready.normal.shift() ?? this.ready.low.shift();
        const index = this.waiters.shift();
        if (key === undefined || index === undefined) return;
        this.processing.add(key);
        this.delivered[index] = key;
      }
    }
  }

  it('agrees with a model for any sequence of add/get/done', async () => {
    // Few keys, so that the same key meets itself in every state.
    const key = fc.constantFrom<Key>('a', 'b', 'c');
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        op: fc.constant('add' as const),
        key,
        priority: fc.constantFrom<Priority>('normal', 'low'),
      }),
      fc.constant({ op: 'get' as const }),
      fc.record({ op: fc.constant('done' as const), key }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 80, size: 'max' }), async (ops) => {
        const { queue } = queueWith();
        const model = new Model();
        const gets: { settled: boolean; key: string | undefined }[] = [];
        const holders = new Map<string, number>();
        for (const step of ops) {
          if (step.op === 'add') {
            queue.add(step.key, { priority: step.priority });
            model.add(step.key, step.priority);
          } else if (step.op === 'get') {
            gets.push(pendingGet(queue));
            model.get(gets.length - 1);
          } else {
            queue.done(step.key);
            model.done(step.key);
            holders.delete(step.key);
          }
          const before = gets.map((get) => get.settled);
          await flush();
          gets.forEach((get, index) => {
            assert.equal(get.key, model.delivered[index], `get #${index}`);
            if (get.settled && !before[index] && get.key !== undefined) {
              holders.set(get.key, (holders.get(get.key) ?? 0) + 1);
              assert.equal(holders.get(get.key), 1, `${get.key} handed to two workers`);
            }
          });
          assert.equal(queue.len(), model.len());
        }
        queue.shutDown();
      }),
      { numRuns: 300 },
    );
  });
});

describe('WorkQueue: priorities', () => {
  it('hands out normal keys before low ones, each in order of adding', async () => {
    const { queue } = queueWith();
    queue.add('r1', { priority: 'low' });
    queue.add('e1');
    queue.add('r2', { priority: 'low' });
    queue.add('e2', { priority: 'normal' });
    assert.deepEqual(await drain(queue), ['e1', 'e2', 'r1', 'r2']);
  });

  const cases: ReadonlyArray<
    readonly [string, ReadonlyArray<readonly [string, Priority]>, readonly string[]]
  > = [
    [
      'a refresh of a key queued as normal keeps it normal, in its place',
      [
        ['a', 'normal'],
        ['b', 'normal'],
        ['a', 'low'],
      ],
      ['a', 'b'],
    ],
    [
      'a normal add of a key queued as low moves it up, behind the normal keys',
      [
        ['c', 'low'],
        ['a', 'low'],
        ['b', 'normal'],
        ['a', 'normal'],
      ],
      ['b', 'a', 'c'],
    ],
    [
      'a key refreshed twice stays in its first place',
      [
        ['a', 'low'],
        ['b', 'low'],
        ['a', 'low'],
      ],
      ['a', 'b'],
    ],
  ];
  for (const [name, adds, order] of cases) {
    it(name, async () => {
      const { queue } = queueWith();
      for (const [key, priority] of adds) queue.add(key, { priority });
      assert.deepEqual(await drain(queue), order);
    });
  }

  it('re-adds a key dirtied during processing at the higher of its add priorities', async () => {
    const { queue } = queueWith();
    queue.add('a');
    queue.add('r', { priority: 'low' });
    assert.equal(await queue.get(), 'a');
    queue.add('a', { priority: 'low' });
    queue.add('a', { priority: 'normal' });
    queue.done('a');
    assert.deepEqual(await drain(queue), ['a', 'r']);
  });

  it('re-adds a key refreshed during processing at low priority', async () => {
    const { queue } = queueWith();
    queue.add('a');
    assert.equal(await queue.get(), 'a');
    queue.add('a', { priority: 'low' });
    queue.add('b', { priority: 'low' });
    queue.done('a');
    assert.deepEqual(await drain(queue), ['b', 'a']);
  });
});

describe('WorkQueue: addAfter', () => {
  it('makes a key ready once its delay has passed', async () => {
    const { queue, clock } = queueWith();
    queue.addAfter('a', 100);
    clock.advance(99);
    assert.equal(queue.len(), 0);
    clock.advance(1);
    assert.equal(queue.len(), 1);
    assert.deepEqual(await drain(queue), ['a']);
  });

  it('orders delayed keys by due time, not by order of adding', async () => {
    const { queue, clock } = queueWith();
    queue.addAfter('late', 300);
    queue.addAfter('early', 100);
    queue.addAfter('middle', 200);
    queue.addAfter('tie', 200);
    clock.advance(1000);
    assert.deepEqual(await drain(queue), ['early', 'middle', 'tie', 'late']);
  });

  it('keeps the sooner time when a held-back key is added again', async () => {
    const { queue, clock } = queueWith();
    queue.addAfter('a', 100);
    queue.addAfter('a', 50);
    queue.addAfter('b', 50);
    queue.addAfter('b', 100);
    clock.advance(50);
    assert.deepEqual(await drain(queue), ['a', 'b']);
    clock.advance(1000);
    assert.equal(queue.len(), 0, 'the later times were dropped');
    assert.equal(clock.pendingTimers, 0);
  });

  it('adds at once for a delay of zero or less', () => {
    const { queue, clock } = queueWith();
    queue.addAfter('a', 0);
    queue.addAfter('b', -5);
    assert.equal(queue.len(), 2);
    assert.equal(clock.pendingTimers, 0);
  });

  it('rejects a NaN delay', () => {
    const { queue } = queueWith();
    assert.throws(() => queue.addAfter('a', Number.NaN), RangeError);
  });

  it('adds at the priority given, the higher one if held back twice', async () => {
    const { queue, clock } = queueWith();
    queue.addAfter('r', 10, { priority: 'low' });
    queue.addAfter('a', 20, { priority: 'low' });
    queue.addAfter('a', 30);
    queue.addAfter('b', 30);
    clock.advance(30);
    assert.deepEqual(await drain(queue), ['a', 'b', 'r']);
  });

  it('adds a held-back key that is still pending only once', async () => {
    const { queue, clock } = queueWith();
    queue.add('a');
    queue.addAfter('a', 10);
    clock.advance(10);
    assert.deepEqual(await drain(queue), ['a']);
  });

  it('keeps one timer, for the earliest key', () => {
    const { queue, clock } = queueWith();
    for (let index = 0; index < 50; index++) queue.addAfter(`k${index}`, 1000 - index);
    assert.equal(clock.pendingTimers, 1);
    clock.advance(960);
    assert.equal(queue.len(), 10);
    assert.equal(clock.pendingTimers, 1);
  });

  it('makes each key ready at the earliest of its times, in order of due time', async () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const op = fc.oneof(
      fc.record({ key, delay: fc.integer({ min: -5, max: 100 }) }),
      fc.record({ advance: fc.integer({ min: 0, max: 60 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60, size: 'max' }), async (ops) => {
        const { queue, clock } = queueWith();
        let now = 0;
        let seq = 0;
        const held = new Map<string, { readyAt: number; seq: number }>();
        const ready: string[] = [];
        const makeReady = (k: string): void => {
          if (!ready.includes(k)) ready.push(k);
        };
        for (const step of ops) {
          if ('key' in step) {
            queue.addAfter(step.key, step.delay);
            const current = held.get(step.key);
            if (step.delay <= 0) makeReady(step.key);
            else if (current === undefined || current.readyAt > now + step.delay) {
              held.set(step.key, { readyAt: now + step.delay, seq: seq++ });
            }
          } else {
            clock.advance(step.advance);
            now += step.advance;
            const due = [...held]
              .filter(([, entry]) => entry.readyAt <= now)
              .sort(([, x], [, y]) => x.readyAt - y.readyAt || x.seq - y.seq);
            for (const [k] of due) {
              held.delete(k);
              makeReady(k);
            }
          }
          assert.equal(queue.len(), ready.length);
        }
        assert.deepEqual(await drain(queue), ready);
        queue.shutDown();
      }),
      { numRuns: 300 },
    );
  });
});

describe('WorkQueue: rate-limited adds', () => {
  function recordingLimiter(delays: number[]): RateLimiter & { log: string[] } {
    const log: string[] = [];
    const failures = new Map<string, number>();
    return {
      log,
      when(key) {
        log.push(`when ${key}`);
        failures.set(key, (failures.get(key) ?? 0) + 1);
        return delays.shift() ?? 0;
      },
      forget(key) {
        log.push(`forget ${key}`);
        failures.delete(key);
      },
      failures: (key) => failures.get(key) ?? 0,
    };
  }

  it('holds a key back for the delay the limiter gives, counting a retry', () => {
    const retries: string[] = [];
    const rateLimiter = recordingLimiter([40]);
    const { queue, clock } = queueWith({
      rateLimiter,
      metrics: { retry: () => retries.push('retry') },
    });
    queue.addRateLimited('a');
    assert.equal(queue.failures('a'), 1);
    clock.advance(39);
    assert.equal(queue.len(), 0);
    clock.advance(1);
    assert.equal(queue.len(), 1);
    assert.deepEqual(retries, ['retry']);
  });

  it('resets the backoff with forget, leaving a queued key queued', () => {
    const rateLimiter = recordingLimiter([0, 0]);
    const { queue } = queueWith({ rateLimiter });
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    assert.equal(queue.failures('a'), 2);
    queue.forget('a');
    assert.equal(queue.failures('a'), 0);
    assert.equal(queue.len(), 1);
    assert.deepEqual(rateLimiter.log, ['when a', 'when a', 'forget a']);
  });

  it('backs off exponentially with the default limiter on the queue clock', () => {
    const { queue, clock } = queueWith();
    queue.addRateLimited('a');
    clock.advance(799);
    assert.equal(queue.len(), 0, 'no sooner than 1 s less 20 % jitter');
    clock.advance(201);
    assert.equal(queue.len(), 1, 'no later than 1 s');
  });
});

describe('WorkQueue: shutdown', () => {
  it('shutDown releases waiting workers, drops pending keys and ignores adds', async () => {
    const { queue, clock } = queueWith();
    const waiting = pendingGet(queue);
    await flush();
    queue.shutDown();
    await flush();
    assert.deepEqual(waiting, { settled: true, key: undefined });

    const { queue: busy, clock: busyClock } = queueWith();
    busy.add('a');
    busy.add('b');
    busy.addAfter('c', 10);
    assert.equal(await busy.get(), 'a');
    busy.add('a');
    busy.shutDown();
    assert.equal(busy.shuttingDown, true);
    assert.equal(busy.len(), 0);
    assert.equal(busyClock.pendingTimers, 0);
    busy.add('d');
    busy.addAfter('e', 5);
    busy.addRateLimited('f');
    busy.done('a');
    assert.equal(busy.len(), 0);
    assert.equal(await busy.get(), undefined);
    assert.equal(clock.pendingTimers, 0);
  });

  it('shutDownWithDrain hands out pending keys, waits for done, then ends', async () => {
    const { queue, clock } = queueWith();
    queue.add('a');
    queue.add('b');
    queue.addAfter('held', 10);
    assert.equal(await queue.get(), 'a');
    queue.add('a'); // dirty: still to be processed in the drain
    let drained = false;
    const drain = queue.shutDownWithDrain().then(() => {
      drained = true;
    });
    queue.add('late');
    assert.equal(clock.pendingTimers, 0, 'held-back keys are dropped');
    assert.equal(await queue.get(), 'b');
    const waiting = pendingGet(queue); // nothing ready, but a will come back
    await flush();
    assert.equal(waiting.settled, false);
    queue.done('a');
    await flush();
    assert.equal(waiting.key, 'a');
    const last = pendingGet(queue);
    await flush();
    assert.deepEqual(last, { settled: true, key: undefined }, 'nothing more can come');
    assert.equal(drained, false, 'a and b are still being processed');
    queue.done('b');
    queue.done('a');
    await drain;
    assert.equal(drained, true);
    assert.equal(await queue.get(), undefined);
  });

  it('shutDownWithDrain resolves at once on an idle queue', async () => {
    const { queue } = queueWith();
    await queue.shutDownWithDrain();
    assert.equal(await queue.get(), undefined);
  });

  it('shutDown during a drain ends it once the keys out are done', async () => {
    const { queue } = queueWith();
    queue.add('a');
    queue.add('b');
    assert.equal(await queue.get(), 'a');
    const drain = queue.shutDownWithDrain();
    queue.shutDown();
    assert.equal(await queue.get(), undefined);
    queue.done('a');
    await drain;
  });
});

describe('WorkQueue: metrics', () => {
  it('reports depth, adds, time in queue and work duration', async () => {
    const events: string[] = [];
    const { queue, clock } = queueWith({
      metrics: {
        depth: (depth) => events.push(`depth ${depth}`),
        add: (priority) => events.push(`add ${priority}`),
        queueDuration: (ms, priority) => events.push(`queued ${ms} ${priority}`),
        workDuration: (ms) => events.push(`work ${ms}`),
      },
    });
    queue.add('a');
    queue.add('a'); // merged: not counted
    queue.add('b', { priority: 'low' });
    clock.advance(30);
    assert.equal(await queue.get(), 'a');
    clock.advance(5);
    queue.add('a'); // dirty while processing: pending, so counted in depth
    queue.done('a');
    assert.deepEqual(events, [
      'add normal',
      'depth 1',
      'add low',
      'depth 2',
      'depth 1',
      'queued 30 normal',
      'add normal',
      'depth 2',
      'work 5',
    ]);
  });

  it('keeps working when a metric callback throws', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const { queue } = queueWith({
        metrics: {
          add: () => {
            throw new Error('broken counter');
          },
        },
      });
      queue.add('a');
      assert.equal(await queue.get(), 'a');
      await flush();
      assert.equal(warnings[0]?.message, 'broken counter');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
