// Unit tests for connect-local's identifiers (newId) and password generator (generateValue).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CHARACTER_SETS, looksLikeId, type CharacterSet } from '../../../src/connect/models.ts';
import { generateValue } from '../../../src/connect-local/generator.ts';
import { newId } from '../../../src/connect-local/ids.ts';
import { SET_PATTERNS, expectInvalid } from '../../support/connect-local-input.ts';

/** Every character any draw can produce, found by drawing until nothing new turns up. */
function observedPool(recipe: Parameters<typeof generateValue>[0]): Set<string> {
  const seen = new Set<string>();
  for (let draw = 0; draw < 400; draw += 1)
    for (const character of generateValue(recipe)) seen.add(character);
  return seen;
}

describe('newId', () => {
  it('draws 10k distinct ids of 26 characters of [a-z0-9]', () => {
    const ids = new Set<string>();
    const characters = new Set<string>();
    for (let draw = 0; draw < 10_000; draw += 1) {
      const id = newId();
      assert.match(id, /^[a-z0-9]{26}$/);
      assert.equal(looksLikeId(id), true);
      ids.add(id);
      for (const character of id) characters.add(character);
    }
    assert.equal(ids.size, 10_000);
    // 260k characters drawn: every one of the 36 turns up unless the alphabet is wrong.
    assert.equal(characters.size, 36);
  });
});

describe('generateValue', () => {
  it('defaults to 32 characters drawn from letters, digits and symbols', () => {
    const value = generateValue();
    assert.equal(value.length, 32);
    assert.equal(generateValue({}).length, 32);
    const pool = observedPool({});
    for (const set of CHARACTER_SETS) {
      assert.ok(
        [...pool].some((character) => SET_PATTERNS[set].test(character)),
        `no ${set}`,
      );
    }
    for (const character of pool) {
      assert.ok(
        Object.values(SET_PATTERNS).some((pattern) => pattern.test(character)),
        character,
      );
    }
  });

  it('treats an empty characterSets list as all sets', () => {
    const pool = observedPool({ characterSets: [] });
    for (const set of CHARACTER_SETS) {
      assert.ok(
        [...pool].some((character) => SET_PATTERNS[set].test(character)),
        `no ${set}`,
      );
    }
  });

  for (const length of [1, 2, 63, 64]) {
    it(`accepts length ${length}`, () => {
      assert.equal(generateValue({ length }).length, length);
    });
  }

  for (const length of [0, 65, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 1000]) {
    it(`rejects length ${length}`, () => {
      expectInvalid(
        () => generateValue({ length }),
        /^recipe\.length must be an integer from 1 to 64$/,
      );
    });
  }

  it('draws only from the requested sets', () => {
    fc.assert(
      fc.property(
        fc.subarray([...CHARACTER_SETS], { minLength: 1 }),
        fc.integer({ min: 1, max: 64 }),
        (sets, length) => {
          const value = generateValue({ characterSets: sets, length });
          assert.equal(value.length, length);
          for (const character of value) {
            assert.ok(
              sets.some((set) => SET_PATTERNS[set].test(character)),
              `${character} not in ${sets.join('+')}`,
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reaches every character of a set', () => {
    assert.equal(observedPool({ characterSets: ['DIGITS'] }).size, 10);
    assert.equal(observedPool({ characterSets: ['LETTERS'] }).size, 52);
  });

  it('never uses an excluded character', () => {
    const digits = '0123456789';
    fc.assert(
      fc.property(fc.subarray([...digits], { minLength: 1, maxLength: 9 }), (excluded) => {
        const value = generateValue({
          characterSets: ['DIGITS'],
          length: 64,
          excludeCharacters: excluded.join(''),
        });
        for (const character of value)
          assert.ok(!excluded.includes(character), `${character} was excluded`);
      }),
      { numRuns: 200 },
    );
  });

  it('uses the one character left when all others are excluded', () => {
    assert.equal(
      generateValue({ characterSets: ['DIGITS'], length: 8, excludeCharacters: '012345689' }),
      '77777777',
    );
  });

  it('ignores excluded characters that are in no requested set', () => {
    const pool = observedPool({ characterSets: ['DIGITS'], excludeCharacters: 'abc!' });
    assert.equal(pool.size, 10);
  });

  it('refuses a recipe that excludes every character', () => {
    expectInvalid(
      () => generateValue({ characterSets: ['DIGITS'], excludeCharacters: '9876543210' }),
      /^recipe excludes every character$/,
    );
    const everything = [...observedPool({})].join('');
    expectInvalid(
      () => generateValue({ excludeCharacters: everything }),
      /^recipe excludes every character$/,
    );
  });

  it('refuses unknown character sets', () => {
    expectInvalid(
      () => generateValue({ characterSets: ['LETTERS', 'EMOJI' as CharacterSet] }),
      /^unknown recipe\.characterSets EMOJI$/,
    );
  });
});
