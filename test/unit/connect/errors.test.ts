// reasonForStatus and ConnectError: the machine reasons conditions and metrics are keyed by.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConnectError,
  isConnectError,
  reasonForStatus,
  type ConnectErrorReason,
} from '../../../src/connect/index.ts';

describe('reasonForStatus', () => {
  const cases: [number, ConnectErrorReason][] = [
    [0, 'Unavailable'],
    [400, 'BadRequest'],
    [401, 'Unauthorized'],
    [403, 'Forbidden'],
    [404, 'NotFound'],
    [413, 'TooLarge'],
    [500, 'Unavailable'],
    [502, 'Unavailable'],
    [503, 'Unavailable'],
    [599, 'Unavailable'],
    [200, 'Unexpected'],
    [302, 'Unexpected'],
    [405, 'Unexpected'],
    [409, 'Unexpected'],
    [429, 'Unexpected'],
    [600, 'Unexpected'],
  ];
  for (const [status, reason] of cases) {
    it(`${status} → ${reason}`, () => assert.equal(reasonForStatus(status), reason));
  }
});

describe('ConnectError', () => {
  it('derives its reason from the status unless given one', () => {
    const init = { status: 404, method: 'GET', endpoint: '/v1/vaults/{vault}' };
    const error = new ConnectError(init, 'GET /v1/vaults/{vault}: vault x not found (404)');
    assert.equal(error.reason, 'NotFound');
    assert.equal(error.attempts, 1);
    assert.equal(error.name, 'ConnectError');
    assert.ok(error instanceof Error);
    assert.equal(new ConnectError({ ...init, reason: 'Unexpected' }, 'm').reason, 'Unexpected');
  });

  it('serialises its machine fields for structured logs', () => {
    const error = new ConnectError({ status: 0, method: 'GET', endpoint: '/health' }, 'm');
    assert.deepEqual(JSON.parse(JSON.stringify(error)), {
      name: 'ConnectError',
      status: 0,
      reason: 'Unavailable',
      method: 'GET',
      endpoint: '/health',
      attempts: 1,
    });
  });

  it('isConnectError narrows by reason', () => {
    const error = new ConnectError({ status: 403, method: 'GET', endpoint: '/v1/vaults' }, 'm');
    assert.equal(isConnectError(error), true);
    assert.equal(isConnectError(error, 'Forbidden'), true);
    assert.equal(isConnectError(error, 'NotFound'), false);
    assert.equal(isConnectError(new Error('x')), false);
  });
});
