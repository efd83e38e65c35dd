// auditOf and activityEntry: what a served route records, from its scope and decoded parameters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { activityEntry, auditOf, type RequestFacts } from '../../../src/connect-local/audit.ts';
import type { Principal } from '../../../src/connect-local/token-registry.ts';

const VAULT = 'v'.repeat(26);
const ITEM = 'i'.repeat(26);

const facts = (status: number, refusedJti = ''): RequestFacts => ({
  requestId: 'r',
  timestamp: '2026-01-01T00:00:00.000Z',
  status,
  refusedJti,
  userAgent: 'ua',
  requestIp: '127.0.0.1',
});

const principal: Principal = { jti: 'jti-1', accountId: 'acct', grants: new Map() };

describe('auditOf', () => {
  it('takes the action from the route method, the resource from its scope and parameters', () => {
    assert.deepEqual(auditOf('get', 'item', { vaultId: VAULT, itemId: ITEM }), {
      action: 'READ',
      vaultId: VAULT,
      itemId: ITEM,
    });
    assert.deepEqual(auditOf('patch', 'item', { vaultId: VAULT, itemId: ITEM }), {
      action: 'UPDATE',
      vaultId: VAULT,
      itemId: ITEM,
    });
    assert.deepEqual(auditOf('delete', 'item', { vaultId: VAULT, itemId: ITEM }), {
      action: 'DELETE',
      vaultId: VAULT,
      itemId: ITEM,
    });
    assert.deepEqual(auditOf('post', 'vault', { vaultId: VAULT }), {
      action: 'CREATE',
      vaultId: VAULT,
    });
    assert.deepEqual(auditOf('get', 'vaults', {}), { action: 'READ', vaultId: '' });
    assert.equal(auditOf('get', 'none', { vaultId: VAULT }), undefined);
  });

  it('names no resource that is not an id (such requests answer 400)', () => {
    assert.equal(auditOf('get', 'vault', { vaultId: 'Production' }), undefined);
    assert.equal(auditOf('get', 'item', { vaultId: VAULT.toUpperCase(), itemId: ITEM }), undefined);
    assert.deepEqual(auditOf('get', 'item', { vaultId: VAULT, itemId: `${ITEM}/` }), {
      action: 'READ',
      vaultId: VAULT,
    });
  });
});

describe('activityEntry', () => {
  const audit = { action: 'READ', vaultId: VAULT, itemId: ITEM, itemVersion: 3 } as const;

  it('records successes with the principal, refusals with the refused jti, nothing else', () => {
    const success = activityEntry(audit, principal, facts(200));
    assert.equal(success?.result, 'SUCCESS');
    assert.deepEqual(success?.actor, {
      id: 'jti-1',
      account: 'acct',
      jti: 'jti-1',
      userAgent: 'ua',
      requestIp: '127.0.0.1',
    });
    assert.deepEqual(success?.resource, {
      type: 'ITEM',
      vault: { id: VAULT },
      item: { id: ITEM },
      itemVersion: 3,
    });
    const refused = activityEntry(audit, undefined, facts(401, 'revoked-jti'));
    assert.equal(refused?.result, 'DENY');
    assert.equal(refused?.actor.id, '');
    assert.equal(refused?.actor.jti, 'revoked-jti');
    assert.equal(activityEntry(audit, principal, facts(403))?.result, 'DENY');
    for (const status of [400, 404, 413, 429, 500, 503]) {
      assert.equal(activityEntry(audit, principal, facts(status)), undefined, String(status));
    }
    assert.equal(activityEntry(undefined, principal, facts(200)), undefined);
  });
});
