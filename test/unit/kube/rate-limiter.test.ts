// Rate limiters for work-queue retries: per-key exponential backoff with jitter, token bucket, max of both.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  createDefaultRateLimiter,
  ExponentialBackoffLimiter,
  MaxOfLimiter,
  TokenBucketLimiter,
  type RateLimiter,
} from '../../../src/kube/runtime/rate-limiter.ts';

/** A draw that takes nothing off: every delay is its ceiling. */
const noJitter = (): number => 0;
const almostOne = (): number => 1 - Number.EPSILON;

function whenTimes(limiter: RateLimiter, key: string, times: number): number[] {
  return Array.from({ length: times }, () => limiter.when(key));
}

describe('ExponentialBackoffLimiter', () => {
  it('starts at 1 s and doubles per failure up to 5 min by default', () => {
    const limiter = new ExponentialBackoffLimiter({ random: noJitter });
    assert.deepEqual(
      whenTimes(limiter, 'ns/a', 11),
      [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000],
    );
    assert.equal(limiter.failures('ns/a'), 11);
  });

  it('follows the configured base and cap', () => {
    const limiter = new ExponentialBackoffLimiter({ baseMs: 5, maxMs: 30, random: noJitter });
    assert.deepEqual(whenTimes(limiter, 'k', 5), [5, 10, 20, 30, 30]);
  });

  it('stays at the cap however many failures pile up', () => {
    const limiter = new ExponentialBackoffLimiter({ random: noJitter });
    const delays = whenTimes(limiter, 'k', 5000);
    assert.equal(delays.at(-1), 300_000);
    assert.ok(delays.every((delay) => Number.isFinite(delay)));
  });

  it('takes at most the jitter fraction off the ceiling', () => {
    assert.deepEqual(
      whenTimes(new ExponentialBackoffLimiter({ random: almostOne }), 'k', 3),
      [800, 1600, 3200],
    );
    const halfway = new ExponentialBackoffLimiter({ jitter: 0.5, random: () => 0.5 });
    assert.deepEqual(whenTimes(halfway, 'k', 2), [750, 1500]);
  });

  it('counts each key on its own, and forget resets only that key', () => {
    const limiter = new ExponentialBackoffLimiter({ random: noJitter });
    whenTimes(limiter, 'a', 3);
    limiter.when('b');
    assert.equal(limiter.failures('a'), 3);
    assert.equal(limiter.failures('b'), 1);
    limiter.forget('a');
    assert.equal(limiter.failures('a'), 0);
    assert.equal(limiter.when('a'), 1000);
    assert.equal(limiter.when('b'), 2000);
    assert.equal(limiter.failures('never'), 0);
  });

  it('rejects options out of range', () => {
    const bad = [{ baseMs: -1 }, { baseMs: 10, maxMs: 5 }, { jitter: 1.5 }, { jitter: -0.1 }];
    for (const options of bad) {
      assert.throws(() => new ExponentialBackoffLimiter(options), RangeError);
    }
    assert.throws(() => new ExponentialBackoffLimiter({ baseMs: Number.NaN }), RangeError);
  });

  it('keeps every delay in [ceiling·(1 − jitter), ceiling] for any draws', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 40,
        }),
        (baseMs, extraMs, jitter, draws) => {
          const maxMs = baseMs + extraMs;
          let next = 0;
          const random = (): number => draws[next++ % draws.length] ?? 0;
          const limiter = new ExponentialBackoffLimiter({ baseMs, maxMs, jitter, random });
          return draws.every((_, index) => {
            const ceiling = Math.min(maxMs, baseMs * 2 ** index);
            const delay = limiter.when('k');
            // Closed below: in floating point, a jitter of 5e-324 takes nothing off.
            return delay >= ceiling * (1 - jitter) && delay <= ceiling;
          });
        },
      ),
    );
  });

  it('never shortens the next delay while the ceiling doubles and jitter ≤ 1/2', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 2,
          maxLength: 30,
        }),
        (jitter, draws) => {
          let next = 0;
          const random = (): number => draws[next++] ?? 0;
          // At the cap the ceiling stops doubling, and a jitter may take off more than before.
          const limiter = new ExponentialBackoffLimiter({ jitter, random, maxMs: Infinity });
          const delays = draws.map(() => limiter.when('k'));
          return delays.every((delay, index) => index === 0 || delay >= (delays[index - 1] ?? 0));
        },
      ),
    );
  });
});

