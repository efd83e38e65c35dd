// The gate around item lookups: a denied vault is never looked up (only the vault list is read),
// an allowed one is looked up in the vault the decision was about, and the vault list is reused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Vault } from '../../../src/connect/index.ts';
import { SyncBlockedError } from '../../../src/operator/failure.ts';
import type { ItemPath } from '../../../src/operator/item-path.ts';
import type { ItemRef } from '../../../src/operator/item-source.ts';
import { VaultGate, type VaultSource } from '../../../src/operator/vault-gate.ts';
import type { VaultPolicy } from '../../../src/operator/vault-policy.ts';

const PRODUCTION = 'production0000000000000000';
const PAYROLL = 'payroll0000000000000000000';
const ITEM = 'item0000000000000000000000';

function vault(id: string, name: string): Vault {
  return {
    id,
    name,
    attributeVersion: 1,
    contentVersion: 1,
    items: 1,
    type: 'USER_CREATED',
    createdAt: '2024-01-01T00:00:00Z',
    updatedAt: '2024-01-01T00:00:00Z',
  };
}

/** A source that records what was asked of it; `resolve` answers with `resolvesTo` or the path. */
class FakeSource implements VaultSource {
  readonly resolved: ItemPath[] = [];
  readonly listings: (number | undefined)[] = [];
  vaultList: Vault[] = [vault(PRODUCTION, 'Production'), vault(PAYROLL, 'Payroll')];
  resolvesTo: string | undefined;

  resolve(path: ItemPath): Promise<ItemRef> {
    this.resolved.push(path);
    const byTitle = this.vaultList.find((v) => v.name.toLowerCase() === path.vault.toLowerCase());
    return Promise.resolve({
      vaultId: this.resolvesTo ?? byTitle?.id ?? path.vault,
      itemId: ITEM,
    });
  }

  vaults(maxAgeMs?: number): Promise<readonly Vault[]> {
    this.listings.push(maxAgeMs);
    return Promise.resolve(this.vaultList);
  }
}

function gate(annotation: string | null | undefined, policy: VaultPolicy = 'allow-unlisted') {
  const source = new FakeSource();
  const asked: string[] = [];
  const vaultGate = new VaultGate({
    policy,
    sourceFor: () => source,
    namespaces: {
      annotation: (namespace, name) => {
        asked.push(`${namespace}:${name}`);
        return Promise.resolve(annotation);
      },
    },
  });
  let denials = 0;
  const resolve = (vaultRef: string): Promise<ItemRef> =>
    vaultGate.resolve('team-a', { vault: vaultRef, item: 'bank' }, () => (denials += 1));
  return { source, resolve, asked, denials: () => denials };
}

async function refused(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SyncBlockedError, String(error));
    assert.equal(error.reason, 'VaultNotAllowed');
    return error.message;
  }
  assert.fail('not refused');
}

describe('VaultGate', () => {
  it('without a policy, looks the path up as written and never lists vaults', async () => {
    const { source, resolve, asked } = gate(undefined);
    assert.deepEqual(await resolve('Payroll'), { vaultId: PAYROLL, itemId: ITEM });
    assert.deepEqual(source.resolved, [{ vault: 'Payroll', item: 'bank' }]);
    assert.deepEqual(source.listings, []);
    assert.deepEqual(asked, ['team-a:op-kube.io/allowed-vaults']);
  });

  it('refuses a vault off the list without any lookup, and tells the caller', async () => {
    const { source, resolve, denials } = gate('Production');
    for (const reference of ['Payroll', PAYROLL, 'payroll', 'Nope']) {
      assert.match(await refused(resolve(reference)), /is not allowed in namespace team-a/);
    }
    assert.deepEqual(source.resolved, []);
    assert.equal(denials(), 4);
  });

  it('looks an id of a listed name up in that vault only', async () => {
    const { source, resolve } = gate('Production');
    await resolve(PRODUCTION);
    assert.deepEqual(source.resolved, [{ vault: PRODUCTION, item: 'bank' }]);
    const byName = gate(PRODUCTION);
    await byName.resolve('production');
    assert.deepEqual(byName.source.resolved, [{ vault: PRODUCTION, item: 'bank' }]);
  });

  it('uses the known vault list, and a fresh one only to re-check a denial', async () => {
    const allowed = gate('Production');
    await allowed.resolve(PRODUCTION);
    assert.deepEqual(allowed.source.listings, [undefined]);
    const denied = gate('Production');
    await refused(denied.resolve(PAYROLL));
    assert.deepEqual(denied.source.listings, [undefined, 10_000]);
  });

  it('refuses an item that resolved outside the vault it was allowed for', async () => {
    const { source, resolve, denials } = gate('Production');
    source.resolvesTo = PAYROLL;
    assert.match(await refused(resolve('Production')), /resolved to a vault that is not allowed/);
    assert.equal(denials(), 1);
  });

  it('refuses everything in a namespace that is gone, or unlisted under deny-unlisted', async () => {
    assert.match(await refused(gate(null).resolve('Production')), /namespace was not found/);
    const strict = gate(undefined, 'deny-unlisted');
    assert.match(await refused(strict.resolve('Production')), /deny-unlisted/);
    assert.deepEqual(strict.source.resolved, []);
    assert.deepEqual(await gate('*', 'deny-unlisted').resolve('Payroll'), {
      vaultId: PAYROLL,
      itemId: ITEM,
    });
  });
});
