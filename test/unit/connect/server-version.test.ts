// versionShortfall: the Go SDK's rule for refusing file calls to servers older than Connect 1.3.0.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { versionShortfall } from '../../../src/connect/client/server-version.ts';

describe('versionShortfall(header, "1.3.0")', () => {
  const cases: [string | undefined, boolean][] = [
    [undefined, false],
    ['', false],
    ['1.2.0', false],
    ['1.2.99', false],
    ['0.9.9', false],
    ['1.3.0', true],
    ['1.3.1', true],
    ['1.10.0', true],
    ['2.0.0', true],
    [' 1.7.3 ', true],
    // Unparseable versions get the benefit of the doubt, as in the Go SDK.
    ['1.7', true],
    ['1.7.3-beta', true],
    ['latest', true],
  ];
  for (const [header, allowed] of cases) {
    it(`${JSON.stringify(header)} → ${allowed ? 'allowed' : 'refused'}`, () =>
      assert.equal(versionShortfall(header, '1.3.0') === undefined, allowed));
  }

  it('names the minimum and what the server reported', () => {
    assert.match(
      versionShortfall('1.2.0', '1.3.0') ?? '',
      /1\.3\.0 or later; the server is 1\.2\.0/,
    );
    assert.match(versionShortfall(undefined, '1.3.0') ?? '', /no version header/);
  });

  it('refuses an invalid minimum as a programming error', () => {
    assert.throws(() => versionShortfall('1.0.0', 'one'), RangeError);
  });
});
