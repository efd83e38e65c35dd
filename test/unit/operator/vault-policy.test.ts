// The vault access rules: parsing the namespace annotation, and allow/deny for every way a tenant can
// spell a vault (title, id, other case, id of a listed name, name of a listed id, look-alikes).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  allowedVaults,
  confirmVault,
  decideVault,
  type AllowedVaults,
  type VaultIdentity,
} from '../../../src/operator/vault-policy.ts';

const PRODUCTION = 'production0000000000000000';
const PAYROLL = 'payroll0000000000000000000';
const OLD_PROD = 'oldprod0000000000000000000';
/** Looks like an id but is the title of a vault. */
const ID_TITLED = 'abcdefghijklmnopqrstuvwxyz';
const ID_TITLED_ID = 'idtitled000000000000000000';

const VAULTS: VaultIdentity[] = [
  { id: PRODUCTION, name: 'Production', createdAt: '2024-01-02T00:00:00Z' },
  { id: PAYROLL, name: 'Payroll', createdAt: '2024-01-01T00:00:00Z' },
  // An older vault with the same title as PAYROLL, case aside: 1Password picks the oldest.
  { id: OLD_PROD, name: 'PRODUCTION', createdAt: '2020-01-01T00:00:00Z' },
  { id: ID_TITLED_ID, name: ID_TITLED, createdAt: '2024-01-03T00:00:00Z' },
];

describe('allowedVaults', () => {
  const cases: [string | null | undefined, 'allow-unlisted' | 'deny-unlisted', AllowedVaults][] = [
    [undefined, 'allow-unlisted', { kind: 'all', why: 'unlisted' }],
    [undefined, 'deny-unlisted', { kind: 'none', why: 'unlisted' }],
    [null, 'allow-unlisted', { kind: 'none', why: 'no-namespace' }],
    ['*', 'deny-unlisted', { kind: 'all', why: 'wildcard' }],
    [' * ', 'deny-unlisted', { kind: 'all', why: 'wildcard' }],
    ['Production, *', 'deny-unlisted', { kind: 'all', why: 'wildcard' }],
    ['', 'allow-unlisted', { kind: 'none', why: 'empty' }],
    [' , ,, ', 'allow-unlisted', { kind: 'none', why: 'empty' }],
    ['Production', 'allow-unlisted', { kind: 'listed', entries: ['Production'] }],
    [
      ' Production ,Staging,,production, STAGING ',
      'allow-unlisted',
      { kind: 'listed', entries: ['Production', 'Staging'] },
    ],
    // Only a lone `*` is a wildcard; anything else is a literal name.
    ['Prod*', 'allow-unlisted', { kind: 'listed', entries: ['Prod*'] }],
    ['**', 'allow-unlisted', { kind: 'listed', entries: ['**'] }],
    [PAYROLL, 'allow-unlisted', { kind: 'listed', entries: [PAYROLL] }],
  ];
  for (const [annotation, policy, expected] of cases) {
    it(`${JSON.stringify(annotation)} with ${policy}`, () =>
      assert.deepEqual(allowedVaults(annotation, policy), expected));
  }

  it('parses any string without throwing, and lists only trimmed non-empty entries', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (annotation) => {
        const allowed = allowedVaults(annotation, 'allow-unlisted');
        if (allowed.kind === 'listed') {
          assert.ok(allowed.entries.length > 0);
          for (const entry of allowed.entries) {
            assert.equal(entry, entry.trim());
            assert.ok(entry !== '' && entry !== '*' && !entry.includes(','));
          }
        }
      }),
    );
  });
});

