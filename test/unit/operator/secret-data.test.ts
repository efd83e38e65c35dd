import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { FullItem } from '../../../src/connect/index.ts';
import {
  describeKeyLosses,
  mapItemToSecretData,
  sanitizeKey,
  sanitizeSecretName,
} from '../../../src/operator/secret-data.ts';

describe('sanitizeKey (ConfigMap key rules, as 1Password does)', () => {
  const cases: [string, string | undefined][] = [
    ['password', 'password'],
    ['db.host_name-1', 'db.host_name-1'],
    ['😄 ice-cream type', 'ice-cream-type'],
    ['AWS Access Key', 'AWS-Access-Key'],
    ['  spaced  ', 'spaced'],
    ['a/b\\c', 'a-b-c'],
    ['😄', undefined],
    ['', undefined],
    ['x'.repeat(300), 'x'.repeat(253)],
  ];
  for (const [label, key] of cases) {
    it(`${JSON.stringify(label.slice(0, 30))} → ${String(key?.slice(0, 30))}`, () =>
      assert.equal(sanitizeKey(label), key));
  }

  it('always yields a valid key or nothing', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (label) => {
        const key = sanitizeKey(label);
        if (key !== undefined) {
          assert.match(key, /^[-._a-zA-Z0-9]{1,253}$/);
        }
      }),
    );
  });
});

describe('sanitizeSecretName (DNS subdomain, as 1Password does)', () => {
  const cases: [string, string][] = [
    ['database', 'database'],
    ['my.app-secret', 'my.app-secret'],
    ['inV@l1d k8s secret%name', 'inv-l1d-k8s-secret-name'],
    ['-Leading and trailing-', 'leading-and-trailing'],
    ['UPPER', 'upper'],
  ];
  for (const [name, expected] of cases) {
    it(`${JSON.stringify(name)} → ${expected}`, () =>
      assert.equal(sanitizeSecretName(name), expected));
  }
});

function item(partial: Partial<FullItem>): FullItem {
  return {
    id: 'i'.repeat(26),
    title: 't',
    vault: { id: 'v'.repeat(26) },
    category: 'LOGIN',
    version: 1,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    ...partial,
  };
}

/** The Secret's data alone, as the reconcilers take it from mapItemToSecretData. */
function itemToSecretData(...args: Parameters<typeof mapItemToSecretData>): Map<string, Buffer> {
  return mapItemToSecretData(...args).data;
}

function asText(data: Map<string, Buffer>): Record<string, string> {
  return Object.fromEntries([...data].map(([key, value]) => [key, value.toString('utf8')]));
}

describe('itemToSecretData', () => {
  const strict = { allowEmptyValues: false };

  it('maps URLs by label, every field of every section by label, and files by name', () => {
    const data = itemToSecretData(
      item({
        urls: [{ href: 'https://db.example', label: 'website' }, { href: 'https://x.example' }],
        sections: [{ id: 'extra', label: 'Extra' }],
        fields: [
          {
            id: 'username',
            type: 'STRING',
            purpose: 'USERNAME',
            label: 'username',
            value: 'admin',
          },
          {
            id: 'password',
            type: 'CONCEALED',
            purpose: 'PASSWORD',
            label: 'password',
            value: 's3cr3t',
          },
          { id: 'p', type: 'STRING', label: 'port', value: '5432', section: { id: 'extra' } },
          {
            id: 'notesPlain',
            type: 'STRING',
            purpose: 'NOTES',
            label: 'notesPlain',
            value: 'a note',
          },
          {
            id: 'o',
            type: 'OTP',
            label: 'one-time password',
            value: 'otpauth://totp/x?secret=ABC',
          },
        ],
        files: [{ id: 'f1', name: 'ca.pem', size: 3, content_path: '/x' }],
      }),
      new Map([['f1', Buffer.from('PEM')]]),
      strict,
    );
    assert.deepEqual(asText(data), {
      website: 'https://db.example',
      username: 'admin',
      password: 's3cr3t',
      port: '5432',
      notesPlain: 'a note',
      'one-time-password': 'otpauth://totp/x?secret=ABC',
      'ca.pem': 'PEM',
    });
  });

  it('lets the primary URL win among equal labels, and fields overwrite URLs', () => {
    const data = itemToSecretData(
      item({
        urls: [
          { href: 'https://primary.example', label: 'site', primary: true },
          { href: 'https://secondary.example', label: 'site' },
          { href: 'https://shadowed.example', label: 'token' },
        ],
        fields: [{ id: 'a', type: 'CONCEALED', label: 'token', value: 'field-wins' }],
      }),
      new Map(),
      strict,
    );
    assert.deepEqual(asText(data), { site: 'https://primary.example', token: 'field-wins' });
  });

  it('never lets a file overwrite a field of the same key', () => {
    const data = itemToSecretData(
      item({
        fields: [{ id: 'a', type: 'STRING', label: 'config.json', value: 'from field' }],
        files: [{ id: 'f', name: 'config.json', size: 9, content_path: '/x' }],
      }),
      new Map([['f', Buffer.from('from file')]]),
      strict,
    );
    assert.deepEqual(asText(data), { 'config.json': 'from field' });
  });

  it('skips empty values unless allowed, and labels that sanitise to nothing', () => {
    const fields = [
      { id: 'a', type: 'STRING' as const, label: 'empty', value: '' },
      { id: 'b', type: 'STRING' as const, label: 'missing' },
      { id: 'c', type: 'STRING' as const, label: '😄', value: 'lost' },
    ];
    assert.deepEqual(asText(itemToSecretData(item({ fields }), new Map(), strict)), {});
    assert.deepEqual(
      asText(itemToSecretData(item({ fields }), new Map(), { allowEmptyValues: true })),
      {
        empty: '',
        missing: '',
      },
    );
  });

  it('keeps binary file content byte for byte', () => {
    const bytes = Buffer.from([0, 255, 128, 10]);
    const data = itemToSecretData(
      item({ files: [{ id: 'f', name: 'blob.bin', size: 4, content_path: '/x' }] }),
      new Map([['f', bytes]]),
      strict,
    );
    assert.ok(data.get('blob.bin')?.equals(bytes));
  });
});

