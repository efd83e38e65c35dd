// Unit tests for connect-local's item validation and presentation: buildItem, presentItem, summarizeItem.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CHARACTER_SETS, ITEM_CATEGORIES, type Field } from '../../../src/connect/models.ts';
import {
  buildItem,
  presentFile,
  presentItem,
  summarizeItem,
  type ItemContext,
  type StoredFile,
  type StoredItem,
} from '../../../src/connect-local/item-input.ts';
import { SET_PATTERNS, expectInvalid } from '../../support/connect-local-input.ts';

const VAULT = 'vvvvvvvvvvvvvvvvvvvvvvvvvv';
const NOW = '2024-05-01T12:00:00.000Z';
const CONTEXT: ItemContext = { vaultId: VAULT, now: NOW };
const ID = /^[a-z0-9]{26}$/;

function fieldsOf(item: StoredItem): Field[] {
  assert.ok(item.fields);
  return item.fields;
}

/** The fields of an item titled T built from `fields`. */
function builtFields(fields: Record<string, unknown>[]): Field[] {
  return fieldsOf(buildItem({ title: 'T', fields }, CONTEXT));
}

function onlyField(input: Record<string, unknown>): Field {
  const [field, ...rest] = builtFields([input]);
  assert.ok(field);
  assert.equal(rest.length, 0);
  return field;
}

const FILE: StoredFile = {
  id: 'ffffffffffffffffffffffffff',
  name: 'cert.pem',
  size: 5,
  content_path: `/v1/vaults/${VAULT}/items/iiiiiiiiiiiiiiiiiiiiiiiiii/files/ffffffffffffffffffffffffff/content`,
  content: 'aGVsbG8=',
};

const EXISTING: StoredItem = {
  id: 'iiiiiiiiiiiiiiiiiiiiiiiiii',
  title: 'Old',
  vault: { id: VAULT },
  category: 'DATABASE',
  urls: [],
  favorite: false,
  tags: ['old'],
  version: 7,
  createdAt: '2020-01-01T00:00:00.000Z',
  updatedAt: '2021-01-01T00:00:00.000Z',
  lastEditedBy: 'someone',
  sections: [],
  fields: [],
  files: [FILE],
};

describe('buildItem: the item as a whole', () => {
  it('completes a minimal item with defaults', () => {
    const item = buildItem({ title: 'Web' }, CONTEXT);
    assert.match(item.id, ID);
    assert.deepEqual(item, {
      id: item.id,
      title: 'Web',
      vault: { id: VAULT },
      category: 'LOGIN',
      urls: [],
      favorite: false,
      tags: [],
      version: 0,
      createdAt: NOW,
      updatedAt: NOW,
      lastEditedBy: 'connect-local',
      sections: [],
      fields: [],
      files: [],
    });
  });

  it('gives each new item a fresh id and ignores an id, version or timestamps in the body', () => {
    const input = {
      title: 'Web',
      id: 'aaaaaaaaaaaaaaaaaaaaaaaaaa',
      version: 99,
      createdAt: '1999-01-01T00:00:00.000Z',
      updatedAt: '1999-01-01T00:00:00.000Z',
      files: [FILE],
    };
    const first = buildItem(input, CONTEXT);
    const second = buildItem(input, CONTEXT);
    assert.match(first.id, ID);
    assert.notEqual(first.id, input.id);
    assert.notEqual(first.id, second.id);
    assert.equal(first.version, 0);
    assert.equal(first.createdAt, NOW);
    assert.equal(first.updatedAt, NOW);
    assert.deepEqual(first.files, []);
  });

  for (const body of [null, undefined, 'item', 42, [], [{ title: 'T' }]]) {
    it(`rejects the body ${JSON.stringify(body)}`, () => {
      expectInvalid(() => buildItem(body, CONTEXT), /request body must be a JSON item object/);
    });
  }

  it('requires a title', () => {
    expectInvalid(() => buildItem({}, CONTEXT), /^title is required$/);
    expectInvalid(
      () => buildItem({ title: null, category: 'LOGIN' }, CONTEXT),
      /^title is required$/,
    );
    expectInvalid(() => buildItem({ title: 42 }, CONTEXT), /^title must be a string$/);
  });

  it('keeps tags and favorite, and rejects a non-string tag', () => {
    const item = buildItem({ title: 'T', tags: ['a', 'B c'], favorite: true }, CONTEXT);
    assert.deepEqual(item.tags, ['a', 'B c']);
    assert.equal(item.favorite, true);
    assert.equal(buildItem({ title: 'T', favorite: 'yes' }, CONTEXT).favorite, false);
    expectInvalid(
      () => buildItem({ title: 'T', tags: ['a', 3] }, CONTEXT),
      /^tags\[1\] must be a string$/,
    );
    expectInvalid(() => buildItem({ title: 'T', tags: 'a' }, CONTEXT), /^tags must be an array$/);
  });

  it('parses urls and requires an href', () => {
    const item = buildItem(
      {
        title: 'T',
        urls: [
          { href: 'https://a.example', label: 'site', primary: true },
          { href: 'https://b.example', primary: false },
        ],
      },
      CONTEXT,
    );
    assert.deepEqual(item.urls, [
      { href: 'https://a.example', label: 'site', primary: true },
      { href: 'https://b.example' },
    ]);
    expectInvalid(
      () => buildItem({ title: 'T', urls: [{ label: 'x' }] }, CONTEXT),
      /^urls\[0\]\.href is required$/,
    );
    expectInvalid(
      () => buildItem({ title: 'T', urls: ['https://x'] }, CONTEXT),
      /^urls\[0\] must be an object$/,
    );
  });
});