describe('decideVault', () => {
  const listed = (annotation: string): AllowedVaults => allowedVaults(annotation, 'deny-unlisted');
  type Expect = 'allow' | 'deny' | 'needs-vaults' | { pinned: string };
  const cases: [string, AllowedVaults, string, readonly VaultIdentity[] | undefined, Expect][] = [
    ['no policy', allowedVaults(undefined, 'allow-unlisted'), 'Payroll', undefined, 'allow'],
    ['wildcard', listed('*'), 'Payroll', undefined, 'allow'],
    ['deny-unlisted', allowedVaults(undefined, 'deny-unlisted'), 'Production', VAULTS, 'deny'],
    ['empty list', listed(''), 'Production', VAULTS, 'deny'],
    ['no namespace', allowedVaults(null, 'allow-unlisted'), 'Production', VAULTS, 'deny'],
    // Written as listed: allowed without the vault list, whatever the case.
    ['listed title', listed('Production'), 'Production', undefined, 'allow'],
    ['listed title, other case', listed('Production'), 'pRODUCTION', undefined, 'allow'],
    ['listed id', listed(PAYROLL), PAYROLL, undefined, 'allow'],
    ['listed id, upper case', listed(PAYROLL), PAYROLL.toUpperCase(), undefined, 'allow'],
    // Not written as listed: the vault list decides.
    ['unlisted title', listed('Production'), 'Payroll', undefined, 'needs-vaults'],
    ['unlisted title', listed('Production'), 'Payroll', VAULTS, 'deny'],
    ['unlisted id', listed('Production'), PAYROLL, VAULTS, 'deny'],
    ['id of a listed name', listed('Production'), PRODUCTION, VAULTS, { pinned: PRODUCTION }],
    ['name of a listed id', listed(PAYROLL), 'payroll', VAULTS, { pinned: PAYROLL }],
    // Two vaults titled Production: the lookup lands on the oldest, which the list must allow.
    ['title of two vaults, newer listed', listed(PRODUCTION), 'Production', VAULTS, 'deny'],
    [
      'title of two vaults, oldest listed',
      listed(OLD_PROD),
      'production',
      VAULTS,
      { pinned: OLD_PROD },
    ],
    // An id-like title: tried as an id first, as the client does, then as a title.
    ['id-like title', listed(ID_TITLED_ID), ID_TITLED, VAULTS, { pinned: ID_TITLED_ID }],
    ['unknown vault', listed('Production'), 'Nope', VAULTS, 'deny'],
    ['unknown id', listed('Production'), 'zzzzzzzzzzzzzzzzzzzzzzzzzz', VAULTS, 'deny'],
    ['no vault at all', listed('Production'), 'Production2', [], 'deny'],
    // Look-alikes a tenant might try.
    ['wildcard reference', listed('Production'), '*', VAULTS, 'deny'],
    ['comma injection', listed('Production'), 'Production, Payroll', VAULTS, 'deny'],
    ['padded title', listed('Production'), ' Production ', VAULTS, 'deny'],
    ['prefix', listed('Prod'), 'Production', VAULTS, 'deny'],
    ['glob is literal', listed('Prod*'), 'Production', VAULTS, 'deny'],
    ['title with a comma, by id', listed(PAYROLL), PAYROLL, undefined, 'allow'],
  ];
  for (const [name, allowed, reference, vaults, expected] of cases) {
    it(`${name}: ${JSON.stringify(reference)} → ${JSON.stringify(expected)}`, () => {
      const decision = decideVault({
        namespace: 'team-a',
        allowed,
        reference,
        ...(vaults ? { vaults } : {}),
      });
      if (typeof expected === 'object') {
        assert.deepEqual(decision, { verdict: 'allow', vaultId: expected.pinned });
      } else {
        assert.equal(decision.verdict, expected);
      }
      if (expected === 'allow') assert.deepEqual(decision, { verdict: 'allow' });
    });
  }

  it('names what the tenant wrote and the namespace list, never a vault it found', () => {
    const decision = decideVault({
      namespace: 'team-a',
      allowed: listed('Production, Staging'),
      reference: PAYROLL,
      vaults: VAULTS,
    });
    assert.equal(decision.verdict, 'deny');
    assert.equal(
      decision.verdict === 'deny' && decision.message,
      `vault "${PAYROLL}" is not allowed in namespace team-a: its op-kube.io/allowed-vaults annotation allows Production, Staging`,
    );
    assert.doesNotMatch(JSON.stringify(decision), /Payroll/);
  });

  it('says the same for a vault that does not exist, so a denial is no existence oracle', () => {
    const message = (reference: string): string => {
      const decision = decideVault({
        namespace: 'n',
        allowed: listed('Production'),
        reference,
        vaults: VAULTS,
      });
      return decision.verdict === 'deny' ? decision.message.replace(reference, 'X') : '';
    };
    assert.equal(message('Payroll'), message('Nope'));
  });

  it('explains deny-unlisted, an empty list and a long list in one short message', () => {
    const message = (allowed: AllowedVaults): string => {
      const decision = decideVault({ namespace: 'n', allowed, reference: 'V', vaults: [] });
      return decision.verdict === 'deny' ? decision.message : '';
    };
    assert.match(
      message(allowedVaults(undefined, 'deny-unlisted')),
      /--vault-policy=deny-unlisted/,
    );
    assert.match(message(listed(' , ')), /allows no vault/);
    const long = message(listed(Array.from({ length: 40 }, (_, i) => `vault-${i}`).join(',')));
    assert.match(long, /vault-4, … \(40 in all\)$/);
    assert.doesNotMatch(long, /vault-5/);
  });

  it('never allows a vault the list does not allow, for any reference and vault list', () => {
    const name = fc.constantFrom('Production', 'production', 'Payroll', 'Staging', ID_TITLED, '*');
    const id = fc.constantFrom(PRODUCTION, PAYROLL, OLD_PROD, ID_TITLED_ID);
    const vault = fc.record({
      id,
      name,
      createdAt: fc.constantFrom('2020-01-01T00:00:00Z', '2024-01-01T00:00:00Z', 'garbage'),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(vault, { selector: (v) => v.id, maxLength: 4 }),
        fc.array(fc.oneof(name, id), { maxLength: 3 }),
        fc.oneof(name, id),
        (vaults, entries, reference) => {
          const allowed = listed(entries.join(','));
          const decision = decideVault({ namespace: 'n', allowed, reference, vaults });
          if (decision.verdict !== 'allow' || allowed.kind !== 'listed') return;
          const folded = allowed.entries.map((entry) => entry.toLowerCase());
          // Whatever vault a lookup of `reference` (or of the pinned id) lands on is allowed.
          const reachable = vaults.filter((v) =>
            decision.vaultId !== undefined
              ? v.id === decision.vaultId
              : v.id === reference || v.name.toLowerCase() === reference.toLowerCase(),
          );
          for (const v of reachable) {
            assert.ok(
              folded.includes(v.id) || folded.includes(v.name.toLowerCase()),
              `${reference} reached ${v.id}/${v.name} outside ${entries.join(',')}`,
            );
          }
        },
      ),
    );
  });
});

