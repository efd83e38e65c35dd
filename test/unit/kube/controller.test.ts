// Controller: reconcile outcomes, retries with backoff, the concurrency bound, stop() and abort; keyOf/parseKey.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock, flush } from '../../support/manual-clock.ts';
import {
  Controller,
  keyOf,
  parseKey,
  type ControllerOptions,
  type Outcome,
  type ReconcileResult,
  type Reconciler,
} from '../../../src/kube/runtime/controller.ts';
import { TerminalError, terminalCause } from '../../../src/kube/errors.ts';
import {
  ExponentialBackoffLimiter,
  type RateLimiter,
} from '../../../src/kube/runtime/rate-limiter.ts';

interface Result {
  readonly key: string;
  readonly outcome: Outcome;
  readonly durationMs: number;
  readonly error?: unknown;
}

/** A reconciler driven by a script: each run takes the next behaviour for its key. */
type Behaviour = (signal: AbortSignal) => Promise<ReconcileResult>;

function harness(
  script: Record<string, Behaviour[]>,
  options: Partial<ControllerOptions> & { rateLimiter?: RateLimiter } = {},
): {
  controller: Controller;
  clock: ManualClock;
  runs: { key: string; at: number }[];
  results: Result[];
} {
  const clock = new ManualClock();
  const runs: { key: string; at: number }[] = [];
  const results: Result[] = [];
  const reconciler: Reconciler = {
    reconcile(key, signal) {
      runs.push({ key, at: clock.now() });
      const behaviour = script[key]?.shift();
      return behaviour === undefined ? Promise.resolve({}) : behaviour(signal);
    },
  };
  const { rateLimiter, ...rest } = options;
  const controller = new Controller({
    name: 'test',
    reconciler,
    onResult: (key, outcome, durationMs, ...error) =>
      results.push({ key, outcome, durationMs, ...(error.length > 0 ? { error: error[0] } : {}) }),
    ...rest,
    queue: { clock, ...(rateLimiter ? { rateLimiter } : {}), ...rest.queue },
  });
  return { controller, clock, runs, results };
}

const ok =
  (result: ReconcileResult = {}): Behaviour =>
  () =>
    Promise.resolve(result);
// Reconcilers may throw anything, strings included; the controller has to cope.
const fail =
  (error: unknown): Behaviour =>
  // eslint-disable-next-line @typescript-eslint/require-await -- a rejection, not a sync throw
  async () => {
    throw error;
  };
const noJitter = (): ExponentialBackoffLimiter =>
  new ExponentialBackoffLimiter({ random: () => 0 });

/** Stops `controller`; `finished()` says whether the stop has settled yet. */
function watchStop<T>(controller: { stop(): Promise<T> }) {
  let finished = false;
  const result = controller.stop().then((value) => {
    finished = true;
    return value;
  });
  return { result, finished: () => finished };
}

