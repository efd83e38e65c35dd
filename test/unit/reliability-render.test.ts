// docs/reliability.md is rendered from recorded rows: grouped by suite in a fixed order, cells escaped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderReliability } from '../../tools/reliability/render.ts';

const facts = {
  date: '2026-12-06',
  commit: 'abc1234',
  machine: '2 cores',
  summary: 'summary: 3 passed, 0 failed, 0 skipped',
};

describe('renderReliability', () => {
  it('groups rows by suite in the documented order, with times in seconds', () => {
    const text = renderReliability(
      [
        { suite: 'leak', fault: 'canaries', expected: '0 hits', observed: '0 hits' },
        {
          suite: 'operator-faults',
          fault: 'hang',
          expected: 'Unavailable',
          observed: 'Unavailable',
          detectMs: 11_186,
          recoveryMs: 1_052,
        },
        { suite: 'new-suite', fault: 'x', expected: 'y', observed: 'z' },
      ],
      facts,
    );
    const order = [
      '## Connect down or hung',
      '## Secrets in observable output',
      '## new-suite',
    ].map((title) => text.indexOf(title));
    assert.ok(
      order.every((at, index) => at > 0 && (index === 0 || at > (order[index - 1] ?? 0))),
      text,
    );
    assert.match(text, /\| hang \| Unavailable \| Unavailable \| 11\.2 s \| 1\.1 s \|/);
    assert.match(text, /\| canaries \| 0 hits \| 0 hits \| — \| — \|/);
    assert.match(
      text,
      /commit abc1234, 2 cores\. Test run: `summary: 3 passed, 0 failed, 0 skipped`/,
    );
    assert.doesNotMatch(text, /## Connect answers corrupted/, 'no empty section');
  });

  it('keeps pipes and line breaks inside their cell', () => {
    const text = renderReliability(
      [{ suite: 'leak', fault: 'a | b\nc', expected: 'e', observed: 'o' }],
      facts,
    );
    assert.match(text, /\| a \\\| b c \| e \| o \|/);
  });
});
