// Unit tests for the SCIM-like Connect filters: parseFilter, formatFilter and matchesFilter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  FILTER_ATTRIBUTES,
  FILTER_OPERATORS,
  FilterSyntaxError,
  formatFilter,
  matchesFilter,
  parseFilter,
  type Filter,
} from '../../../src/connect/filter.ts';

function expectSyntaxError(text: string, message: RegExp | string): void {
  assert.throws(
    () => parseFilter(text),
    (error: unknown) => {
      assert.ok(
        error instanceof FilterSyntaxError,
        `expected FilterSyntaxError, got ${String(error)}`,
      );
      assert.equal(error.name, 'FilterSyntaxError');
      if (typeof message === 'string') assert.ok(error.message.includes(message), error.message);
      else assert.match(error.message, message);
      return true;
    },
  );
}

describe('parseFilter: valid filters', () => {
  const cases: ReadonlyArray<readonly [string, Filter]> = [
    ['title eq "foo"', { attribute: 'title', operator: 'eq', value: 'foo' }],
    ['name eq "Production"', { attribute: 'name', operator: 'eq', value: 'Production' }],
    ['tag eq "team:web"', { attribute: 'tag', operator: 'eq', value: 'team:web' }],
    ['title co "db"', { attribute: 'title', operator: 'co', value: 'db' }],
    ['tag co "web"', { attribute: 'tag', operator: 'co', value: 'web' }],
    ['TITLE EQ "x"', { attribute: 'title', operator: 'eq', value: 'x' }],
    ['Title Co "x"', { attribute: 'title', operator: 'co', value: 'x' }],
    ['nAmE eQ "x"', { attribute: 'name', operator: 'eq', value: 'x' }],
    ['title eq "MiXeD Case"', { attribute: 'title', operator: 'eq', value: 'MiXeD Case' }],
    ['title eq "hello world"', { attribute: 'title', operator: 'eq', value: 'hello world' }],
    ['title eq "  padded  "', { attribute: 'title', operator: 'eq', value: '  padded  ' }],
    ['title eq "say "hi" now"', { attribute: 'title', operator: 'eq', value: 'say "hi" now' }],
    ['title eq """"', { attribute: 'title', operator: 'eq', value: '""' }],
    ['title eq "a"b"', { attribute: 'title', operator: 'eq', value: 'a"b' }],
    ['title eq ""', { attribute: 'title', operator: 'eq', value: '' }],
    ['title eq " "', { attribute: 'title', operator: 'eq', value: ' ' }],
    ['  title eq "x"  ', { attribute: 'title', operator: 'eq', value: 'x' }],
    ['\ttitle\teq\t"x"\n', { attribute: 'title', operator: 'eq', value: 'x' }],
    ['title    eq    "x"', { attribute: 'title', operator: 'eq', value: 'x' }],
    ['title eq "line\nbreak"', { attribute: 'title', operator: 'eq', value: 'line\nbreak' }],
    ['title eq "日本語 ✓"', { attribute: 'title', operator: 'eq', value: '日本語 ✓' }],
  ];
  for (const [text, expected] of cases) {
    it(`parses ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseFilter(text), expected);
    });
  }
});

describe('parseFilter: malformed filters', () => {
  const syntax = /invalid filter .*expected attr op "value"/s;
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['', 'empty'],
    ['   ', 'blank'],
    ['title', 'attribute only'],
    ['title eq', 'no value'],
    ['title "x"', 'no operator'],
    ['eq "x"', 'no attribute'],
    ['title eq x', 'unquoted value'],
    ["title eq 'x'", 'single-quoted value'],
    ['title eq "x', 'no closing quote'],
    ['title eq x"', 'no opening quote'],
    ['title eq "', 'a lone quote'],
    ['title eq "x" extra', 'text after the value'],
    ['title eq"x"', 'no space before the value'],
    ['titleeq "x"', 'no space between attribute and operator'],
    ['ti tle eq "x"', 'space inside the attribute'],
    ['title_1 eq "x"', 'non-letter in the attribute'],
    ['title == "x"', 'symbolic operator'],
  ];
  for (const [text, why] of cases) {
    it(`rejects ${JSON.stringify(text)} (${why}) naming the input`, () => {
      expectSyntaxError(text, syntax);
      expectSyntaxError(text, JSON.stringify(text));
    });
  }

  for (const attribute of ['id', 'label', 'vault', 'titles']) {
    it(`rejects the unknown attribute ${attribute}`, () => {
      expectSyntaxError(`${attribute} eq "x"`, new RegExp(`attribute "${attribute}"`));
      expectSyntaxError(`${attribute} eq "x"`, /title, name, tag/);
    });
  }

  for (const operator of ['ne', 'sw', 'ew', 'pr', 'gt', 'NE', 'Sw']) {
    it(`rejects the unsupported operator ${operator} with a message about the operator`, () => {
      expectSyntaxError(`title ${operator} "x"`, new RegExp(`operator "${operator}"`));
      expectSyntaxError(`title ${operator} "x"`, /eq, co/);
    });
  }
});

describe('formatFilter', () => {
  it('writes attr op "value" without escaping', () => {
    assert.equal(
      formatFilter({ attribute: 'title', operator: 'co', value: 'a "b" c' }),
      'title co "a "b" c"',
    );
    assert.equal(formatFilter({ attribute: 'tag', operator: 'eq', value: '' }), 'tag eq ""');
  });
});

// fc.record builds null-prototype objects; rebuild a plain one so deepEqual compares like with like.
const filterArbitrary: fc.Arbitrary<Filter> = fc
  .tuple(
    fc.constantFrom(...FILTER_ATTRIBUTES),
    fc.constantFrom(...FILTER_OPERATORS),
    fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: fc.constantFrom('"', ' ', '\n', '\r', '\t', '\u2028', 'a', 'É', '😀') }),
    ),
  )
  .map(([attribute, operator, value]) => ({ attribute, operator, value }));

describe('filter properties', () => {
  it('parseFilter(formatFilter(f)) deep-equals f for any value', () => {
    fc.assert(
      fc.property(filterArbitrary, (filter) => {
        assert.deepEqual(parseFilter(formatFilter(filter)), filter);
      }),
      { numRuns: 2000 },
    );
  });

  const piece = fc.constantFrom(
    'title',
    'name',
    'tag',
    'eq',
    'co',
    'ne',
    'TITLE',
    ' ',
    '\t',
    '\n',
    '"',
    "'",
    '\\',
    'x',
    '日',
    '😀',
    '',
  );
  const filterLike = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(''));

  it('parseFilter throws only FilterSyntaxError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), filterLike), (text) => {
        try {
          const filter = parseFilter(text);
          assert.ok((FILTER_ATTRIBUTES as readonly string[]).includes(filter.attribute));
          assert.ok((FILTER_OPERATORS as readonly string[]).includes(filter.operator));
          assert.equal(typeof filter.value, 'string');
        } catch (error) {
          assert.ok(error instanceof FilterSyntaxError, `unexpected ${String(error)}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  // Reference implementation, written independently of the code under test.
  function referenceMatches(filter: Filter, candidates: readonly string[]): boolean {
    for (const candidate of candidates) {
      const a = candidate.toLowerCase();
      const b = filter.value.toLowerCase();
      if (filter.operator === 'eq' && a === b) return true;
      if (filter.operator === 'co' && a.indexOf(b) !== -1) return true;
    }
    return false;
  }

  const text = fc.string({
    unit: fc.constantFrom('a', 'A', 'b', 'B', 'é', 'É', ' ', '"', 'ß', 'İ'),
  });

  it('matchesFilter agrees with a reference implementation', () => {
    fc.assert(
      fc.property(
        fc.record({
          attribute: fc.constantFrom(...FILTER_ATTRIBUTES),
          operator: fc.constantFrom(...FILTER_OPERATORS),
          value: text,
        }),
        fc.array(text, { maxLength: 4 }),
        (filter, candidates) => {
          assert.equal(matchesFilter(filter, candidates), referenceMatches(filter, candidates));
        },
      ),
      { numRuns: 3000 },
    );
  });

  /** Flips the case of the characters whose case round-trips. */
  function recase(value: string, flips: readonly boolean[]): string {
    return [...value]
      .map((character, index) => {
        if (!flips[index % Math.max(flips.length, 1)]) return character;
        const other =
          character === character.toLowerCase() ? character.toUpperCase() : character.toLowerCase();
        return other.toLowerCase() === character.toLowerCase() ? other : character;
      })
      .join('');
  }

  it('eq matches any recasing of the value and co any recasing inside a longer string', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.array(fc.boolean(), { minLength: 1 }),
        fc.string(),
        fc.string(),
        (value, flips, before, after) => {
          const recased = recase(value, flips);
          assert.equal(
            matchesFilter({ attribute: 'title', operator: 'eq', value }, [recased]),
            true,
          );
          assert.equal(
            matchesFilter({ attribute: 'title', operator: 'co', value }, [
              `${before}${recased}${after}`,
            ]),
            true,
          );
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('matchesFilter examples', () => {
  const eq = (value: string): Filter => ({ attribute: 'title', operator: 'eq', value });
  const co = (value: string): Filter => ({ attribute: 'title', operator: 'co', value });

  it('eq is whole-string, case-insensitive equality', () => {
    assert.equal(matchesFilter(eq('Database'), ['database']), true);
    assert.equal(matchesFilter(eq('DATABASE'), ['Database']), true);
    assert.equal(matchesFilter(eq('data'), ['Database']), false);
    assert.equal(matchesFilter(eq('Database'), ['Database ']), false);
    assert.equal(matchesFilter(eq(''), ['']), true);
    assert.equal(matchesFilter(eq(''), ['x']), false);
  });

  it('co is case-insensitive substring', () => {
    assert.equal(matchesFilter(co('BAS'), ['database']), true);
    assert.equal(matchesFilter(co('db'), ['Database']), false);
    assert.equal(matchesFilter(co(''), ['anything']), true);
  });

  it('matches when any candidate matches and never on no candidates', () => {
    assert.equal(matchesFilter(eq('web'), ['api', 'WEB', 'db']), true);
    assert.equal(matchesFilter(eq('web'), ['api', 'db']), false);
    assert.equal(matchesFilter(eq(''), []), false);
    assert.equal(matchesFilter(co(''), []), false);
  });
});