describe('confirmVault', () => {
  const listed = allowedVaults('Production', 'allow-unlisted');
  const confirm = (
    vaultId: string,
    pinned: string | undefined,
    vaults?: readonly VaultIdentity[],
  ): string =>
    confirmVault({
      namespace: 'n',
      allowed: listed,
      reference: 'Production',
      pinned,
      vaultId,
      ...(vaults ? { vaults } : {}),
    }).verdict;

  it('allows the pinned vault without the list', () =>
    assert.equal(confirm(PAYROLL, PAYROLL), 'allow'));
  it('allows a vault whose listed name the list shows', () =>
    assert.equal(confirm(PRODUCTION, undefined, VAULTS), 'allow'));
  it('needs the list to match a name', () =>
    assert.equal(confirm(PRODUCTION, undefined), 'needs-vaults'));
  it('denies a resolution that left the pinned vault', () =>
    assert.equal(confirm(PAYROLL, PRODUCTION, VAULTS), 'deny'));
  it('denies a vault renamed since (the list shows its new name)', () =>
    assert.equal(
      confirm(PRODUCTION, undefined, [{ id: PRODUCTION, name: 'Retired', createdAt: '' }]),
      'deny',
    ));
  it('denies a vault missing from the list', () =>
    assert.equal(confirm(PRODUCTION, undefined, []), 'deny'));
  it('allows everything when every vault is allowed', () =>
    assert.equal(
      confirmVault({
        namespace: 'n',
        allowed: allowedVaults(undefined, 'allow-unlisted'),
        reference: 'x',
        pinned: undefined,
        vaultId: PAYROLL,
      }).verdict,
      'allow',
    ));
});
