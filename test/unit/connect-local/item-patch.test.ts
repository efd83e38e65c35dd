// Unit tests for connect-local's PATCH: applyItemPatch's RFC 6902 subset, fields addressed by id.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Field, FullItem } from '../../../src/connect/models.ts';
import { InvalidInputError } from '../../../src/connect-local/errors.ts';
import { applyItemPatch } from '../../../src/connect-local/item-patch.ts';

const USERNAME: Field = { id: 'username', type: 'STRING', purpose: 'USERNAME', value: 'admin' };
const PASSWORD: Field = { id: 'password', type: 'CONCEALED', purpose: 'PASSWORD', value: 'old' };
const HOST: Field = {
  id: 'hosthosthosthosthosthost01',
  type: 'STRING',
  label: 'host',
  value: 'db',
};
// A field whose id looks like an index, to tell addressing by id from addressing by position.
const ONE: Field = { id: '1', type: 'STRING', label: 'one', value: 'first' };

const ITEM: FullItem = {
  id: 'iiiiiiiiiiiiiiiiiiiiiiiiii',
  title: 'Web',
  vault: { id: 'vvvvvvvvvvvvvvvvvvvvvvvvvv' },
  category: 'LOGIN',
  tags: ['a', 'b'],
  version: 3,
  createdAt: '2024-01-01T00:00:00.000Z',
  updatedAt: '2024-01-02T00:00:00.000Z',
  sections: [{ id: 'sec', label: 'Section' }],
  fields: [USERNAME, PASSWORD, HOST],
};

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Applies a patch to a frozen copy of the item and checks the copy is unchanged afterwards. */
function patch(body: unknown, item: FullItem = ITEM): FullItem {
  const frozen = deepFreeze(structuredClone(item));
  const before = structuredClone(item);
  try {
    return applyItemPatch(frozen, body);
  } finally {
    assert.deepEqual(frozen, before);
  }
}

function expectInvalid(body: unknown, message: RegExp | string, item: FullItem = ITEM): void {
  assert.throws(
    () => patch(body, item),
    (error: unknown) => {
      assert.ok(
        error instanceof InvalidInputError,
        `expected InvalidInputError, got ${String(error)}`,
      );
      assert.equal(error.status, 400);
      if (typeof message === 'string') assert.ok(error.message.includes(message), error.message);
      else assert.match(error.message, message);
      return true;
    },
  );
}

describe('applyItemPatch: /', () => {
  for (const op of ['add', 'replace'] as const) {
    it(`${op} / replaces the whole item but keeps its id`, () => {
      const value = { title: 'New', id: 'zzzzzzzzzzzzzzzzzzzzzzzzzz', fields: [PASSWORD] };
      assert.deepEqual(patch({ op, path: '/', value }), {
        title: 'New',
        id: ITEM.id,
        fields: [PASSWORD],
      });
    });
  }

  it('remove / is refused', () => {
    expectInvalid({ op: 'remove', path: '/' }, /^patch cannot remove the whole item$/);
  });
});

describe('applyItemPatch: /title', () => {
  for (const op of ['add', 'replace'] as const) {
    it(`${op} /title sets the title and nothing else`, () => {
      assert.deepEqual(patch({ op, path: '/title', value: 'Renamed' }), {
        ...ITEM,
        title: 'Renamed',
      });
    });
  }

  it('remove /title is refused', () => {
    expectInvalid({ op: 'remove', path: '/title' }, /^patch cannot remove the title$/);
  });
});

describe('applyItemPatch: /tags', () => {
  for (const op of ['add', 'replace'] as const) {
    it(`${op} /tags sets the whole tag list`, () => {
      assert.deepEqual(patch({ op, path: '/tags', value: ['x'] }), { ...ITEM, tags: ['x'] });
    });
  }

  it('remove /tags clears the tags', () => {
    assert.deepEqual(patch({ op: 'remove', path: '/tags' }), { ...ITEM, tags: [] });
  });
});

