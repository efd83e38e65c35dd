import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, HelpRequested, UsageError } from '../../../src/cli/errors.ts';
import {
  defineFlag,
  flagValue,
  flagValues,
  formatFlagUsage,
  ignoredFlagsGiven,
  parseFlags,
  readFlags,
} from '../../../src/cli/flags.ts';

const port = defineFlag({ name: 'port', kind: 'int', usage: 'listen port', default: 8443 });
const name = defineFlag({ name: 'service-name', kind: 'string', usage: 'service' });
const leader = defineFlag({ name: 'leader-elect', kind: 'bool', usage: 'elect', default: false });
const interval = defineFlag({ name: 'interval', kind: 'duration', usage: 'poll' });
const vault = defineFlag({ name: 'vault', kind: 'string', usage: 'vault', repeatable: true });
const flags = [port, name, leader, interval, vault];

describe('parseFlags follows Go flag syntax', () => {
  it('accepts one or two dashes, = or the next argument', () => {
    for (const args of [
      ['-service-name=x', '-port=9'],
      ['--service-name=x', '--port=9'],
      ['-service-name', 'x', '-port', '9'],
      ['--service-name', 'x', '--port', '9'],
    ]) {
      const parsed = parseFlags(flags, args);
      assert.equal(flagValue(parsed, name), 'x', args.join(' '));
      assert.equal(flagValue(parsed, port), 9, args.join(' '));
      assert.deepEqual([...parsed.given].sort(), ['port', 'service-name']);
    }
  });

  it('takes the next argument as a value even when it starts with a dash', () => {
    assert.equal(flagValue(parseFlags(flags, ['--service-name', '-x']), name), '-x');
  });

  it('keeps = inside a value', () => {
    assert.equal(flagValue(parseFlags(flags, ['--service-name=a=b']), name), 'a=b');
  });

  it('treats a bare bool flag as true and never consumes the next argument', () => {
    const parsed = parseFlags(flags, ['--leader-elect', 'positional']);
    assert.equal(flagValue(parsed, leader), true);
    assert.deepEqual(parsed.rest, ['positional']);
  });

  it('reads bool values only after =', () => {
    assert.equal(flagValue(parseFlags(flags, ['--leader-elect=false']), leader), false);
    assert.equal(flagValue(parseFlags(flags, ['-leader-elect=1']), leader), true);
  });

  it('applies defaults and lets the last occurrence win', () => {
    assert.equal(flagValue(parseFlags(flags, []), port), 8443);
    assert.equal(flagValue(parseFlags(flags, ['--port=1', '--port=2']), port), 2);
    assert.equal(flagValue(parseFlags(flags, []), name), undefined);
  });

  it('collects repeatable flags in order', () => {
    const parsed = parseFlags(flags, ['--vault', 'a', '--vault=b,r']);
    assert.deepEqual(flagValues(parsed, vault), ['a', 'b,r']);
    assert.deepEqual(flagValues(parseFlags(flags, []), vault), []);
  });

  it('parses durations', () => {
    assert.equal(flagValue(parseFlags(flags, ['--interval=1m30s']), interval), 90_000);
  });

  it('stops at the first non-flag, a lone dash, or after --', () => {
    assert.deepEqual(parseFlags(flags, ['x', '--port=1']).rest, ['x', '--port=1']);
    assert.deepEqual(parseFlags(flags, ['-', '--port=1']).rest, ['-', '--port=1']);
    const afterDashes = parseFlags(flags, ['--port=1', '--', '--port=2']);
    assert.deepEqual(afterDashes.rest, ['--port=2']);
    assert.equal(flagValue(afterDashes, port), 1);
  });

  it('rejects unknown flags, bad syntax and a missing value as usage errors (exit 2)', () => {
    for (const [args, message] of [
      [['--nope'], 'flag provided but not defined: -nope'],
      [['---port=1'], 'bad flag syntax: ---port=1'],
      [['-=x'], 'bad flag syntax: -=x'],
      [['--port'], 'flag needs an argument: -port'],
    ] as const) {
      assert.throws(
        () => parseFlags(flags, args),
        (error: unknown) =>
          error instanceof UsageError && error.exitCode === 2 && error.message === message,
      );
    }
  });

  it('rejects an invalid value as a configuration error naming the flag (exit 1)', () => {
    for (const args of [['--port=abc'], ['--leader-elect=yes'], ['--interval=10']]) {
      assert.throws(
        () => parseFlags(flags, args),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.exitCode === 1 &&
          error.message.startsWith(`--${(args[0] ?? '').slice(2).split('=')[0]}: invalid value`),
      );
    }
  });

  it('asks for help on -h and -help unless the set defines them', () => {
    assert.throws(() => parseFlags(flags, ['-h']), HelpRequested);
    assert.throws(() => parseFlags(flags, ['--help']), HelpRequested);
    const help = defineFlag({ name: 'h', kind: 'bool', usage: 'custom' });
    assert.equal(flagValue(parseFlags([help], ['-h']), help), true);
  });
});

describe('readFlags', () => {
  const set = { port, name, leader, interval, vault };

  it('reads a named set at once: defaults applied, lists for repeatable flags', () => {
    const values = readFlags(parseFlags(flags, ['--vault=a', '--interval=2s']), set);
    assert.deepEqual(
      { ...values },
      { port: 8443, name: undefined, leader: false, interval: 2000, vault: ['a'] },
    );
    // Typed by the definitions: a defaulted flag is never undefined.
    const port: number = values.port;
    const name: string | undefined = values.name;
    assert.equal(port + (name ?? '').length, 8443);
  });

  it("falls back to a definition's default when the parse did not know the flag", () => {
    assert.equal(readFlags(parseFlags([], []), { port }).port, 8443);
    assert.equal(flagValue(parseFlags([], []), port), 8443);
  });
});

describe('ignoredFlagsGiven', () => {
  it('lists the given flags accepted without effect, with the reason, in definition order', () => {
    const quiet = defineFlag({ name: 'quiet', kind: 'bool', usage: 'q', ignored: 'always quiet' });
    const loud = defineFlag({ name: 'loud', kind: 'bool', usage: 'l', ignored: 'never loud' });
    const all = [port, quiet, loud];
    assert.deepEqual(ignoredFlagsGiven(parseFlags(all, ['--loud', '--port=1', '--quiet']), all), [
      { name: 'quiet', why: 'always quiet' },
      { name: 'loud', why: 'never loud' },
    ]);
    assert.deepEqual(ignoredFlagsGiven(parseFlags(all, ['--port=1']), all), []);
  });
});

describe('formatFlagUsage', () => {
  it('lists each flag with its kind, usage and non-empty default, and hides ignored flags', () => {
    const usage = formatFlagUsage([
      port,
      leader,
      defineFlag({ name: 'poll', kind: 'duration', usage: 'how often', default: 600_000 }),
      defineFlag({ name: 'mode', kind: 'string', usage: 'which mode', default: 'auto' }),
      defineFlag({
        name: 'alsologtostderr',
        kind: 'bool',
        usage: 'glog',
        ignored: 'op-kube logs to stderr',
      }),
    ]);
    assert.equal(
      usage,
      [
        '  --port int\n    \tlisten port (default 8443)',
        '  --leader-elect\n    \telect',
        '  --poll duration\n    \thow often (default 10m0s)',
        '  --mode string\n    \twhich mode (default "auto")',
      ].join('\n'),
    );
  });
});