describe('Controller: outcomes', () => {
  const cases: ReadonlyArray<readonly [string, Behaviour, Outcome]> = [
    ['resolves {}', ok(), 'success'],
    ['resolves requeueAfterMs 0', ok({ requeueAfterMs: 0 }), 'success'],
    ['resolves nothing (plain JavaScript)', () => Promise.resolve(undefined as never), 'success'],
    ['resolves requeueAfterMs 500', ok({ requeueAfterMs: 500 }), 'requeue'],
    ['rejects with an Error', fail(new Error('Connect unavailable')), 'error'],
    ['rejects with a string', fail('not an Error'), 'error'],
    [
      'throws synchronously',
      () => {
        throw new Error('sync');
      },
      'error',
    ],
    ['resolves a negative requeueAfterMs', ok({ requeueAfterMs: -1 }), 'error'],
    ['resolves a NaN requeueAfterMs', ok({ requeueAfterMs: Number.NaN }), 'error'],
    ['resolves an infinite requeueAfterMs', ok({ requeueAfterMs: Infinity }), 'error'],
    ['rejects with a TerminalError', fail(new TerminalError('InvalidItemPath', 'bad')), 'terminal'],
    [
      'rejects with an error caused by a TerminalError',
      fail(new Error('context', { cause: new TerminalError('InvalidItemPath', 'bad') })),
      'terminal',
    ],
  ];
  for (const [name, behaviour, outcome] of cases) {
    it(`reports ${outcome} when the reconciler ${name}`, async () => {
      const { controller, results } = harness({ 'ns/a': [behaviour] });
      controller.enqueue('ns/a');
      controller.start();
      await flush();
      assert.deepEqual(
        results.map((result) => [result.key, result.outcome]),
        [['ns/a', outcome]],
      );
      assert.equal('error' in (results[0] ?? {}), outcome === 'error' || outcome === 'terminal');
      await controller.stop();
    });
  }

  it('hands the hook the value thrown, with a terminal reason reachable', async () => {
    const terminal = new TerminalError('InvalidItemPath', 'vaults/x has no item');
    const wrapped = new Error('reconciling ns/a', { cause: terminal });
    const { controller, results } = harness({ 'ns/a': [fail(wrapped)] });
    controller.enqueue('ns/a');
    controller.start();
    await flush();
    assert.equal(results[0]?.error, wrapped);
    assert.equal(terminalCause(results[0]?.error)?.reason, 'InvalidItemPath');
    await controller.stop();
  });

  it('reports each run with its duration on the clock', async () => {
    const { controller, clock, results } = harness({
      'ns/a': [
        async () => {
          await flush();
          clock.advance(250);
          return {};
        },
      ],
    });
    controller.enqueue('ns/a');
    controller.start();
    await flush();
    await flush();
    assert.equal(results[0]?.durationMs, 250);
    await controller.stop();
  });
});