describe('buildItem: category', () => {
  it('defaults to LOGIN', () => {
    assert.equal(buildItem({ title: 'T' }, CONTEXT).category, 'LOGIN');
  });

  for (const category of ITEM_CATEGORIES.filter((c) => c !== 'DOCUMENT' && c !== 'CUSTOM')) {
    it(`accepts ${category}`, () => {
      assert.equal(buildItem({ title: 'T', category }, CONTEXT).category, category);
    });
  }

  for (const category of ['NOT_A_CATEGORY', 'login', '', 'Login']) {
    it(`rejects the category ${JSON.stringify(category)} with status 400`, () => {
      expectInvalid(
        () => buildItem({ title: 'T', category }, CONTEXT),
        new RegExp(`^invalid item category ${JSON.stringify(category)}$`),
      );
    });
  }

  it('rejects a non-string category', () => {
    expectInvalid(
      () => buildItem({ title: 'T', category: 1 }, CONTEXT),
      /^category must be a string$/,
    );
  });

  for (const category of ['DOCUMENT', 'CUSTOM'] as const) {
    it(`refuses ${category} through the API and accepts it when seeding`, () => {
      expectInvalid(
        () => buildItem({ title: 'T', category }, CONTEXT),
        new RegExp(`category ${category} cannot`),
      );
      assert.equal(
        buildItem({ title: 'T', category }, { ...CONTEXT, seeding: true }).category,
        category,
      );
    });
  }

  it('keeps the existing category when the body has none, and refuses to update a DOCUMENT', () => {
    assert.equal(
      buildItem({ title: 'T' }, { ...CONTEXT, existing: EXISTING }).category,
      'DATABASE',
    );
    const document: StoredItem = { ...EXISTING, category: 'DOCUMENT' };
    expectInvalid(() => buildItem({ title: 'T' }, { ...CONTEXT, existing: document }), /DOCUMENT/);
  });
});

describe('buildItem: vault', () => {
  it('accepts a body without a vault or with the path vault', () => {
    assert.deepEqual(buildItem({ title: 'T' }, CONTEXT).vault, { id: VAULT });
    assert.deepEqual(buildItem({ title: 'T', vault: { id: VAULT } }, CONTEXT).vault, { id: VAULT });
    assert.deepEqual(buildItem({ title: 'T', vault: {} }, CONTEXT).vault, { id: VAULT });
  });

  it('rejects a vault.id that differs from the path', () => {
    expectInvalid(
      () => buildItem({ title: 'T', vault: { id: 'wwwwwwwwwwwwwwwwwwwwwwwwww' } }, CONTEXT),
      /^vault\.id "wwwwwwwwwwwwwwwwwwwwwwwwww" does not match the vault in the path$/,
    );
  });
});

describe('buildItem: existing item', () => {
  it('carries over id, createdAt, version and files and stamps updatedAt', () => {
    const item = buildItem(
      { title: 'New', id: 'xxxxxxxxxxxxxxxxxxxxxxxxxx', files: [], createdAt: 'x', version: 1 },
      { ...CONTEXT, existing: EXISTING },
    );
    assert.equal(item.id, EXISTING.id);
    assert.equal(item.createdAt, EXISTING.createdAt);
    assert.equal(item.version, 7);
    assert.deepEqual(item.files, [FILE]);
    assert.equal(item.updatedAt, NOW);
    assert.equal(item.title, 'New');
    assert.deepEqual(item.tags, []);
    assert.equal(item.lastEditedBy, 'connect-local');
  });
});

describe('buildItem: sections', () => {
  it('keeps section ids and labels and generates missing ids', () => {
    const item = buildItem(
      { title: 'T', sections: [{ id: 'db', label: 'Database' }, { label: 'Other' }] },
      CONTEXT,
    );
    const [db, other] = item.sections ?? [];
    assert.deepEqual(db, { id: 'db', label: 'Database' });
    assert.ok(other);
    assert.match(other.id, ID);
    assert.equal(other.label, 'Other');
  });
});

