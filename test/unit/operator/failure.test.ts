import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectError } from '../../../src/connect/index.ts';
import { SyncBlockedError, classifyFailure } from '../../../src/operator/failure.ts';
import { InvalidItemPathError } from '../../../src/operator/item-path.ts';
import { InvalidAnnotationError } from '../../../src/operator/workload-refs.ts';

function connectError(status: number, endpoint: string): ConnectError {
  return new ConnectError({ status, method: 'GET', endpoint }, `GET ${endpoint}: answer ${status}`);
}

describe('classifyFailure', () => {
  const cases: [string, unknown, string, boolean][] = [
    ['an invalid path', new InvalidItemPathError('bad'), 'InvalidItemPath', true],
    ['an invalid annotation', new InvalidAnnotationError('bad'), 'InvalidAnnotation', true],
    ['a foreign Secret', new SyncBlockedError('SecretNotOwned', 'x'), 'SecretNotOwned', true],
    ['a type change', new SyncBlockedError('SecretTypeConflict', 'x'), 'SecretTypeConflict', true],
    ['401', connectError(401, '/v1/vaults'), 'Unauthorized', false],
    ['403', connectError(403, '/v1/vaults/{vault}/items/{item}'), 'Forbidden', false],
    ['404 on a vault', connectError(404, '/v1/vaults/{vault}'), 'VaultNotFound', false],
    ['404 on a vault title lookup', connectError(404, '/v1/vaults'), 'VaultNotFound', false],
    ['404 on an item', connectError(404, '/v1/vaults/{vault}/items/{item}'), 'ItemNotFound', false],
    [
      '404 on an item title lookup',
      connectError(404, '/v1/vaults/{vault}/items'),
      'ItemNotFound',
      false,
    ],
    ['429', connectError(429, '/v1/vaults'), 'RateLimited', false],
    ['503', connectError(503, '/v1/vaults'), 'ConnectUnavailable', false],
    ['no answer', connectError(0, '/v1/vaults'), 'ConnectUnavailable', false],
    ['anything else', new Error('boom'), 'SyncFailed', false],
  ];
  for (const [what, error, reason, terminal] of cases) {
    it(`${what} → ${reason}${terminal ? ' (terminal)' : ''}`, () => {
      const failure = classifyFailure(error);
      assert.equal(failure.reason, reason);
      assert.equal(failure.terminal, terminal);
      assert.ok(failure.message.length > 0);
    });
  }
});
