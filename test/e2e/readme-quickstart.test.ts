// Runs the README's connect-local quickstart as written, so the commands a newcomer copies work.
import assert from 'node:assert/strict';
import { freePort } from '../../tools/cluster/ports.ts';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { launcher } from '../support/connect-local.ts';

function quickstart(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const block =
    /<!-- quickstart:connect-local -->\s*```sh\n([\s\S]*?)```\s*<!-- \/quickstart:connect-local -->/.exec(
      readme,
    );
  assert.ok(block?.[1], 'README has the quickstart block');
  return block[1];
}

describe('README quickstart', () => {
  it('connect-local: 200 with a read-only token, 403 on another vault, 401 after revoking', async (t) => {
    const workdir = mkdtempSync(join(tmpdir(), 'op-kube-readme-'));
    t.after(() => rm(workdir, { recursive: true, force: true }));
    // Same commands; only where op-kube, the examples and the port are differs in a temp dir.
    const script = quickstart()
      .replaceAll('npx op-kube', `"${process.execPath}" "${launcher}"`)
      .replaceAll('examples/', `${join(repoRoot, 'examples')}/`)
      .replaceAll('8080', String(await freePort()));
    const result = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: workdir,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(result.status, 0, result.stderr);
    const answers = result.stdout.split('\n').filter((line) => line.trim());
    assert.equal(answers.length, 3, result.stdout);
    const item = JSON.parse(answers[0] ?? '') as {
      title: string;
      fields: { label: string; value: string }[];
    };
    assert.equal(item.title, 'database');
    assert.equal(item.fields.find((field) => field.label === 'password')?.value, 's3cr3t');
    assert.deepEqual(JSON.parse(answers[1] ?? ''), {
      status: 403,
      message: 'Authorization: token does not have access to vault',
    });
    assert.deepEqual(JSON.parse(answers[2] ?? ''), {
      status: 401,
      message: 'Invalid bearer token: the token has been revoked',
    });
  });
});
