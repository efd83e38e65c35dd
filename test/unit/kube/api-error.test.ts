// KubeApiError as built from an apiserver Status, a bare HTTP status or a network failure.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorFromStatus, toKubeApiError } from '../../../src/kube/client/api-error.ts';

describe('errors', () => {
  it('read a Status: code, reason, causes and message', () => {
    const error = errorFromStatus({
      kind: 'Status',
      code: 504,
      reason: 'Timeout',
      message: 'Too large resource version: 50, current: 40',
      details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large' }] },
    });
    assert.equal(error.status, 504);
    assert.equal(error.reason, 'Timeout');
    assert.deepEqual(error.causes, [{ reason: 'ResourceVersionTooLarge', message: 'Too large' }]);
    assert.equal(error.message, 'Too large resource version: 50, current: 40');
  });

  it('name a reason for a bare HTTP status', () => {
    assert.equal(errorFromStatus(undefined, 410).reason, 'Expired');
    assert.equal(errorFromStatus('not a status', 503).reason, 'InternalError');
    assert.equal(errorFromStatus({}, 403).reason, 'Forbidden');
  });

  it('convert network errors and timeouts', () => {
    const network = toKubeApiError(
      new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') }),
    );
    assert.deepEqual([network.status, network.reason], [0, 'Unavailable']);
    assert.match(network.message, /ECONNREFUSED/);
    const timeout = toKubeApiError(new DOMException('slow', 'TimeoutError'));
    assert.deepEqual([timeout.status, timeout.reason], [0, 'Timeout']);
  });
});
