import assert from 'node:assert/strict';
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
