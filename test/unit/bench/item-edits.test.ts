// The change → Secret arithmetic of the operator-scale benchmark: which items are edited, and the
// verdict (an edit that never arrived must fail it, whatever the others did).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeChange, planEdits, summarize } from '../../../bench/item-edits.ts';

describe('bench item edits', () => {
  it('spreads the edits over every vault and over each vault’s items, never one twice', () => {
    const edits = planEdits(10, () => 1000, 100);
    assert.equal(edits.length, 100);
    assert.equal(new Set(edits.map((edit) => edit.secret)).size, 100);
    for (let v = 0; v < 10; v += 1) {
      const mine = edits.filter((edit) => edit.v === v).map((edit) => edit.i);
      assert.deepEqual(mine, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    }
    // 20 items over 10 vaults (2 each): every item once.
    const small = planEdits(10, () => 2, 20);
    assert.equal(new Set(small.map((edit) => edit.secret)).size, 20);
    // A vault with fewer items (the last, when N is not a multiple of 10) is never overrun.
    const uneven = planEdits(10, (v) => (v === 9 ? 1 : 101), 100);
    assert.ok(uneven.every((edit) => edit.i < (edit.v === 9 ? 1 : 101)));
  });

  it('counts an edit that never arrived as infinitely late and fails the verdict', () => {
    const latencies = Array.from({ length: 99 }, (_, index) => index / 10);
    assert.deepEqual(summarize(latencies, 1), { p50: 4.9, p99: 9.8, max: Infinity });
    const one = describeChange(
      { edits: 100, latencies, missing: ['item-3-7'], timeoutSeconds: 70 },
      10,
    );
    assert.equal(one.passed, false);
    assert.equal(one.cell, '4.9 / 9.8 / never FAIL, 1 of 100 never (> 70 s)');
    const all = describeChange(
      { edits: 2, latencies: [], missing: ['a', 'b'], timeoutSeconds: 5 },
      1,
    );
    assert.equal(all.passed, false);
    assert.equal(all.cell, 'never / never / never FAIL, 2 of 2 never (> 5 s)');
  });

  it('passes at p99 <= POLLING_INTERVAL + 1 s and fails above', () => {
    const at = (p99: number) =>
      describeChange(
        {
          edits: 100,
          latencies: [...Array.from({ length: 98 }, () => 1), p99, 12],
          missing: [],
          timeoutSeconds: 70,
        },
        10,
      );
    assert.equal(at(11).passed, true);
    assert.equal(at(11).cell, '1.0 / 11.0 / 12.0 PASS');
    assert.equal(at(11.2).passed, false);
  });
});
