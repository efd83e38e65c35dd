import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const launcher = join(import.meta.dirname, '..', '..', '..', 'bin', 'op-kube.js');

function launch(args: string[], nodeOptions: string[] = []): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, [...nodeOptions, launcher, ...args], { encoding: 'utf8' });
}

describe('bin/op-kube.js', () => {
  it('runs the CLI: --help exits 0, an unknown subcommand exits 2', () => {
    const help = launch(['--help']);
    assert.equal(help.status, 0);
    assert.match(String(help.stdout), /Usage: op-kube <command>/);
    const bogus = launch(['bogus']);
    assert.equal(bogus.status, 2);
    assert.match(String(bogus.stderr), /unknown command "bogus"/);
  });

  it('refuses Node older than 24 with a message naming the running binary and version', () => {
    const fake = join(mkdtempSync(join(tmpdir(), 'op-kube-node-')), 'old-node.mjs');
    writeFileSync(
      fake,
      "Object.defineProperty(process.versions, 'node', { value: '20.20.2' });\n" +
        "Object.defineProperty(process, 'version', { value: 'v20.20.2' });\n",
    );
    const result = launch(['--help'], ['--import', fake]);
    assert.equal(result.status, 1);
    assert.match(String(result.stderr), /op-kube needs Node\.js 24 or newer, but .+ is v20\.20\.2/);
    assert.equal(result.stdout, '');
  });
});
