import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { main } from '../../../src/main.ts';

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const code = await main(args, { stdout, stderr, env: {} });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

describe('op-kube command dispatch', () => {
  it('prints usage listing every subcommand on --help, exit 0', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    for (const command of ['operator', 'webhook', 'connect-local', 'demo']) {
      assert.match(result.stdout, new RegExp(`^  ${command} `, 'm'));
    }
  });

  it('prints the package version', async () => {
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^op-kube \d+\.\d+\.\d+/);
  });

  it('exits 2 with usage on stderr for an unknown subcommand or top-level flag', async () => {
    for (const args of [['bogus'], ['--bogus'], []]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, /Usage: op-kube <command>/);
      assert.equal(result.stdout, '');
    }
  });

  it('exits 2 for an unknown flag of a subcommand', async () => {
    const result = await runCli(['operator', '--no-such-flag']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /flag provided but not defined: -no-such-flag/);
  });

  it('prints a subcommand usage on -help, exit 0', async () => {
    const result = await runCli(['webhook', '-help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /Usage: op-kube webhook/);
  });

  it('exits 1 naming the flag for an invalid value, before starting anything', async () => {
    for (const [args, message] of [
      [['connect-local', '--port=abc'], /invalid configuration: --port: invalid value "abc"/],
      [
        ['connect-local', '--port', '70000'],
        /invalid configuration: --port: must be at most 65535/,
      ],
      [
        ['connect-local', '--tls-cert=a.pem'],
        /invalid configuration: --tls-key: --tls-cert and --tls-key go together/,
      ],
    ] as const) {
      const result = await runCli([...args]);
      assert.equal(result.code, 1, args.join(' '));
      assert.match(result.stderr, message);
    }
  });
});

describe('op-kube command loading', () => {
  it('names each command loader after the command it loads, in the usage order', async () => {
    const { commandLoaders, loadCommands } = await import('../../../src/main.ts');
    const loaded = await Promise.all([...commandLoaders.values()].map((load) => load()));
    assert.deepEqual(
      loaded.map((command) => command.name),
      [...commandLoaders.keys()],
    );
    const { commands } = await loadCommands();
    assert.deepEqual(
      commands.map((command) => command.name),
      ['operator', 'webhook', 'connect-local', 'crds', 'demo'],
    );
  });

  it("loads no other command's module for a command named first", () => {
    const main = new URL('../../../src/main.ts', import.meta.url).href;
    const script = `
      import { registerHooks } from 'node:module';
      import { PassThrough } from 'node:stream';
      const urls = [];
      registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); urls.push(r.url); return r; } });
      const { main } = await import(${JSON.stringify(main)});
      const code = await main(['webhook', '--help'], { stdout: new PassThrough(), stderr: new PassThrough(), env: {} });
      console.log(JSON.stringify({ code, others: urls.filter((url) => /\\/src\\/(operator|connect-local)\\//.test(url)) }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { code: 0, others: [] });
  });
});
