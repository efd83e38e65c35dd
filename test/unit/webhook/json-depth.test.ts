// jsonDepth: nesting read from UTF-8 bytes, equal to the nesting of the parsed value, strings and escapes skipped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { jsonDepth, jsonShape } from '../../../src/webhook/json-depth.ts';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');

function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (typeof value === 'object' && value !== null) {
    return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  }
  return 0;
}

describe('jsonDepth', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['"[[["', 0],
    ['[]', 1],
    ['{"a":[1,{"b":[]}]}', 4],
    ['["\\\\", [["\\"]"]]]', 3],
    ['{"k\\u005b":"\\"{"}', 1],
    ['[1,2],[3]', 1],
    [`["🔑[", ["é{"]]`, 2],
  ];
  for (const [text, depth] of cases) {
    it(`${text} is ${depth} deep`, () => {
      assert.equal(jsonDepth(bytes(text)), depth);
    });
  }

  it('stops one level past the limit', () => {
    assert.equal(jsonDepth(bytes(`${'['.repeat(1_000)}${']'.repeat(1_000)}`), 100), 101);
    assert.equal(jsonDepth(bytes(`${'['.repeat(100)}${']'.repeat(100)}`), 100), 100);
  });

  it('equals the depth of the value JSON.stringify wrote, for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        assert.equal(jsonDepth(bytes(JSON.stringify(value))), depthOf(value));
      }),
      { seed: 20_251_206, numRuns: 500 },
    );
  });

  it('reads strings of any characters, quotes and backslashes included', () => {
    const tricky = fc.string({
      unit: fc.constantFrom('"', '\\', '[', '{', ']', '}', 'a', '🔑', '\u0000'),
    });
    fc.assert(
      fc.property(fc.array(tricky, { maxLength: 5 }), (strings) => {
        assert.equal(
          jsonDepth(bytes(JSON.stringify([strings, { [strings.join('')]: strings }]))),
          3,
        );
      }),
      { seed: 20_251_206, numRuns: 300 },
    );
  });
});

describe('jsonShape', () => {
  const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');

  it('counts objects and arrays outside strings', () => {
    assert.deepEqual(jsonShape(bytes('{"a":[{},{"b":"[{"}],"c":[]}')), { depth: 3, containers: 5 });
  });

  it('stops one past the container limit', () => {
    const text = `[${Array.from({ length: 1_000 }, () => '{}').join(',')}]`;
    assert.deepEqual(jsonShape(bytes(text), { containers: 10 }), { depth: 2, containers: 11 });
    assert.equal(jsonShape(bytes(text)).containers, 1_001);
  });
});