describe('mapItemToSecretData reports what the mapping loses', () => {
  const strict = { allowEmptyValues: false };
  const secretValues = ['v-api-1', 'v-api-2', 'v-api-3', 'v-bang', 'v-key', 'v-none', 'v-file'];

  it('names merged labels, labels with no key and shadowed files, never a value', () => {
    const result = mapItemToSecretData(
      item({
        fields: [
          { id: 'a', type: 'STRING', label: 'api key', value: secretValues[0] },
          { id: 'b', type: 'STRING', label: 'api-key', value: secretValues[1] },
          { id: 'c', type: 'STRING', label: 'api/key', value: secretValues[2] },
          { id: 'd', type: 'STRING', label: '!!!', value: secretValues[3] },
          { id: 'e', type: 'STRING', label: '🔑', value: secretValues[4] },
          { id: 'f', type: 'STRING', label: '', value: secretValues[5] },
          { id: 'g', type: 'STRING', label: 'quiet', value: '' },
          { id: 'h', type: 'STRING', label: '???', value: '' },
        ],
        files: [
          { id: 'x', name: 'api key', size: 6, content_path: '/c' },
          { id: 'y', name: '@@', size: 6, content_path: '/c' },
        ],
      }),
      new Map([
        ['x', Buffer.from(secretValues[6] ?? '')],
        ['y', Buffer.from(secretValues[6] ?? '')],
      ]),
      strict,
    );
    // 1Password's mapping is kept: the last field of a merged key wins.
    assert.equal(result.data.get('api-key')?.toString(), 'v-api-3');
    assert.deepEqual(result.losses, [
      { kind: 'noKey', entry: 'field "!!!"' },
      { kind: 'noKey', entry: 'field "🔑"' },
      { kind: 'noKey', entry: 'unlabelled field f' },
      {
        kind: 'merged',
        key: 'api-key',
        entries: ['field "api key"', 'field "api-key"', 'field "api/key"'],
      },
      { kind: 'fileShadowed', key: 'api-key', entry: 'file "api key"' },
      { kind: 'noKey', entry: 'file "@@"' },
    ]);
    const sentence = describeKeyLosses(result.losses) ?? '';
    assert.match(
      sentence,
      /field "api key", field "api-key", field "api\/key" all map to key api-key/,
    );
    for (const value of secretValues) assert.equal(sentence.includes(value), false);
  });

  it('reports nothing when every entry keeps its own key, and empty values are not losses', () => {
    const result = mapItemToSecretData(
      item({
        fields: [
          { id: 'a', type: 'STRING', label: 'password', value: 'p' },
          { id: 'b', type: 'STRING', label: '!!!', value: '' },
        ],
      }),
      new Map(),
      strict,
    );
    assert.deepEqual(result.losses, []);
    assert.equal(describeKeyLosses(result.losses), undefined);
  });

  it('lists at most ten losses and counts the rest', () => {
    const fields = Array.from({ length: 15 }, (_, index) => ({
      id: `f${index}`,
      type: 'STRING' as const,
      label: '#'.repeat(index + 1),
      value: 'v',
    }));
    const sentence = describeKeyLosses(
      mapItemToSecretData(item({ fields }), new Map(), strict).losses,
    );
    assert.match(sentence ?? '', /and 5 more$/);
  });
});
