// The one error base: reason, terminal and cause, and which errors the controller does not retry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectError } from '../../../src/connect/index.ts';
import { KubeApiError } from '../../../src/kube/client/api-error.ts';
import { OpKubeError, TerminalError, terminalCause } from '../../../src/kube/errors.ts';
import { SyncBlockedError } from '../../../src/operator/failure.ts';
import { InvalidItemPathError } from '../../../src/operator/item-path.ts';

describe('OpKubeError', () => {
  it('carries a reason, a cause and, only when asked, terminal', () => {
    const cause = new Error('underneath');
    const error = new OpKubeError('Broken', 'it broke', { cause });
    assert.equal(error.reason, 'Broken');
    assert.equal(error.message, 'it broke');
    assert.equal(error.cause, cause);
    assert.equal(error.terminal, false);
    assert.equal(new OpKubeError('Broken', 'x', { terminal: true }).terminal, true);
  });

  it('adds no own field beyond reason, so logged errors keep their fields', () => {
    const error = new KubeApiError({ status: 404, reason: 'NotFound' }, 'gone');
    assert.deepEqual(Object.keys(error).sort(), [
      'causes',
      'name',
      'operation',
      'reason',
      'status',
    ]);
  });

  it('is the base of the typed errors, each keeping its own name', () => {
    const errors = [
      new TerminalError('InvalidItemPath', 'x'),
      new KubeApiError({ status: 409, reason: 'Conflict' }, 'x'),
      new ConnectError({ status: 503, method: 'GET', endpoint: '/v1/vaults' }, 'x'),
      new SyncBlockedError('SecretNotOwned', 'x'),
    ];
    for (const error of errors) assert.ok(error instanceof OpKubeError, error.name);
    assert.deepEqual(
      errors.map((error) => error.name),
      ['TerminalError', 'KubeApiError', 'ConnectError', 'SyncBlockedError'],
    );
  });
});

describe('terminalCause', () => {
  it('finds a TerminalError or a terminal OpKubeError through the cause chain', () => {
    const terminal = new InvalidItemPathError('bad');
    const wrapped = new Error('context', { cause: new Error('more', { cause: terminal }) });
    assert.equal(terminalCause(wrapped), terminal);
    assert.equal(terminalCause(new TerminalError('Conflict', 'x'))?.reason, 'Conflict');
  });

  it('finds none in retryable errors', () => {
    assert.equal(terminalCause(new KubeApiError({ status: 500 }, 'x')), undefined);
    assert.equal(
      terminalCause(new ConnectError({ status: 401, method: 'GET', endpoint: '/v1/vaults' }, 'x')),
      undefined,
    );
    assert.equal(terminalCause(new Error('boom')), undefined);
    assert.equal(terminalCause('not an error'), undefined);
  });
});
