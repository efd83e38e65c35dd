// parseContentRange: the position of an activity page from `Content-Range: 1-50/1134`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseContentRange,
  type ActivityRange,
} from '../../../src/connect/client/content-range.ts';

describe('parseContentRange', () => {
  const cases: [string | undefined, ActivityRange | undefined][] = [
    ['1-50/1134', { first: 1, last: 50, total: 1134 }],
    ['51-100/1134', { first: 51, last: 100, total: 1134 }],
    ['0-0/0', { first: 0, last: 0, total: 0 }],
    [' 1-3/3 ', { first: 1, last: 3, total: 3 }],
    ['items 1-50/1134', { first: 1, last: 50, total: 1134 }],
    ['*/1134', { total: 1134 }],
    ['*/0', { total: 0 }],
    [undefined, undefined],
    ['', undefined],
    ['1-50', undefined],
    ['1-50/*', undefined],
    ['*/*', undefined],
    ['*-3/4', undefined],
    ['a-b/c', undefined],
    ['-1-50/10', undefined],
    ['1-50/99999999999999999999', undefined],
  ];
  for (const [header, expected] of cases) {
    it(`${JSON.stringify(header)} → ${JSON.stringify(expected)}`, () =>
      assert.deepEqual(parseContentRange(header), expected));
  }
});