describe('Controller: what happens to the key next', () => {
  it('runs a successful key again only when enqueued again', async () => {
    const { controller, clock, runs } = harness({});
    controller.enqueue('ns/a');
    controller.start();
    await flush();
    clock.advance(3_600_000);
    await flush();
    assert.equal(runs.length, 1);
    controller.enqueue('ns/a');
    await flush();
    assert.equal(runs.length, 2);
    await controller.stop();
  });

  it('runs a requeued key again after requeueAfterMs', async () => {
    const { controller, clock, runs } = harness({
      'ns/a': [ok({ requeueAfterMs: 30_000 }), ok({ requeueAfterMs: 30_000 })],
    });
    controller.enqueue('ns/a');
    controller.start();
    await flush();
    clock.advance(29_999);
    await flush();
    assert.equal(runs.length, 1);
    clock.advance(1);
    await flush();
    clock.advance(30_000);
    await flush();
    assert.deepEqual(
      runs.map((run) => run.at),
      [0, 30_000, 60_000],
    );
    await controller.stop();
  });

  it('retries a failing key with growing backoff, reset by a success', async () => {
    const boom = fail(new Error('boom'));
    const { controller, clock, runs } = harness(
      { 'ns/a': [boom, boom, boom, ok({ requeueAfterMs: 100 }), boom, ok()] },
      { rateLimiter: noJitter() },
    );
    controller.enqueue('ns/a');
    controller.start();
    for (let step = 0; step < 200; step++) {
      await flush();
      clock.advance(100);
    }
    // Failures wait 1 s, 2 s, 4 s; the success resets, so the next failure waits 1 s again.
    assert.deepEqual(
      runs.map((run) => run.at),
      [0, 1000, 3000, 7000, 7100, 8100],
    );
    await controller.stop();
  });

  it('does not retry a terminal failure, and forgets its backoff', async () => {
    const limiter = noJitter();
    const { controller, clock, runs } = harness(
      { 'ns/a': [fail(new Error('boom')), fail(new TerminalError('Conflict', 'not ours'))] },
      { rateLimiter: limiter },
    );
    controller.enqueue('ns/a');
    controller.start();
    await flush();
    clock.advance(1000);
    await flush();
    clock.advance(3_600_000);
    await flush();
    assert.equal(runs.length, 2);
    assert.equal(limiter.failures('ns/a'), 0);
    await controller.stop();
  });

  it('reconciles a key enqueued during its run once more, afterwards', async () => {
    const release = Promise.withResolvers<ReconcileResult>();
    const { controller, runs } = harness({ 'ns/a': [() => release.promise] });
    controller.enqueue('ns/a');
    controller.start();
    await flush();
    controller.enqueue('ns/a');
    controller.enqueue('ns/a');
    await flush();
    assert.equal(runs.length, 1, 'not while it runs');
    release.resolve({});
    await flush();
    assert.equal(runs.length, 2);
    await controller.stop();
  });

  it('serves changed objects before resyncs', async () => {
    const { controller, runs } = harness({}, { concurrency: 1 });
    controller.enqueue('ns/resync-1', 'low');
    controller.enqueue('ns/resync-2', 'low');
    controller.enqueue('ns/changed');
    controller.start();
    await flush();
    assert.deepEqual(
      runs.map((run) => run.key),
      ['ns/changed', 'ns/resync-1', 'ns/resync-2'],
    );
    await controller.stop();
  });

  it('keeps running when the onResult hook throws', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const { controller, runs } = harness(
        {},
        {
          concurrency: 1,
          onResult: () => {
            throw new Error('hook broke');
          },
        },
      );
      controller.enqueue('ns/a');
      controller.enqueue('ns/b');
      controller.start();
      await flush();
      assert.equal(runs.length, 2);
      assert.ok(warnings.some((warning) => warning.message === 'hook broke'));
      await controller.stop();
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('Controller: concurrency', () => {
  it('rejects a concurrency that is not a positive integer', () => {
    for (const concurrency of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => harness({}, { concurrency }), RangeError);
    }
  });

  // Runs settle only when the test says so, so that every interleaving of enqueues and
  // completions can be tried; the queue has to keep both bounds at every step.
  type Op = { readonly enqueue: string } | { readonly finish: number };

  it('runs at most `concurrency` at once, never one key twice, and misses no enqueue', async () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ enqueue: fc.constantFrom('ns/a', 'ns/b', 'ns/c', 'ns/d', 'ns/e') }),
      fc.record({ finish: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(op, { maxLength: 60, size: 'max' }),
        async (concurrency, ops) => {
          const running: { key: string; finish: () => void }[] = [];
          // Recorded, not thrown: the controller would take a throw for the reconcile's failure.
          const violations: string[] = [];
          let step = 0;
          const lastEnqueued = new Map<string, number>();
          const lastStarted = new Map<string, number>();
          const reconciler: Reconciler = {
            reconcile(key) {
              if (running.some((run) => run.key === key)) violations.push(`${key} twice at once`);
              if (running.length >= concurrency) violations.push(`${running.length + 1} at once`);
              lastStarted.set(key, step);
              return new Promise((resolve) => {
                running.push({ key, finish: () => resolve({}) });
              });
            },
          };
          const controller = new Controller({
            name: 'test',
            reconciler,
            concurrency,
            queue: { clock: new ManualClock() },
          });
          controller.start();
          const finishOne = (index: number): void => {
            const [run] = running.splice(index % running.length, 1);
            run?.finish();
          };
          for (const next of ops) {
            step += 1;
            if ('enqueue' in next) {
              controller.enqueue(next.enqueue);
              lastEnqueued.set(next.enqueue, step);
            } else if (running.length > 0) {
              finishOne(next.finish);
            }
            await flush();
          }
          while (running.length > 0) {
            step += 1;
            finishOne(0);
            await flush();
          }
          assert.deepEqual(violations, []);
          for (const [key, enqueuedAt] of lastEnqueued) {
            assert.ok(
              (lastStarted.get(key) ?? -1) >= enqueuedAt,
              `${key} not run after its enqueue`,
            );
          }
          await controller.stop();
        },
      ),
      { numRuns: 200 },
    );
  });

  it('runs `concurrency` keys at once when there are enough', async () => {
    const release = Promise.withResolvers<ReconcileResult>();
    const script: Record<string, Behaviour[]> = {};
    for (let index = 0; index < 10; index++) script[`ns/k${index}`] = [() => release.promise];
    const { controller, runs, results } = harness(script, { concurrency: 3 });
    for (const key of Object.keys(script)) controller.enqueue(key);
    controller.start();
    await flush();
    assert.equal(runs.length, 3);
    release.resolve({});
    await flush();
    assert.equal(results.length, 10);
    await controller.stop();
  });
});

