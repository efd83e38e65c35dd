// spec.keys: picking, renaming and (optionally) keeping the rest of an item, as pure functions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FullItem } from '../../../src/connect/index.ts';
import { classifyFailure } from '../../../src/operator/failure.ts';
import { describeKeyLosses, mapItemToSecretData } from '../../../src/operator/secret-data.ts';
import {
  buildSecretData,
  KeySpecError,
  selectSecretData,
  type KeysSpec,
} from '../../../src/operator/secret-keys.ts';

const item: FullItem = {
  id: 'item-id',
  title: 'Postgres',
  vault: { id: 'vault-id' },
  category: 'DATABASE',
  version: 4,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  urls: [{ label: 'website', href: 'https://db.example', primary: true }],
  sections: [
    { id: 'sec-admin', label: 'admin' },
    { id: 'sec-replica', label: 'replica' },
  ],
  fields: [
    { id: 'username', type: 'STRING', purpose: 'USERNAME', label: 'username', value: 'app' },
    { id: 'password', type: 'CONCEALED', purpose: 'PASSWORD', label: 'password', value: 'p@ss' },
    { id: 'empty', type: 'STRING', label: 'notes', value: '' },
    {
      id: 'admin-pw',
      type: 'CONCEALED',
      label: 'secret',
      value: 'root-pw',
      section: { id: 'sec-admin' },
    },
    {
      id: 'replica-pw',
      type: 'CONCEALED',
      label: 'secret',
      value: 'replica-pw',
      section: { id: 'sec-replica' },
    },
  ],
  files: [
    {
      id: 'file-ca',
      name: 'ca.pem',
      size: 7,
      content_path: '/v1/vaults/vault-id/items/item-id/files/file-ca/content',
    },
  ],
};
const files = new Map([['file-ca', Buffer.from('CA-CERT')]]);
const options = { allowEmptyValues: false };

function select(spec: KeysSpec, of: FullItem = item): Record<string, string> {
  const { data } = selectSecretData(of, files, spec, options);
  return Object.fromEntries([...data].map(([key, value]) => [key, value.toString()]));
}

function failure(spec: KeysSpec): KeySpecError {
  try {
    selectSecretData(item, files, spec, options);
  } catch (error) {
    assert.ok(error instanceof KeySpecError, String(error));
    return error;
  }
  assert.fail('expected a KeySpecError');
}

describe('selectSecretData', () => {
  it("is 1Password's mapping, byte for byte, without spec.keys", () => {
    for (const spec of [{}, { keys: [] }, { includeOtherKeys: true }]) {
      assert.deepEqual(
        selectSecretData(item, files, spec, options),
        mapItemToSecretData(item, files, options),
      );
    }
  });

  it('picks by label, section.label, field id and file name, and renames', () => {
    assert.deepEqual(
      select({
        keys: [
          { to: 'PGUSER', from: 'username' },
          { to: 'PGPASSWORD', fromFieldId: 'password' },
          { to: 'ADMIN_PASSWORD', from: 'admin.secret' },
          { to: 'ca.crt', fromFile: 'ca.pem' },
        ],
      }),
      { PGUSER: 'app', PGPASSWORD: 'p@ss', ADMIN_PASSWORD: 'root-pw', 'ca.crt': 'CA-CERT' },
    );
  });

  it('keeps a picked field whose value is empty: it was asked for by name', () => {
    assert.deepEqual(select({ keys: [{ to: 'NOTES', from: 'notes' }] }), { NOTES: '' });
  });

  it('adds the rest of the item with includeOtherKeys, the picked entries renamed, not copied', () => {
    assert.deepEqual(
      select({
        keys: [
          { to: 'PGPASSWORD', from: 'password' },
          { to: 'ca.crt', fromFile: 'ca.pem' },
        ],
        includeOtherKeys: true,
      }),
      // 'secret' twice: 1Password's mapping keeps the last; 'notes' is empty and left out.
      {
        website: 'https://db.example',
        username: 'app',
        secret: 'replica-pw',
        PGPASSWORD: 'p@ss',
        'ca.crt': 'CA-CERT',
      },
    );
  });

  it('lets spec.keys win over the rest, and says so', () => {
    const { data, losses } = selectSecretData(
      item,
      files,
      { keys: [{ to: 'username', from: 'password' }], includeOtherKeys: true },
      options,
    );
    // The picked 'password' field is renamed to 'username'; the item's own username is left out.
    assert.equal(data.get('username')?.toString(), 'p@ss');
    assert.equal(data.has('password'), false);
    assert.ok(losses.some((loss) => loss.kind === 'overridden' && loss.key === 'username'));
    assert.match(describeKeyLosses(losses) ?? '', /key username is taken by spec\.keys/);
  });

  it('refuses a label the item lacks, naming the entry and never a value', () => {
    const error = failure({
      keys: [
        { to: 'a', from: 'username' },
        { to: 'b', from: 'pasword' },
      ],
    });
    assert.equal(error.reason, 'FieldNotFound');
    assert.match(
      error.message,
      /^spec\.keys\[1\]\.from: item "Postgres" has no field labelled "pasword"/,
    );
    assert.deepEqual(classifyFailure(error), {
      reason: 'FieldNotFound',
      message: error.message,
      terminal: true,
    });
  });

  it('refuses a label two sections share, naming both fields by id and section (no values)', () => {
    const error = failure({ keys: [{ to: 'x', from: 'secret' }] });
    assert.equal(error.reason, 'AmbiguousField');
    assert.match(error.message, /spec\.keys\[0\]\.from: 2 fields/);
    assert.match(
      error.message,
      /admin-pw \("admin"\."secret"\), replica-pw \("replica"\."secret"\)/,
    );
    for (const value of ['root-pw', 'replica-pw"', 'p@ss', 'app']) {
      assert.ok(!error.message.includes(value), value);
    }
  });

  it('refuses a missing field id or file, and an entry with no source', () => {
    assert.match(
      failure({ keys: [{ to: 'x', fromFieldId: 'nope' }] }).message,
      /^spec\.keys\[0\]\.fromFieldId: item "Postgres" has no field with id "nope"$/,
    );
    assert.match(
      failure({ keys: [{ to: 'x', fromFile: 'key.pem' }] }).message,
      /^spec\.keys\[0\]\.fromFile: item "Postgres" has no file named "key.pem"$/,
    );
    assert.match(failure({ keys: [{ to: 'x' }] }).message, /^spec\.keys\[0\]: names no source/);
  });

  it('matches labels exactly: no case folding, and a section label alone is no field', () => {
    assert.equal(failure({ keys: [{ to: 'x', from: 'Username' }] }).reason, 'FieldNotFound');
    assert.equal(failure({ keys: [{ to: 'x', from: 'admin' }] }).reason, 'FieldNotFound');
    assert.equal(failure({ keys: [{ to: 'x', from: 'admin.' }] }).reason, 'FieldNotFound');
  });

  it('finds a label that itself holds a dot', () => {
    const dotted: FullItem = {
      ...item,
      fields: [{ id: 'f', type: 'STRING', label: 'db.host', value: 'h' }],
    };
    assert.deepEqual(select({ keys: [{ to: 'HOST', from: 'db.host' }] }, dotted), { HOST: 'h' });
  });
});

