// What tools/images/product.ts runs in each new product image before exporting it: the checks name
// the entries 1Password's manifests run (/manager, /injector), and each check's expectation tells
// the right command's output from another's, checked against the checkout's own bin/ files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../../../tools/cluster/paths.ts';
import { PRODUCT_CHECKS } from '../../../tools/images/product.ts';

/** The image's paths in this checkout: /manager and /injector are links into /app/bin. */
async function entryFiles(): Promise<Map<string, string>> {
  const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
  const links = new Map<string, string>();
  for (const [, target, link] of dockerfile.matchAll(/ln -s \/app\/(bin\/[\w.-]+) (\/[\w.-]+)/g)) {
    if (target && link) links.set(link, join(repoRoot, target));
  }
  return links;
}

/** Runs a check's command from the checkout (node from this process, as the shebang would). */
function output(args: readonly string[], links: Map<string, string>): string {
  const [program = '', ...rest] = args;
  const argv =
    program === 'node'
      ? rest.map((arg) => arg.replace(/^\/app\//, `${repoRoot}/`))
      : [links.get(program) ?? program, ...rest];
  const result = spawnSync(process.execPath, argv, { encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout + result.stderr;
}

/** The checks of node programs and their entries; the shell check (the preStop hook) runs only in the image. */
const NODE_CHECKS = PRODUCT_CHECKS.filter((check) => check.args[0] !== '/bin/sh');

describe('product image checks', () => {
  it("runs 1Password's entries /manager --help and /injector -h", () => {
    const commands = PRODUCT_CHECKS.map((check) => check.args.join(' '));
    assert.ok(commands.includes('/manager --help'), commands.join(', '));
    assert.ok(commands.includes('/injector -h'), commands.join(', '));
  });

  it('checks entries the Dockerfile links to executable files with a node shebang', async () => {
    const links = await entryFiles();
    for (const check of NODE_CHECKS) {
      const [program = ''] = check.args;
      if (program === 'node') continue;
      const file = links.get(program);
      assert.ok(file, `the Dockerfile links ${program}`);
      // runc executes the link: the file needs its exec bit (git keeps it) and an absolute shebang.
      assert.ok((statSync(file).mode & 0o111) !== 0, `${file} is executable`);
      assert.match(await readFile(file, 'utf8'), /^#!\/usr\/local\/bin\/node\n/);
    }
  });

  it("expects output only the right command prints: /manager is the operator's, /injector the webhook's", async () => {
    const links = await entryFiles();
    const outputs = NODE_CHECKS.map((check) => output(check.args, links));
    for (const [index, check] of NODE_CHECKS.entries()) {
      assert.match(outputs[index] ?? '', check.expect, check.args.join(' '));
    }
    // A wrong link (/manager to the injector's file, or the reverse) fails its check.
    const byCommand = new Map(NODE_CHECKS.map((check, i) => [check.args.join(' '), i]));
    const manager = byCommand.get('/manager --help') ?? -1;
    const injector = byCommand.get('/injector -h') ?? -1;
    assert.doesNotMatch(outputs[injector] ?? '', NODE_CHECKS[manager]?.expect ?? /^$/);
    assert.doesNotMatch(outputs[manager] ?? '', NODE_CHECKS[injector]?.expect ?? /^$/);
  });

  it("runs 1Password's preStop hook as its Deployment does, and the Dockerfile makes it a no-op", async () => {
    const commands = PRODUCT_CHECKS.map((check) => check.args.join(' '));
    assert.ok(commands.includes('/bin/sh -c /prestop.sh'), commands.join(', '));
    const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
    assert.match(
      dockerfile,
      /printf '#!\/bin\/sh\\nexit 0\\n' > \/prestop\.sh && chmod 755 \/prestop\.sh/,
    );
  });
});