describe('applyItemPatch: /fields', () => {
  const added: Field = { id: 'new', type: 'URL', value: 'https://x' };

  it('add /fields appends one field', () => {
    assert.deepEqual(patch({ op: 'add', path: '/fields', value: added }), {
      ...ITEM,
      fields: [USERNAME, PASSWORD, HOST, added],
    });
  });

  it('replace /fields sets the whole list', () => {
    assert.deepEqual(patch({ op: 'replace', path: '/fields', value: [added] }), {
      ...ITEM,
      fields: [added],
    });
  });

  it('remove /fields clears the list', () => {
    assert.deepEqual(patch({ op: 'remove', path: '/fields' }), { ...ITEM, fields: [] });
  });

  it('add /fields works on an item without fields', () => {
    const { fields: _fields, ...bare } = ITEM;
    assert.deepEqual(patch({ op: 'add', path: '/fields', value: added }, bare), {
      ...bare,
      fields: [added],
    });
  });
});

describe('applyItemPatch: /fields/{id}', () => {
  const replacement = { type: 'CONCEALED', label: 'pw', value: 'new', id: 'ignored' };

  it('replace swaps the field in place and forces the id from the path', () => {
    assert.deepEqual(patch({ op: 'replace', path: '/fields/password', value: replacement }), {
      ...ITEM,
      fields: [USERNAME, { type: 'CONCEALED', label: 'pw', value: 'new', id: 'password' }, HOST],
    });
  });

  it('add on an existing id replaces that field in place', () => {
    assert.deepEqual(
      patch({ op: 'add', path: '/fields/username', value: { type: 'EMAIL', value: 'e@x' } }),
      {
        ...ITEM,
        fields: [{ type: 'EMAIL', value: 'e@x', id: 'username' }, PASSWORD, HOST],
      },
    );
  });

  it('add on a new id appends a field with that id', () => {
    assert.deepEqual(
      patch({ op: 'add', path: '/fields/extra', value: { type: 'STRING', value: 'v' } }),
      {
        ...ITEM,
        fields: [USERNAME, PASSWORD, HOST, { type: 'STRING', value: 'v', id: 'extra' }],
      },
    );
  });

  it('replace on an unknown id is refused', () => {
    expectInvalid(
      { op: 'replace', path: '/fields/nope', value: { type: 'STRING' } },
      /^patch path \/fields\/nope: no field with id "nope"$/,
    );
  });

  it('remove deletes the field with that id', () => {
    assert.deepEqual(patch({ op: 'remove', path: `/fields/${HOST.id}` }), {
      ...ITEM,
      fields: [USERNAME, PASSWORD],
    });
  });

  it('remove on an unknown id is refused', () => {
    expectInvalid({ op: 'remove', path: '/fields/nope' }, /no field with id "nope"/);
  });

  it('addresses fields by id, never by index', () => {
    const item: FullItem = { ...ITEM, fields: [ONE, USERNAME] };
    assert.deepEqual(patch({ op: 'remove', path: '/fields/1' }, item), {
      ...item,
      fields: [USERNAME],
    });
    assert.deepEqual(patch({ op: 'replace', path: '/fields/1/value', value: 'changed' }, item), {
      ...item,
      fields: [{ ...ONE, value: 'changed' }, USERNAME],
    });
    expectInvalid({ op: 'remove', path: '/fields/0' }, /no field with id "0"/, item);
    expectInvalid(
      { op: 'replace', path: '/fields/0/value', value: 'x' },
      /no field with id "0"/,
      item,
    );
  });
});

describe('applyItemPatch: /fields/{id}/value', () => {
  for (const op of ['add', 'replace'] as const) {
    it(`${op} sets the value and keeps the rest of the field and its position`, () => {
      assert.deepEqual(patch({ op, path: '/fields/password/value', value: 'n3w' }), {
        ...ITEM,
        fields: [USERNAME, { ...PASSWORD, value: 'n3w' }, HOST],
      });
    });
  }

  it('add sets a value on a field that had none', () => {
    const bare: Field = { id: 'bare', type: 'STRING' };
    const item: FullItem = { ...ITEM, fields: [bare] };
    assert.deepEqual(patch({ op: 'add', path: '/fields/bare/value', value: '' }, item), {
      ...item,
      fields: [{ id: 'bare', type: 'STRING', value: '' }],
    });
  });

  it('remove drops the value key', () => {
    const result = patch({ op: 'remove', path: '/fields/username/value' });
    const { value: _value, ...rest } = USERNAME;
    assert.deepEqual(result, { ...ITEM, fields: [rest, PASSWORD, HOST] });
    assert.equal('value' in (result.fields?.[0] ?? {}), false);
  });

  it('refuses an unknown field', () => {
    expectInvalid(
      { op: 'replace', path: '/fields/nope/value', value: 'x' },
      /no field with id "nope"/,
    );
    expectInvalid({ op: 'remove', path: '/fields/nope/value' }, /no field with id "nope"/);
  });

  for (const value of [5, null, true, ['x'], { v: 'x' }]) {
    it(`refuses the non-string value ${JSON.stringify(value)}`, () => {
      expectInvalid(
        { op: 'replace', path: '/fields/password/value', value },
        /^patch \/fields\/password\/value: value must be a string$/,
      );
    });
  }
});

