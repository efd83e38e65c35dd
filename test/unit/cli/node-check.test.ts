// bin/node-check.js, the Node < 24 preflight of bin/op-kube.js and of the npm scripts: one line
// naming the fix for each way a checkout ends up running an old Node.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../../../tools/cluster/paths.ts';

const check = join(repoRoot, 'bin', 'node-check.js');

/** Runs `-e` code after the preflight at `preflight`, as Node `version` when given. */
function run(
  preflight: string,
  version?: string,
): { status: number | null; stderr: string; stdout: string } {
  const imports = ['--import', preflight];
  if (version) {
    const fake = join(mkdtempSync(join(tmpdir(), 'op-kube-node-')), 'old-node.mjs');
    writeFileSync(
      fake,
      `Object.defineProperty(process.versions, 'node', { value: '${version}' });\n` +
        `Object.defineProperty(process, 'version', { value: 'v${version}' });\n`,
    );
    imports.unshift('--import', fake);
  }
  const result = spawnSync(process.execPath, [...imports, '-e', 'console.log("ran")'], {
    encoding: 'utf8',
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

/** A checkout-shaped directory with its own copy of the preflight; returns the copy's path. */
function layout(parts: { source?: boolean; nodePackage?: boolean; nodeBin?: boolean }): string {
  const root = mkdtempSync(join(tmpdir(), 'op-kube-checkout-'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(check, join(root, 'bin', 'node-check.js'));
  if (parts.source) {
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'src', 'cli.ts'), '');
  }
  if (parts.nodePackage) {
    mkdirSync(join(root, 'node_modules', 'node', 'bin'), { recursive: true });
    mkdirSync(join(root, 'node_modules', '.bin'));
    writeFileSync(join(root, 'node_modules', 'node', 'package.json'), '{}');
    // The install script writes .bin/node's target; --ignore-scripts leaves no link or a dangling one.
    symlinkSync('../node/bin/node', join(root, 'node_modules', '.bin', 'node'));
    if (parts.nodeBin) writeFileSync(join(root, 'node_modules', 'node', 'bin', 'node'), '');
  }
  return join(root, 'bin', 'node-check.js');
}

describe('bin/node-check.js', () => {
  it('lets Node 24 through silently', () => {
    const result = run(check);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'ran\n');
    assert.equal(result.stderr, '');
  });

  for (const [title, parts, remedy] of [
    [
      'after npm ci --ignore-scripts: rebuild the node package',
      { source: true, nodePackage: true },
      'run `npm rebuild node --ignore-scripts=false` once',
    ],
    [
      'with Node 24 installed but not on the PATH: run through npm',
      { source: true, nodePackage: true, nodeBin: true },
      'run it through npm',
    ],
    ['before npm ci: run it', { source: true }, 'run `npm ci` first'],
    ['in an installed package: install Node 24', {}, 'install Node.js 24 LTS'],
  ] as const) {
    it(`stops Node 20 with one line ${title}`, () => {
      const result = run(layout(parts), '20.20.2');
      assert.equal(result.status, 1);
      assert.equal(result.stdout, '', 'the program after the preflight did not run');
      const lines = result.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', /^op-kube needs Node\.js 24 or newer, but .+ is v20\.20\.2: /);
      assert.ok(lines[0]?.includes(remedy), lines[0]);
    });
  }

  it('is preloaded by every npm script that runs TypeScript', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const direct = Object.entries(pkg.scripts).filter(([, command]) => /^node \S/.test(command));
    assert.ok(direct.length > 0);
    for (const [name, command] of direct) {
      assert.match(command, /^node --import \.\/bin\/node-check\.js /, `script ${name}`);
    }
  });
});
