// backoffDelay: full jitter below an exponentially growing, capped ceiling.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { backoffDelay } from '../../../src/connect/client/backoff.ts';

const almostOne = (): number => 1 - Number.EPSILON;

describe('backoffDelay', () => {
  it('doubles its ceiling per attempt from the base', () => {
    const ceilings = [1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, {}, almostOne));
    assert.deepEqual(ceilings, [99, 199, 399, 799, 1599]);
  });

  it('is capped at maxMs', () => {
    assert.equal(backoffDelay(7, {}, almostOne), 4999);
    assert.equal(backoffDelay(60, {}, almostOne), 4999);
    assert.equal(backoffDelay(3, { baseMs: 10, maxMs: 25 }, almostOne), 24);
  });

  it('is zero when the jitter draws zero', () => {
    assert.equal(
      backoffDelay(4, {}, () => 0),
      0,
    );
  });

  it('uses Math.random by default', () => {
    const delay = backoffDelay(2);
    assert.ok(delay >= 0 && delay < 200);
  });

  it('stays within [0, min(maxMs, baseMs·2^(attempt−1))) for any draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseMs, maxMs, draw) => {
          const delay = backoffDelay(attempt, { baseMs, maxMs }, () => draw);
          const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
          return Number.isInteger(delay) && delay >= 0 && delay < ceiling;
        },
      ),
    );
  });

  it('never shrinks its ceiling as attempts grow', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), (attempt) => {
        return backoffDelay(attempt + 1, {}, almostOne) >= backoffDelay(attempt, {}, almostOne);
      }),
    );
  });
});
