// pickOldestByTitle: the operator's rule for several vaults or items sharing a title.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pickOldestByTitle } from '../../../src/connect/index.ts';

interface Candidate {
  id: string;
  title: string;
  createdAt: string;
}

const titleOf = (candidate: Candidate): string => candidate.title;
const c = (id: string, title: string, createdAt: string): Candidate => ({ id, title, createdAt });

describe('pickOldestByTitle', () => {
  const cases: [string, Candidate[], string, string | undefined][] = [
    ['no candidates', [], 'db', undefined],
    ['no match', [c('a', 'web', '2020-01-01T00:00:00Z')], 'db', undefined],
    ['one match', [c('a', 'db', '2020-01-01T00:00:00Z')], 'db', 'a'],
    ['case-insensitive', [c('a', 'Prod DB', '2020-01-01T00:00:00Z')], 'prod db', 'a'],
    [
      'the oldest of several',
      [
        c('new', 'db', '2023-05-01T00:00:00Z'),
        c('old', 'DB', '2021-05-01T00:00:00Z'),
        c('mid', 'db', '2022-05-01T00:00:00Z'),
      ],
      'db',
      'old',
    ],
    [
      'the first of equally old',
      [c('first', 'db', '2021-01-01T00:00:00Z'), c('second', 'db', '2021-01-01T00:00:00Z')],
      'db',
      'first',
    ],
    [
      'timestamps compared as times, not strings',
      [
        c('later', 'db', '2021-01-01T01:00:00+00:00'),
        c('earlier', 'db', '2021-01-01T01:30:00+02:00'),
      ],
      'db',
      'earlier',
    ],
    [
      'an unparseable createdAt after any valid one',
      [c('broken', 'db', 'yesterday'), c('valid', 'db', '2030-01-01T00:00:00Z')],
      'db',
      'valid',
    ],
    ['only unparseable: the first', [c('x', 'db', '?'), c('y', 'db', '??')], 'db', 'x'],
    [
      'a looser server match (contains) is re-checked',
      [
        c('contains', 'db-replica', '2019-01-01T00:00:00Z'),
        c('exact', 'db', '2024-01-01T00:00:00Z'),
      ],
      'db',
      'exact',
    ],
  ];
  for (const [name, candidates, title, expected] of cases) {
    it(name, () => assert.equal(pickOldestByTitle(candidates, title, titleOf)?.id, expected));
  }

  it('returns a case-insensitive title match with the minimum createdAt, or undefined', () => {
    const titles = fc.constantFrom('db', 'DB', 'Db', 'web', 'WEB', 'cache');
    const candidate = fc.record({
      id: fc.uuid(),
      title: titles,
      createdAt: fc
        .date({
          min: new Date('2000-01-01T00:00:00Z'),
          max: new Date('2030-01-01T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((date) => date.toISOString()),
    });
    fc.assert(
      fc.property(fc.array(candidate, { maxLength: 12 }), titles, (candidates, title) => {
        const picked = pickOldestByTitle(candidates, title, titleOf);
        const matches = candidates.filter((x) => x.title.toLowerCase() === title.toLowerCase());
        if (matches.length === 0) return picked === undefined;
        const oldest = Math.min(...matches.map((x) => Date.parse(x.createdAt)));
        return (
          picked !== undefined &&
          matches.includes(picked) &&
          Date.parse(picked.createdAt) === oldest
        );
      }),
    );
  });
});
