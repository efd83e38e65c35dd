// Unit tests for the token command's argument parsers: parseVaultSpec and parseExpiresIn.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  TokenCommandError,
  parseExpiresIn,
  parseVaultSpec,
  type VaultSpec,
} from '../../../src/connect-local/tokens.ts';

function expectCommandError(action: () => unknown, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(
      error instanceof TokenCommandError,
      `expected TokenCommandError, got ${String(error)}`,
    );
    assert.equal(error.name, 'TokenCommandError');
    assert.match(error.message, message);
    return true;
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

describe('parseVaultSpec', () => {
  const cases: ReadonlyArray<readonly [string, VaultSpec]> = [
    ['Prod', { vault: 'Prod', read: true, write: true }],
    ['Prod,r', { vault: 'Prod', read: true, write: false }],
    ['Prod,w', { vault: 'Prod', read: false, write: true }],
    ['Prod,rw', { vault: 'Prod', read: true, write: true }],
    ['Prod,wr', { vault: 'Prod', read: true, write: true }],
    ['Prod,R', { vault: 'Prod', read: true, write: false }],
    ['Prod,RW', { vault: 'Prod', read: true, write: true }],
    ['Prod , r ', { vault: 'Prod', read: true, write: false }],
    ['  Prod  ', { vault: 'Prod', read: true, write: true }],
    ['My Vault,w', { vault: 'My Vault', read: false, write: true }],
    ['A,B,r', { vault: 'A,B', read: true, write: false }],
    ['A,B,C,rw', { vault: 'A,B,C', read: true, write: true }],
    ['r', { vault: 'r', read: true, write: true }],
    ['r,w', { vault: 'r', read: false, write: true }],
    [
      'abcdefghijklmnopqrstuvwxyz,r',
      { vault: 'abcdefghijklmnopqrstuvwxyz', read: true, write: false },
    ],
  ];
  for (const [text, expected] of cases) {
    it(`parses ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseVaultSpec(text), expected);
    });
  }

  for (const text of ['Prod,x', 'Prod,', 'Prod,read', 'Prod,rwx', 'Prod,rr', 'A,B', 'Prod, ']) {
    it(`rejects the permission in ${JSON.stringify(text)}`, () => {
      expectCommandError(
        () => parseVaultSpec(text),
        /permission must be r, w or rw after the comma/,
      );
      expectCommandError(
        () => parseVaultSpec(text),
        new RegExp(`^--vault ${escapeRegExp(JSON.stringify(text))}:`),
      );
    });
  }

  for (const text of [',r', ' ,rw', ',w']) {
    it(`rejects ${JSON.stringify(text)} for its missing vault name`, () => {
      expectCommandError(() => parseVaultSpec(text), /missing vault name/);
    });
  }

  for (const text of ['', '   ', '\t']) {
    it(`rejects the empty spec ${JSON.stringify(text)}`, () => {
      expectCommandError(() => parseVaultSpec(text), /^--vault needs a vault name or id$/);
    });
  }

  it('round-trips any comma-free name with any permission suffix', () => {
    const name = fc
      .string({ minLength: 1 })
      .filter((text) => !text.includes(',') && text.trim() === text && text.length > 0);
    fc.assert(
      fc.property(name, fc.constantFrom('r', 'w', 'rw', 'wr'), (vault, suffix) => {
        assert.deepEqual(parseVaultSpec(`${vault},${suffix}`), {
          vault,
          read: suffix.includes('r'),
          write: suffix.includes('w'),
        });
        assert.deepEqual(parseVaultSpec(vault), { vault, read: true, write: true });
      }),
    );
  });
});

describe('parseExpiresIn', () => {
  const cases: ReadonlyArray<readonly [string, number]> = [
    ['45s', 45],
    ['90m', 90 * 60],
    ['12h', 12 * 3600],
    ['30d', 30 * 86_400],
    ['1w', 7 * 86_400],
    ['1w2d', 9 * 86_400],
    ['1d12h30m15s', 86_400 + 12 * 3600 + 30 * 60 + 15],
    ['0d1h', 3600],
    ['007m', 7 * 60],
    ['1s', 1],
  ];
  for (const [text, seconds] of cases) {
    it(`parses ${text} as ${seconds} seconds`, () => {
      assert.equal(parseExpiresIn(text), seconds);
    });
  }

  for (const text of [
    '1y',
    'd',
    '-1h',
    '1.5h',
    '',
    '30',
    'h30',
    '30 d',
    ' 30d',
    '30d ',
    '1w 2d',
    '30D',
    '+5m',
    'PT1H',
  ]) {
    it(`rejects ${JSON.stringify(text)} as not a duration`, () => {
      expectCommandError(
        () => parseExpiresIn(text),
        /expected a duration such as 90m, 12h, 30d or 1w2d/,
      );
      expectCommandError(
        () => parseExpiresIn(text),
        new RegExp(`^--expires-in ${escapeRegExp(JSON.stringify(text))}:`),
      );
    });
  }

  for (const text of ['0d', '0s', '0w0d0h0m0s', '00h']) {
    it(`rejects the zero duration ${text}`, () => {
      expectCommandError(() => parseExpiresIn(text), /^--expires-in must be longer than zero$/);
    });
  }

  // createToken turns the duration into an ISO expiry date; a duration no Date can hold must be
  // refused here with a message, not surface later as a RangeError crash of the CLI.
  for (const text of ['100000000000000d', '99999999999999999999999s']) {
    it(`rejects the unrepresentable duration ${text}`, () => {
      expectCommandError(() => parseExpiresIn(text), /^--expires-in /);
    });
  }

  it('sums any sequence of positive amounts with units', () => {
    const unitSeconds = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;
    // Five parts of at most 1000 weeks stay under the 100-year cap.
    const part = fc.tuple(
      fc.integer({ min: 1, max: 1000 }),
      fc.constantFrom('s', 'm', 'h', 'd', 'w'),
    );
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), (parts) => {
        const text = parts.map(([amount, unit]) => `${amount}${unit}`).join('');
        const expected = parts.reduce((sum, [amount, unit]) => sum + amount * unitSeconds[unit], 0);
        assert.equal(parseExpiresIn(text), expected);
      }),
    );
  });
});