describe('applyItemPatch: several operations', () => {
  it('applies operations in order, each on the result of the previous one', () => {
    const result = patch([
      { op: 'add', path: '/fields/extra', value: { type: 'STRING', value: 'x' } },
      { op: 'replace', path: '/fields/extra/value', value: 'y' },
      { op: 'remove', path: '/fields/username' },
      { op: 'replace', path: '/title', value: 'T2' },
      { op: 'add', path: '/tags', value: ['p'] },
    ]);
    assert.deepEqual(result, {
      ...ITEM,
      title: 'T2',
      tags: ['p'],
      fields: [PASSWORD, HOST, { type: 'STRING', value: 'y', id: 'extra' }],
    });
  });

  it('order matters', () => {
    const set = { op: 'replace', path: '/tags', value: ['x'] };
    const clear = { op: 'remove', path: '/tags' };
    assert.deepEqual(patch([set, clear]).tags, []);
    assert.deepEqual(patch([clear, set]).tags, ['x']);
  });

  it('a later operation can address a field an earlier one removed only to fail', () => {
    expectInvalid(
      [
        { op: 'remove', path: '/fields/password' },
        { op: 'replace', path: '/fields/password/value', value: 'x' },
      ],
      /no field with id "password"/,
    );
  });

  it('an empty list changes nothing', () => {
    assert.deepEqual(patch([]), ITEM);
  });

  it('accepts a single operation object as well as a list', () => {
    assert.deepEqual(
      patch({ op: 'replace', path: '/title', value: 'X' }),
      patch([{ op: 'replace', path: '/title', value: 'X' }]),
    );
  });
});

describe('applyItemPatch: invalid patches', () => {
  for (const path of [
    '',
    'title',
    '/id',
    '/vault',
    '/category',
    '/urls',
    '/Title',
    '/title/',
    '/title/x',
    '/tags/0',
    '/fields/',
    '/fields/password/label',
    '/fields/password/value/x',
    '/fields/password/',
    '//',
    '/sections',
  ]) {
    it(`refuses the unsupported path ${JSON.stringify(path)}`, () => {
      expectInvalid(
        { op: 'replace', path, value: 'x' },
        new RegExp(`^unsupported patch path ${JSON.stringify(path).replaceAll('/', '\\/')}: use /`),
      );
    });
  }

  for (const op of ['move', 'copy', 'test', 'ADD', 'Replace', '', 5, undefined, null]) {
    it(`refuses the op ${JSON.stringify(op)}`, () => {
      expectInvalid(
        { op, path: '/title', value: 'x' },
        /^patch operation 0: op must be add, remove or replace$/,
      );
    });
  }

  it('names the position of the bad operation', () => {
    expectInvalid(
      [
        { op: 'replace', path: '/title', value: 'x' },
        { op: 'move', path: '/title', from: '/tags' },
      ],
      /^patch operation 1: op must be add, remove or replace$/,
    );
  });

  for (const entry of [null, 'replace', 3]) {
    it(`refuses the operation ${JSON.stringify(entry)}`, () => {
      expectInvalid(entry, /^patch operation 0 must be an object$/);
      expectInvalid(
        [{ op: 'remove', path: '/tags' }, entry],
        /^patch operation 1 must be an object$/,
      );
    });
  }

  for (const path of [undefined, 5, null]) {
    it(`refuses the path ${JSON.stringify(path)}`, () => {
      expectInvalid({ op: 'replace', path, value: 'x' }, /^patch operation 0: path is required$/);
    });
  }

  for (const [op, path] of [
    ['add', '/'],
    ['replace', '/'],
    ['replace', '/title'],
    ['add', '/tags'],
    ['add', '/fields'],
    ['replace', '/fields'],
    ['replace', '/fields/password'],
    ['add', '/fields/new'],
    ['replace', '/fields/password/value'],
  ] as const) {
    it(`refuses ${op} ${path} without a value`, () => {
      expectInvalid(
        { op, path },
        new RegExp(`^patch ${op} ${path.replaceAll('/', '\\/')} needs a value$`),
      );
    });
  }

  // A malformed percent-escape in a field id must be a 400 like any bad path, not a URIError (500).
  for (const path of ['/fields/%', '/fields/%E0%A4%A/value']) {
    it(`refuses the malformed path ${JSON.stringify(path)} with InvalidInputError naming it`, () => {
      expectInvalid({ op: 'remove', path }, path);
    });
  }
  // An earlier operation may leave /fields as something other than a list of field objects; a
  // later operation on a field must then answer 400, not crash with a TypeError (a 500).
  for (const fields of [{ type: 'STRING' }, 'fields', [null]]) {
    it(`refuses a field operation after /fields was replaced by ${JSON.stringify(fields)}`, () => {
      expectInvalid(
        [
          { op: 'replace', path: '/fields', value: fields },
          { op: 'remove', path: '/fields/username' },
        ],
        /field/,
      );
    });
  }

  it('does not crash on a /title operation after /fields was replaced by a non-list', () => {
    const body = [
      { op: 'replace', path: '/fields', value: { type: 'STRING' } },
      { op: 'replace', path: '/title', value: 'x' },
    ];
    try {
      // Returning is fine too: the caller validates the result like a PUT body.
      assert.equal(patch(body).title, 'x');
    } catch (error) {
      assert.ok(error instanceof InvalidInputError, `unexpected ${String(error)}`);
    }
  });
});