describe('buildSecretData (spec.extraItems)', () => {
  const registry: FullItem = {
    ...item,
    id: 'registry-id',
    title: 'registry',
    sections: [],
    urls: [],
    files: [],
    fields: [
      { id: 'u', type: 'STRING', label: 'username', value: 'robot' },
      { id: 'p', type: 'CONCEALED', label: 'token', value: 'tok' },
    ],
  };
  const none = new Map<string, Buffer>();

  it('merges the items, each mapped by its own spec', () => {
    const { data } = buildSecretData(
      [
        { item, files, spec: { keys: [{ to: 'PGPASSWORD', from: 'password' }] }, where: 'spec' },
        { item: registry, files: none, spec: {}, where: 'spec.extraItems[0]' },
      ],
      options,
    );
    assert.deepEqual(Object.fromEntries([...data].map(([key, value]) => [key, value.toString()])), {
      PGPASSWORD: 'p@ss',
      username: 'robot',
      token: 'tok',
    });
  });

  it("refuses a key two items give, even through 1Password's mapping, naming both", () => {
    assert.throws(
      () =>
        buildSecretData(
          [
            { item, files, spec: {}, where: 'spec' },
            { item: registry, files: none, spec: {}, where: 'spec.extraItems[0]' },
          ],
          options,
        ),
      (error: unknown) =>
        error instanceof KeySpecError &&
        error.reason === 'KeyCollision' &&
        error.message ===
          'Secret key username comes from item "Postgres" (spec) and from item "registry" (spec.extraItems[0]); give one another name with keys[].to, or leave it out',
    );
  });

  it('names the extra item in a missing-field message', () => {
    assert.throws(
      () =>
        buildSecretData(
          [
            { item, files, spec: { keys: [{ to: 'A', from: 'username' }] }, where: 'spec' },
            {
              item: registry,
              files: none,
              spec: { keys: [{ to: 'B', from: 'password' }] },
              where: 'spec.extraItems[0]',
            },
          ],
          options,
        ),
      /^KeySpecError: spec\.extraItems\[0\]\.keys\[0\]\.from: item "registry" has no field labelled "password"/,
    );
  });

  it('checks the typed key whichever item gives it', () => {
    assert.doesNotThrow(() =>
      buildSecretData(
        [
          { item, files, spec: { keys: [{ to: 'user', from: 'username' }] }, where: 'spec' },
          {
            item: registry,
            files: none,
            spec: { keys: [{ to: '.dockerconfigjson', template: '{"auths":{}}' }] },
            where: 'spec.extraItems[0]',
          },
        ],
        { ...options, secretType: 'kubernetes.io/dockerconfigjson' },
      ),
    );
  });
});