describe('buildItem: fields', () => {
  it('gives built-in ids to USERNAME, PASSWORD and NOTES fields', () => {
    const fields = builtFields([
      { purpose: 'USERNAME', value: 'admin' },
      { purpose: 'PASSWORD', value: 's3cret' },
      { purpose: 'NOTES', value: 'hello' },
    ]);
    assert.deepEqual(fields, [
      { id: 'username', type: 'STRING', purpose: 'USERNAME', value: 'admin' },
      { id: 'password', type: 'CONCEALED', purpose: 'PASSWORD', value: 's3cret' },
      { id: 'notesPlain', type: 'STRING', purpose: 'NOTES', value: 'hello' },
    ]);
  });

  it('generates distinct 26-character ids for other fields', () => {
    const fields = builtFields([
      { label: 'host', value: 'db' },
      { purpose: '', label: 'port' },
      { id: '', type: 'URL' },
    ]);
    assert.equal(fields.length, 3);
    for (const field of fields) assert.match(field.id, ID);
    assert.equal(new Set(fields.map((field) => field.id)).size, 3);
    assert.deepEqual(
      fields.map(({ id: _id, ...rest }) => rest),
      [
        { type: 'STRING', label: 'host', value: 'db' },
        { type: 'STRING', purpose: '', label: 'port' },
        { type: 'URL' },
      ],
    );
  });

  it('keeps an explicit field id, even on a field with a purpose', () => {
    assert.equal(onlyField({ id: 'dbhost', label: 'host' }).id, 'dbhost');
    assert.equal(onlyField({ id: 'login', purpose: 'USERNAME' }).id, 'login');
  });

  it('keeps an explicit type and rejects unknown types and purposes', () => {
    assert.equal(onlyField({ purpose: 'PASSWORD', type: 'STRING' }).type, 'STRING');
    expectInvalid(() => onlyField({ type: 'TEXT' }), /^invalid field type "TEXT"$/);
    expectInvalid(() => onlyField({ purpose: 'EMAIL' }), /^invalid field purpose "EMAIL"$/);
    expectInvalid(() => onlyField({ value: 5 }), /^fields\[0\]\.value must be a string$/);
    expectInvalid(
      () => buildItem({ title: 'T', fields: ['x'] }, CONTEXT),
      /^fields\[0\] must be an object$/,
    );
  });

  it('accepts a field in a section of the item and rejects an unknown section', () => {
    const item = buildItem(
      { title: 'T', sections: [{ id: 'db' }], fields: [{ label: 'host', section: { id: 'db' } }] },
      CONTEXT,
    );
    assert.deepEqual(fieldsOf(item)[0]?.section, { id: 'db' });
    expectInvalid(
      () =>
        buildItem(
          {
            title: 'T',
            sections: [{ id: 'db' }],
            fields: [{ label: 'x' }, { label: 'host', section: { id: 'nope' } }],
          },
          CONTEXT,
        ),
      /^fields\[1\]\.section "nope" is not a section of the item$/,
    );
    expectInvalid(
      () => onlyField({ section: 'db' }),
      /^fields\[0\]\.section must be \{"id": "<section id>"\}$/,
    );
  });

  it('rejects duplicate field ids, explicit or built-in', () => {
    expectInvalid(
      () => buildItem({ title: 'T', fields: [{ id: 'a' }, { id: 'b' }, { id: 'a' }] }, CONTEXT),
      /^duplicate field id "a"$/,
    );
    expectInvalid(
      () =>
        buildItem(
          { title: 'T', fields: [{ purpose: 'USERNAME' }, { purpose: 'USERNAME' }] },
          CONTEXT,
        ),
      /^duplicate field id "username"$/,
    );
    expectInvalid(
      () =>
        buildItem({ title: 'T', fields: [{ id: 'password' }, { purpose: 'PASSWORD' }] }, CONTEXT),
      /^duplicate field id "password"$/,
    );
  });

  it('keeps a supplied value without generate: true, and stores no generation request', () => {
    const field = onlyField({ id: 'p', value: 'kept', generate: 'true', recipe: { length: 5 } });
    assert.equal(field.value, 'kept');
    assert.equal('generate' in field, false);
    assert.equal('recipe' in field, false);
  });

  it('keeps a supplied value even with generate: true (Connect generates only a missing value)', () => {
    const field = onlyField({ purpose: 'PASSWORD', generate: true, value: 'supplied' });
    assert.equal(field.value, 'supplied');
  });

  it('generates 32 characters from all sets when there is no recipe', () => {
    const field = onlyField({ purpose: 'PASSWORD', generate: true });
    // The request is carried out once; an item sent back unchanged must keep this value.
    assert.equal('generate' in field, false);
    assert.equal(field.id, 'password');
    assert.ok(field.value);
    assert.equal(field.value.length, 32);
    for (const character of field.value) {
      assert.ok(
        Object.values(SET_PATTERNS).some((pattern) => pattern.test(character)),
        character,
      );
    }
  });

  it('generates a value of the recipe length from the requested character sets', () => {
    const recipeArbitrary = fc.record(
      {
        length: fc.integer({ min: 1, max: 64 }),
        characterSets: fc.subarray([...CHARACTER_SETS], { minLength: 1 }),
        excludeCharacters: fc.string({
          unit: fc.constantFrom('a', 'Z', '0', '9', '!', '~', 'é'),
          maxLength: 6,
        }),
      },
      { requiredKeys: ['length', 'characterSets'] },
    );
    fc.assert(
      fc.property(recipeArbitrary, (recipe) => {
        const field = onlyField({ generate: true, recipe });
        assert.equal('generate' in field, false);
        assert.ok(field.value !== undefined);
        const characters = [...field.value];
        assert.equal(characters.length, recipe.length);
        for (const character of characters) {
          assert.ok(
            recipe.characterSets.some((set) => SET_PATTERNS[set].test(character)),
            `${JSON.stringify(character)} is not in ${recipe.characterSets.join('+')}`,
          );
          assert.ok(
            !(recipe.excludeCharacters ?? '').includes(character),
            `${character} was excluded`,
          );
        }
      }),
      { numRuns: 500 },
    );
  });

  it('rejects a recipe length outside 1..64 with status 400', () => {
    expectInvalid(() => onlyField({ generate: true, recipe: { length: 0 } }), /recipe\.length/);
    expectInvalid(() => onlyField({ generate: true, recipe: { length: 65 } }), /recipe\.length/);
    expectInvalid(
      () => onlyField({ generate: true, recipe: 'long' }),
      /^fields\[0\]\.recipe must be an object$/,
    );
  });

  // A malformed recipe from a client must be a 400, never a TypeError (which would be a 500).
  it('rejects recipes of the wrong shape with status 400', () => {
    expectInvalid(
      () => onlyField({ generate: true, recipe: { characterSets: 'LETTERS' } }),
      /^fields\[0\]\.recipe\.characterSets /,
    );
    expectInvalid(
      () => onlyField({ generate: true, recipe: { characterSets: [1] } }),
      /^fields\[0\]\.recipe\.characterSets /,
    );
    expectInvalid(
      () => onlyField({ generate: true, recipe: { excludeCharacters: 5 } }),
      /^fields\[0\]\.recipe\.excludeCharacters /,
    );
    expectInvalid(
      () => onlyField({ generate: true, recipe: { length: '10' } }),
      /^fields\[0\]\.recipe\.length /,
    );
    expectInvalid(
      () => onlyField({ generate: true, recipe: { characterSets: ['LETTERS', 'letters'] } }),
      /^unknown recipe\.characterSets letters$/,
    );
  });
});