describe('applyItemPatch: properties', () => {
  const fieldIds = ['username', 'password', HOST.id, '1', 'new', 'a b'];
  // Weighted towards operations that succeed, so that sequences get past their first step.
  const paths = fc.oneof(
    {
      arbitrary: fc.constantFrom('/', '/title', '/tags', '/id', '/fields/', '', 'title'),
      weight: 2,
    },
    { arbitrary: fc.constant('/fields'), weight: 3 },
    {
      arbitrary: fc.constantFrom(...fieldIds).map((id) => `/fields/${encodeURIComponent(id)}`),
      weight: 3,
    },
    {
      arbitrary: fc
        .constantFrom(...fieldIds)
        .map((id) => `/fields/${encodeURIComponent(id)}/value`),
      weight: 3,
    },
  );
  const values = fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 1 },
    { arbitrary: fc.string(), weight: 2 },
    { arbitrary: fc.array(fc.string(), { maxLength: 3 }), weight: 1 },
    { arbitrary: fc.record({ type: fc.constant('STRING'), value: fc.string() }), weight: 3 },
    {
      arbitrary: fc.array(
        fc.record({ id: fc.constantFrom(...fieldIds), type: fc.constant('STRING') }),
        { maxLength: 3 },
      ),
      weight: 2,
    },
  );
  const operation = fc.record(
    {
      op: fc.oneof(
        { arbitrary: fc.constantFrom('add', 'remove', 'replace'), weight: 9 },
        { arbitrary: fc.constant('move'), weight: 1 },
      ),
      path: paths,
      value: values,
    },
    { requiredKeys: ['op', 'path'] },
  );

  it('never mutates the item and fails only with InvalidInputError', () => {
    const item: FullItem = { ...ITEM, fields: [...(ITEM.fields ?? []), ONE] };
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 6 }), (operations) => {
        try {
          const result = patch(operations, item);
          assert.equal(result.id, item.id);
        } catch (error) {
          assert.ok(error instanceof InvalidInputError, `unexpected ${String(error)}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('replace /fields/{id}/value then reading the field gives the value', () => {
    fc.assert(
      fc.property(fc.constantFrom('username', 'password', HOST.id), fc.string(), (id, value) => {
        const result = patch({ op: 'replace', path: `/fields/${id}/value`, value });
        const fields = result.fields ?? [];
        assert.deepEqual(
          fields.map((field) => field.id),
          (ITEM.fields ?? []).map((field) => field.id),
        );
        assert.equal(fields.find((field) => field.id === id)?.value, value);
        for (const field of fields)
          if (field.id !== id)
            assert.deepEqual(
              field,
              ITEM.fields?.find((f) => f.id === field.id),
            );
      }),
    );
  });
});