describe('TokenBucketLimiter', () => {
  it('lets a burst through at once, then spaces the rest 1/qps apart', () => {
    const limiter = new TokenBucketLimiter({ qps: 10, burst: 100, now: () => 0 });
    const delays = Array.from({ length: 103 }, (_, index) => limiter.when(`k${index}`));
    assert.ok(delays.slice(0, 100).every((delay) => delay === 0));
    assert.deepEqual(
      delays.slice(100).map((delay) => Math.round(delay)),
      [100, 200, 300],
    );
  });

  it('refills at qps, never beyond the burst', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ qps: 2, burst: 3, now: () => now });
    assert.deepEqual(whenTimes(limiter, 'k', 4), [0, 0, 0, 500]);
    now = 1500; // 3 tokens back, the one reserved at 500 ms already spent: 2 left
    assert.deepEqual(whenTimes(limiter, 'k', 3), [0, 0, 500]);
    now = 3_600_000;
    assert.deepEqual(whenTimes(limiter, 'k', 4), [0, 0, 0, 500]);
  });

  it('does not take tokens away when the clock steps back', () => {
    let now = 10_000;
    const limiter = new TokenBucketLimiter({ qps: 1, burst: 2, now: () => now });
    limiter.when('k');
    now = 0;
    assert.equal(limiter.when('k'), 0);
    now = 10_500;
    assert.equal(limiter.when('k'), 500);
  });

  it('keeps no per-key state', () => {
    const limiter = new TokenBucketLimiter({ now: () => 0 });
    limiter.when('k');
    assert.equal(limiter.failures('k'), 0);
    limiter.forget('k');
  });

  it('rejects options out of range', () => {
    assert.throws(() => new TokenBucketLimiter({ qps: 0 }), RangeError);
    assert.throws(() => new TokenBucketLimiter({ burst: 0 }), RangeError);
  });

  it('never lets more than burst + qps·t calls through without delay in t ms', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 200 }),
        (qps, burst, steps) => {
          let now = 0;
          const limiter = new TokenBucketLimiter({ qps, burst, now: () => now });
          let immediate = 0;
          for (const step of steps) {
            now += step;
            if (limiter.when('k') === 0) immediate += 1;
          }
          return immediate <= burst + (qps * now) / 1000 + 1e-9;
        },
      ),
    );
  });
});

describe('MaxOfLimiter', () => {
  const fixed = (delay: number, failures = 0): RateLimiter & { calls: string[] } => {
    const calls: string[] = [];
    return {
      calls,
      when: (key) => {
        calls.push(`when ${key}`);
        return delay;
      },
      forget: (key) => calls.push(`forget ${key}`),
      failures: () => failures,
    };
  };

  it('returns the longest delay, asking every limiter', () => {
    const short = fixed(10, 1);
    const long = fixed(250, 4);
    const limiter = new MaxOfLimiter(short, long);
    assert.equal(limiter.when('k'), 250);
    assert.equal(limiter.failures('k'), 4);
    limiter.forget('k');
    assert.deepEqual(short.calls, ['when k', 'forget k']);
    assert.deepEqual(long.calls, ['when k', 'forget k']);
  });

  it('needs at least one limiter', () => {
    assert.throws(() => new MaxOfLimiter(), RangeError);
  });
});

describe('createDefaultRateLimiter', () => {
  it('is per-key backoff until the overall bucket runs dry', () => {
    const limiter = createDefaultRateLimiter({
      backoff: { random: noJitter },
      bucket: { now: () => 0 },
    });
    const delays = Array.from({ length: 130 }, (_, index) => limiter.when(`ns/k${index}`));
    // 100 tokens, then 100 ms apart: the bucket overtakes the 1 s backoff at the 111th failure.
    assert.ok(delays.slice(0, 110).every((delay) => delay === 1000));
    assert.equal(Math.round(delays[110] ?? 0), 1100);
    assert.equal(Math.round(delays[129] ?? 0), 3000);
    assert.equal(limiter.failures('ns/k0'), 1);
    limiter.forget('ns/k0');
    assert.equal(limiter.failures('ns/k0'), 0);
  });

  it('grows a failing key from 1 s to the 5 min cap', () => {
    let now = 0;
    const limiter = createDefaultRateLimiter({
      backoff: { random: noJitter },
      bucket: { now: () => now },
    });
    const delays = Array.from({ length: 12 }, () => {
      const delay = limiter.when('ns/k');
      now += delay;
      return delay;
    });
    assert.equal(delays[0], 1000);
    assert.equal(delays.at(-1), 300_000);
  });
});
