import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import {
  claimSecret,
  deletableWhenReleased,
  type SecretClaimant,
} from '../../../src/operator/secret-ownership.ts';

const VAULT = 'v'.repeat(26);
const ITEM = 'i'.repeat(26);
const OTHER_ITEM = 'o'.repeat(26);
const PATH = `vaults/${VAULT}/items/${ITEM}`;

interface Ref {
  readonly uid: string;
  readonly kind: string;
  readonly name?: string;
  readonly controller?: boolean;
}

function secret(options: {
  refs?: Ref[];
  itemPath?: string;
  /** Written by op-kube (label and field manager), as opposed to 1Password's operator or a user. */
  opKube?: boolean;
}): V1Secret {
  return {
    metadata: {
      name: 'db',
      namespace: 'apps',
      ownerReferences: (options.refs ?? []).map((ref) => ({
        apiVersion: ref.kind === 'Deployment' ? 'apps/v1' : 'onepassword.com/v1',
        kind: ref.kind,
        name: ref.name ?? ref.uid,
        uid: ref.uid,
        controller: ref.controller ?? ref.kind !== 'Deployment',
      })),
      annotations: options.itemPath ? { 'operator.1password.io/item-path': options.itemPath } : {},
      labels: options.opKube ? { 'app.kubernetes.io/managed-by': 'op-kube' } : {},
      managedFields: [{ manager: options.opKube ? 'op-kube' : 'onepassword-operator' }],
    },
    data: {},
  };
}

const item: SecretClaimant = {
  kind: 'OnePasswordItem',
  name: 'db',
  uid: 'opi-1',
  vaultId: VAULT,
  itemId: ITEM,
};
const web: SecretClaimant = {
  kind: 'Deployment',
  name: 'web',
  uid: 'dep-1',
  vaultId: VAULT,
  itemId: ITEM,
};
const opiRef: Ref = { uid: 'opi-1', kind: 'OnePasswordItem', name: 'db' };
const webRef: Ref = { uid: 'dep-1', kind: 'Deployment', name: 'web' };
const apiRef: Ref = { uid: 'dep-2', kind: 'Deployment', name: 'api' };

describe('claimSecret: one owner kind per Secret', () => {
  const table: [string, V1Secret | undefined, SecretClaimant, string, string?][] = [
    ['no Secret', undefined, item, 'absent'],
    [
      'the item’s own Secret',
      secret({ refs: [opiRef], opKube: true, itemPath: PATH }),
      item,
      'owned',
    ],
    ['1Password’s Secret for this item object', secret({ refs: [opiRef] }), item, 'adoptable'],
    ['1Password’s Secret for this item, no owner', secret({ itemPath: PATH }), item, 'adoptable'],
    [
      'another OnePasswordItem’s Secret',
      secret({
        refs: [{ uid: 'opi-2', kind: 'OnePasswordItem', name: 'other' }],
        opKube: true,
        itemPath: PATH,
      }),
      item,
      'ownedByOther',
      'OnePasswordItem other',
    ],
    [
      'Deployments’ Secret, same item',
      secret({ refs: [webRef], opKube: true, itemPath: PATH }),
      item,
      'ownedByOther',
      'Deployment web',
    ],
    [
      'a Deployment over a OnePasswordItem’s Secret',
      secret({ refs: [opiRef], opKube: true, itemPath: PATH }),
      web,
      'ownedByOther',
      'OnePasswordItem db',
    ],
    [
      'a Deployment’s own Secret',
      secret({ refs: [webRef], opKube: true, itemPath: PATH }),
      web,
      'owned',
    ],
    [
      'a Deployment joining others for the same item',
      secret({ refs: [apiRef], opKube: true, itemPath: PATH }),
      web,
      'owned',
    ],
    [
      'a Deployment joining others for another item',
      secret({ refs: [apiRef], opKube: true, itemPath: `vaults/${VAULT}/items/${OTHER_ITEM}` }),
      web,
      'ownedByOther',
      'Deployment api',
    ],
    [
      'the sole Deployment switching its item',
      secret({ refs: [webRef], opKube: true, itemPath: `vaults/${VAULT}/items/${OTHER_ITEM}` }),
      web,
      'owned',
    ],
    [
      '1Password’s Secret for a Deployment',
      secret({ refs: [webRef], itemPath: PATH }),
      web,
      'adoptable',
    ],
    ['a user’s Secret', secret({}), item, 'foreign'],
    ['a user’s Secret, for a Deployment', secret({}), web, 'foreign'],
    [
      'a user’s Secret that names another item',
      secret({ itemPath: `vaults/${VAULT}/items/${OTHER_ITEM}` }),
      item,
      'foreign',
    ],
    [
      'another controller’s Secret',
      secret({
        refs: [{ uid: 'x', kind: 'ExternalSecret', name: 'es', controller: true }],
        itemPath: PATH,
      }),
      item,
      'foreign',
      'ExternalSecret es',
    ],
  ];
  for (const [title, existing, claimant, kind, holder] of table) {
    it(`${title} → ${kind}`, () => {
      const claim = claimSecret(existing, claimant);
      assert.equal(claim.kind, kind);
      if (holder !== undefined) {
        assert.ok('message' in claim);
        assert.match(claim.message, new RegExp(holder));
      }
    });
  }

  it('names the holder and the claimant in the refusal, for the Event on both', () => {
    const claim = claimSecret(secret({ refs: [opiRef], opKube: true }), web);
    assert.equal(claim.kind, 'ownedByOther');
    assert.deepEqual(claim.kind === 'ownedByOther' && claim.holder, {
      apiVersion: 'onepassword.com/v1',
      kind: 'OnePasswordItem',
      name: 'db',
      uid: 'opi-1',
    });
    assert.match(claim.kind === 'ownedByOther' ? claim.message : '', /Deployment web/);
  });
});

describe('deletableWhenReleased', () => {
  it('deletes only op-kube’s Secrets held by Deployments alone', () => {
    assert.equal(deletableWhenReleased(secret({ refs: [webRef], opKube: true })), true);
    assert.equal(deletableWhenReleased(secret({ refs: [webRef, opiRef], opKube: true })), false);
    assert.equal(deletableWhenReleased(secret({ refs: [opiRef], opKube: true })), false);
    assert.equal(deletableWhenReleased(secret({ refs: [webRef] })), false);
    assert.equal(deletableWhenReleased(secret({ opKube: true })), false);
  });
});
