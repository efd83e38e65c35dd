// The demo's command line: --node picks the worker-node variant, --keep combines with either, and
// anything else is refused with the usage (exit code 2) rather than ignored.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { parseArguments } from '../../tools/demo/demo.ts';

describe('npm run demo arguments', () => {
  it('defaults to the fast demo, without --keep', () => {
    assert.deepEqual(parseArguments([]), { keep: false, node: false });
  });

  it('--node and --keep, in either order', () => {
    assert.deepEqual(parseArguments(['--node']), { keep: false, node: true });
    assert.deepEqual(parseArguments(['--keep', '--node']), { keep: true, node: true });
    assert.deepEqual(parseArguments(['--node', '--keep']), { keep: true, node: true });
  });

  it('refuses an unknown argument with the usage', () => {
    const stderr = mock.method(process.stderr, 'write', () => true);
    try {
      assert.equal(parseArguments(['--nodes']), 2);
      assert.match(
        String(stderr.mock.calls[0]?.arguments[0]),
        /unknown argument "--nodes"[\s\S]*--node /,
      );
    } finally {
      stderr.mock.restore();
    }
  });
});
