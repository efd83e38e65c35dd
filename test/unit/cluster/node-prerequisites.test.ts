// The node's prerequisite check: every missing piece named once, with the command that installs it.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  assertNodePrerequisites,
  missingPrerequisites,
  NODE_PACKAGES,
  NodePrerequisiteError,
} from '../../../tools/cluster/node/prerequisites.ts';

async function pathWith(
  commands: readonly string[],
): Promise<{ path: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'opk-prereq-'));
  for (const command of commands)
    await writeFile(join(dir, command), '#!/bin/sh\n', { mode: 0o755 });
  return { path: dir, done: () => rm(dir, { recursive: true, force: true }) };
}

describe('node prerequisites', () => {
  it('a root host with every tool, cgroups and libseccomp has nothing missing', async () => {
    const { path, done } = await pathWith(Object.values(NODE_PACKAGES));
    try {
      const facts = { uid: 0, path, hasCgroups: true, hasSeccompHeaders: true };
      assert.deepEqual(missingPrerequisites(facts), []);
      assert.doesNotThrow(() => assertNodePrerequisites(facts));
    } finally {
      await done();
    }
  });

  it('names each missing tool and the one apt-get line that installs them all', async () => {
    const { path, done } = await pathWith(['ip', 'nsenter', 'dpkg-deb', 'iptables']);
    try {
      const problems = missingPrerequisites({
        uid: 0,
        path,
        hasCgroups: true,
        hasSeccompHeaders: false,
      });
      assert.equal(problems.length, 1);
      assert.equal(
        problems[0],
        'missing buildah, mmdebstrap, umoci, conntrack, seccomp.h: ' +
          'apt-get install -y buildah mmdebstrap umoci conntrack libseccomp-dev',
      );
    } finally {
      await done();
    }
  });

  it('a non-root user without cgroups gets a precise error, not a half-started node', async () => {
    const { path, done } = await pathWith(Object.values(NODE_PACKAGES));
    try {
      const facts = { uid: 1000, path, hasCgroups: false, hasSeccompHeaders: true };
      assert.throws(
        () => assertNodePrerequisites(facts),
        (error: unknown) =>
          error instanceof NodePrerequisiteError &&
          /run as root/.test(error.message) &&
          /\/sys\/fs\/cgroup is not mounted/.test(error.message),
      );
    } finally {
      await done();
    }
  });
});
