import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  InvalidItemPathError,
  formatItemPath,
  parseItemPath,
} from '../../../src/operator/item-path.ts';

describe('parseItemPath', () => {
  const valid: [string, string, string][] = [
    ['vaults/Production/items/database', 'Production', 'database'],
    [
      'vaults/abcdefghijklmnopqrstuvwxyz/items/0123456789abcdefghijklmnop',
      'abcdefghijklmnopqrstuvwxyz',
      '0123456789abcdefghijklmnop',
    ],
    ['vaults/My Vault/items/My Item', 'My Vault', 'My Item'],
    ['vaults/Prod/items/a%2Fb', 'Prod', 'a/b'],
    ['vaults/Prod%20EU/items/x', 'Prod EU', 'x'],
    ['vaults/Sales/items/50% off', 'Sales', '50% off'],
    ['vaults/Ünïcødé/items/😄 ice-cream', 'Ünïcødé', '😄 ice-cream'],
  ];
  for (const [path, vault, item] of valid) {
    it(`${path} → ${vault} / ${item}`, () =>
      assert.deepEqual(parseItemPath(path), { vault, item }));
  }

  const invalid = [
    '',
    'vaults/Prod',
    'vaults/Prod/items',
    'vaults/Prod/items/',
    'vaults//items/x',
    'vault/Prod/items/x',
    'vaults/Prod/item/x',
    'vaults/Prod/items/a/b',
    '/vaults/Prod/items/x',
    'vaults/ /items/x',
    `vaults/Prod/items/${'x'.repeat(1100)}`,
  ];
  for (const path of invalid) {
    it(`refuses ${JSON.stringify(path.slice(0, 40))}`, () => {
      assert.throws(
        () => parseItemPath(path),
        (error: unknown) =>
          error instanceof InvalidItemPathError && error.reason === 'InvalidItemPath',
      );
    });
  }

  it('round-trips any vault and item title through percent-encoding', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((s) => s.trim() !== ''),
        fc.string({ minLength: 1 }).filter((s) => s.trim() !== ''),
        (vault, item) => {
          const path = `vaults/${encodeURIComponent(vault)}/items/${encodeURIComponent(item)}`;
          fc.pre(path.length <= 1024);
          assert.deepEqual(parseItemPath(path), { vault, item });
        },
      ),
    );
  });

  it('formats the normalised annotation value', () => {
    assert.equal(
      formatItemPath('v'.repeat(26), 'i'.repeat(26)),
      `vaults/${'v'.repeat(26)}/items/${'i'.repeat(26)}`,
    );
  });
});