describe('presentItem, presentFile and summarizeItem', () => {
  const stored: StoredItem = {
    ...EXISTING,
    sections: [{ id: 's', label: 'S' }],
    fields: [{ id: 'username', type: 'STRING', purpose: 'USERNAME', value: 'u' }],
    files: [FILE, { ...FILE, id: 'gggggggggggggggggggggggggg', name: 'b.bin', content: 'AA==' }],
  };

  it('presentFile drops the content and keeps everything else', () => {
    const { content: _content, ...expected } = FILE;
    assert.deepEqual(presentFile(FILE), expected);
    assert.equal('content' in presentFile(FILE), false);
    assert.equal(FILE.content, 'aGVsbG8=');
  });

  it('presentItem strips the content of every file without touching the stored item', () => {
    const before = structuredClone(stored);
    const presented = presentItem(stored);
    assert.equal(presented.files?.length, 2);
    for (const file of presented.files ?? []) assert.equal('content' in file, false);
    assert.deepEqual(
      presented.files?.map((file) => file.name),
      ['cert.pem', 'b.bin'],
    );
    const { files: _files, ...rest } = presented;
    const { files: _storedFiles, ...storedRest } = stored;
    assert.deepEqual(rest, storedRest);
    assert.deepEqual(stored, before);
  });

  it('presentItem gives an item without files an empty list', () => {
    const { files: _files, ...withoutFiles } = stored;
    assert.deepEqual(presentItem(withoutFiles).files, []);
  });

  it('summarizeItem drops fields, sections and files and keeps the rest', () => {
    const summary = summarizeItem(stored);
    for (const key of ['fields', 'sections', 'files']) assert.equal(key in summary, false, key);
    const { fields: _f, sections: _s, files: _g, ...expected } = stored;
    assert.deepEqual(summary, expected);
    assert.equal(stored.fields?.length, 1);
  });
});