describe('Controller: start and stop', () => {
  it('refuses to start twice, or after stop', async () => {
    const { controller } = harness({});
    controller.start();
    assert.throws(() => controller.start(), /already started/);
    await controller.stop();
    assert.throws(() => controller.start(), /was stopped/);
  });

  it('stops at once when nothing runs, even if never started', async () => {
    const { controller, runs } = harness({});
    assert.deepEqual(await controller.stop(), { aborted: [] });
    controller.enqueue('ns/a');
    await flush();
    assert.equal(runs.length, 0);
  });

  it('waits for running reconciles, starts no new one, and does not abort', async () => {
    const release = Promise.withResolvers<ReconcileResult>();
    let seen: AbortSignal | undefined;
    const { controller, clock, runs, results } = harness(
      {
        'ns/a': [
          (signal) => {
            seen = signal;
            return release.promise;
          },
        ],
      },
      { concurrency: 1, stopTimeoutMs: 10_000 },
    );
    controller.enqueue('ns/a');
    controller.enqueue('ns/b');
    controller.start();
    await flush();
    const stopping = watchStop(controller);
    assert.equal(controller.stop(), controller.stop(), 'the same promise');
    clock.advance(9_999);
    await flush();
    assert.equal(stopping.finished(), false);
    release.resolve({ requeueAfterMs: 10 });
    assert.deepEqual(await stopping.result, { aborted: [] });
    assert.equal(seen?.aborted, false);
    clock.advance(60_000);
    await flush();
    assert.deepEqual(
      runs.map((run) => run.key),
      ['ns/a'],
    );
    assert.deepEqual(
      results.map((result) => result.outcome),
      ['requeue'],
    );
  });

  it('aborts reconciles that outlive the timeout, and reports how they settle', async () => {
    const { controller, clock, results } = harness(
      {
        'ns/a': [
          (signal) =>
            new Promise((_, reject) => {
              signal.addEventListener('abort', () => reject(signal.reason as Error));
            }),
        ],
      },
      { stopTimeoutMs: 5000 },
    );
    controller.enqueue('ns/a');
    controller.start();
    await flush();
    const stopping = watchStop(controller);
    clock.advance(4999);
    await flush();
    assert.equal(stopping.finished(), false);
    clock.advance(1);
    assert.deepEqual(await stopping.result, { aborted: ['ns/a'] });
    await flush();
    assert.equal(results[0]?.outcome, 'error');
    assert.equal((results[0]?.error as Error).name, 'AbortError');
  });

  it('does not wait for a reconcile that ignores its signal', async () => {
    const { controller, clock, results } = harness({ 'ns/a': [() => new Promise(() => {})] });
    controller.enqueue('ns/a');
    controller.start();
    await flush();
    const stopping = controller.stop({ timeoutMs: 100 });
    clock.advance(100);
    assert.deepEqual(await stopping, { aborted: ['ns/a'] });
    assert.equal(results.length, 0);
  });
});

describe('keyOf and parseKey', () => {
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ['default', 'db-credentials', 'default/db-credentials'],
    ['kube-system', 'x', 'kube-system/x'],
    ['', 'cluster-scoped', 'cluster-scoped'],
  ];
  for (const [namespace, name, key] of cases) {
    it(`maps ${JSON.stringify([namespace, name])} to ${key} and back`, () => {
      assert.equal(keyOf(namespace, name), key);
      assert.deepEqual(parseKey(key), { namespace, name });
    });
  }

  for (const bad of ['', '/', 'ns/', '/name', 'a/b/c']) {
    it(`rejects the key ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseKey(bad), RangeError);
    });
  }

  for (const [namespace, name] of [
    ['ns', ''],
    ['ns', 'a/b'],
    ['a/b', 'name'],
  ] as const) {
    it(`refuses to make a key of ${JSON.stringify([namespace, name])}`, () => {
      assert.throws(() => keyOf(namespace, name), RangeError);
    });
  }

  it('round-trips any namespace and name without a slash', () => {
    const segment = fc.stringMatching(/^[a-z0-9.-]{1,20}$/);
    fc.assert(
      fc.property(fc.oneof(fc.constant(''), segment), segment, (namespace, name) => {
        assert.deepEqual(parseKey(keyOf(namespace, name)), { namespace, name });
      }),
    );
  });
});
