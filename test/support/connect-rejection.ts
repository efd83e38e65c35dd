// Awaits what must fail with a ConnectError, for tests of the Connect client's failures.
import assert from 'node:assert/strict';
import { ConnectError } from '../../src/connect/index.ts';

/** The ConnectError `promise` rejects with; fails the test if it resolves or rejects otherwise. */
export async function connectRejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConnectError, `expected a ConnectError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}
