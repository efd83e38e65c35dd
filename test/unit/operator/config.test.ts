import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/cli/errors.ts';
import { parseFlags } from '../../../src/cli/flags.ts';
import {
  operatorFlags,
  parseBindAddress,
  parseOperatorConfig,
} from '../../../src/operator/config.ts';

const base = { OP_CONNECT_HOST: 'http://connect:8080', OP_CONNECT_TOKEN: 'token-value' };

function configFor(args: string[], env: NodeJS.ProcessEnv = base) {
  return parseOperatorConfig(parseFlags(Object.values(operatorFlags), args), env);
}

function refuses(args: string[], env: NodeJS.ProcessEnv, setting: string, message: RegExp): void {
  assert.throws(
    () => configFor(args, env),
    (error: unknown) =>
      error instanceof ConfigError && error.setting === setting && message.test(error.message),
    `${setting}: ${message}`,
  );
}

describe('parseOperatorConfig', () => {
  it("has 1Password's defaults", () => {
    const config = configFor([]);
    assert.equal(config.pollingIntervalMs, 600_000);
    assert.equal(config.autoRestart, false);
    assert.deepEqual(config.watchNamespaces, []);
    assert.deepEqual(config.metrics.address, { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(config.probeAddress, { host: '0.0.0.0', port: 8081 });
    assert.equal(config.leaderElection.enabled, false);
    assert.equal(config.log.level, 'info');
    assert.equal(config.concurrency, 4);
    assert.equal(config.fullCheckEvery, 10);
  });

  it('reads the token from OP_CONNECT_TOKEN by default; --token-source=namespace takes a Secret name and key instead', () => {
    assert.deepEqual(configFor([]).tokenSource, { mode: 'env' });
    const perNamespace = configFor(['--token-source=namespace'], {
      OP_CONNECT_HOST: 'http://connect:8080',
    });
    assert.deepEqual(perNamespace.tokenSource, {
      mode: 'namespace',
      secretName: 'onepassword-token',
      secretKey: 'token',
    });
    assert.equal(perNamespace.connect?.token, '');
    assert.deepEqual(
      configFor([
        '--token-source=namespace',
        '--token-secret-name=team-token',
        '--token-secret-key=connect',
      ]).tokenSource,
      { mode: 'namespace', secretName: 'team-token', secretKey: 'connect' },
    );
    // The shared token is not used in this mode: said, and not kept.
    const warned = configFor(['--token-source=namespace']);
    assert.equal(warned.connect?.token, '');
    assert.match(warned.warnings.map((w) => w.message).join(), /OP_CONNECT_TOKEN is ignored/);
    refuses(['--token-source=vault'], base, '--token-source', /use env or namespace/);
    refuses(
      ['--token-secret-name=x'],
      base,
      '--token-secret-name',
      /only with --token-source=namespace/,
    );
    refuses(
      ['--token-secret-key=x'],
      base,
      '--token-secret-key',
      /only with --token-source=namespace/,
    );
    refuses(
      ['--token-source=namespace', '--token-secret-name=Bad_Name'],
      base,
      '--token-secret-name',
      /not a Secret name/,
    );
    refuses(
      ['--token-source=namespace', '--token-secret-key=a/b'],
      base,
      '--token-secret-key',
      /not a Secret key/,
    );
    refuses(
      ['--token-source=namespace'],
      { OP_SERVICE_ACCOUNT_TOKEN: 'ops_x' },
      '--token-source',
      /service-account/,
    );
    refuses(['--token-source=namespace'], {}, 'OP_CONNECT_HOST', /is required/);
  });

  it('copies a token Secret with --token-distribution-selector, named by --token-secret-name/key in either token source', () => {
    assert.equal(configFor([]).tokenDistribution, undefined);
    assert.deepEqual(
      configFor([
        '--token-distribution-selector=op-kube.io/token=copy',
        '--token-distribution-source=op/onepassword-token',
        '--token-secret-name=team-token',
      ]).tokenDistribution,
      {
        selector: 'op-kube.io/token=copy',
        source: { namespace: 'op', name: 'onepassword-token', key: 'token' },
        target: { name: 'team-token', key: 'token' },
      },
    );
    refuses(
      ['--token-distribution-selector=a=b'],
      base,
      '--token-distribution-source',
      /is required/,
    );
    refuses(
      ['--token-distribution-selector=a=b', '--token-distribution-source=onepassword-token'],
      base,
      '--token-distribution-source',
      /not namespace\/name/,
    );
    refuses(
      ['--token-distribution-source=op/x'],
      base,
      '--token-distribution-source',
      /only with --token-distribution-selector/,
    );
    refuses(
      ['--token-distribution-source-key=k'],
      base,
      '--token-distribution-source-key',
      /only with --token-distribution-selector/,
    );
  });

  it('takes --vault-policy allow-unlisted (the default, as 1Password) or deny-unlisted only', () => {
    assert.equal(configFor([]).vaultPolicy, 'allow-unlisted');
    assert.equal(configFor(['--vault-policy=deny-unlisted']).vaultPolicy, 'deny-unlisted');
    assert.equal(configFor(['--vault-policy', 'allow-unlisted']).vaultPolicy, 'allow-unlisted');
    for (const value of [
      '',
      'deny',
      'DENY-UNLISTED',
      ' deny-unlisted',
      'allow-unlisted,deny-unlisted',
    ]) {
      refuses(
        [`--vault-policy=${value}`],
        base,
        '--vault-policy',
        /use allow-unlisted or deny-unlisted/,
      );
    }
  });

  it("accepts every flag of 1Password's Deployment, Go style", () => {
    const config = configFor(
      [
        '--metrics-bind-address=127.0.0.1:8443',
        '-health-probe-bind-address',
        ':9081',
        '--leader-elect',
        '--metrics-secure=true',
        '--metrics-cert-path=/certs',
        '--metrics-cert-name=c.pem',
        '--metrics-cert-key=k.pem',
        '--enable-http2=false',
        '--enable-annotations',
        '--allow-empty-values=true',
        '--zap-log-level=debug',
        '--zap-devel=false',
        '--zap-encoder=console',
        '--zap-stacktrace-level=error',
        '--kubeconfig=/home/me/.kube/config',
      ],
      { ...base, WATCH_NAMESPACE: 'a, b,,c', POLLING_INTERVAL: '30', AUTO_RESTART: 'true' },
    );
    assert.deepEqual(config.metrics, {
      address: { host: '127.0.0.1', port: 8443 },
      secure: true,
      tls: { certFile: '/certs/c.pem', keyFile: '/certs/k.pem' },
    });
    assert.deepEqual(config.probeAddress, { host: '0.0.0.0', port: 9081 });
    assert.equal(config.leaderElection.enabled, true);
    assert.equal(config.enableAnnotations, true);
    assert.equal(config.allowEmptyValues, true);
    assert.deepEqual(config.log, { level: 'debug', pretty: true });
    assert.equal(config.kubeconfig, '/home/me/.kube/config');
    assert.deepEqual(config.watchNamespaces, ['a', 'b', 'c']);
    assert.equal(config.pollingIntervalMs, 30_000);
    assert.equal(config.autoRestart, true);
    assert.deepEqual(
      config.ignoredFlags.map((entry) => entry.flag),
      ['--enable-http2', '--zap-stacktrace-level'],
    );
  });

  it("reads POLLING_INTERVAL as 1Password's strconv.Atoi: decimal seconds, else the default with a warning", () => {
    const accepted: [string, number][] = [
      ['10', 10_000],
      ['+30', 30_000],
      ['010', 10_000], // Atoi is base 10: not octal
      ['600', 600_000],
    ];
    for (const [value, ms] of accepted) {
      const config = configFor([], { ...base, POLLING_INTERVAL: value });
      assert.equal(config.pollingIntervalMs, ms, value);
      assert.deepEqual(config.warnings, [], value);
    }
    // 1Password logs "Invalid value set for polling interval" and polls every 600 s.
    for (const value of [
      '10s',
      '10m',
      '',
      ' 30',
      '30 ',
      '0x10',
      '1_000',
      '1e3',
      '3.5',
      'x',
      '99999999999999999999',
    ]) {
      const config = configFor([], { ...base, POLLING_INTERVAL: value });
      assert.equal(config.pollingIntervalMs, 600_000, JSON.stringify(value));
      assert.equal(config.warnings.length, 1, JSON.stringify(value));
      const [warning] = config.warnings;
      assert.equal(warning?.setting, 'POLLING_INTERVAL');
      assert.match(warning?.message ?? '', /not a whole number of seconds.*default of 600 seconds/);
    }
    assert.deepEqual(configFor([], base).warnings, [], 'unset: the default, no warning');
  });

  it('caps POLLING_INTERVAL at the longest timer Node keeps (a longer one would fire at once), with a warning', () => {
    const config = configFor([], { ...base, POLLING_INTERVAL: '3000000' });
    assert.equal(config.pollingIntervalMs, 2_147_483_000);
    assert.ok(config.pollingIntervalMs <= 2 ** 31 - 1);
    assert.match(config.warnings[0]?.message ?? '', /2147483 seconds/);
    assert.equal(
      configFor([], { ...base, POLLING_INTERVAL: '2147483' }).pollingIntervalMs,
      2_147_483_000,
    );
  });

  it("reads AUTO_RESTART and MANAGE_CONNECT as 1Password's ParseBool(ToLower(value))", () => {
    for (const [value, expected] of [
      ['tRuE', true],
      ['TRUE', true],
      ['t', true],
      ['T', true],
      ['1', true],
      ['FaLsE', false],
      ['f', false],
      ['F', false],
      ['0', false],
    ] as const) {
      const config = configFor([], {
        ...base,
        AUTO_RESTART: value,
        MANAGE_CONNECT: value === '1' ? '0' : 'fAlSe',
      });
      assert.equal(config.autoRestart, expected, value);
      assert.deepEqual(config.warnings, [], value);
    }
    // 1Password exits 1 on these too.
    for (const value of ['yes', 'on', 'true ', ' false', 'tru']) {
      refuses([], { ...base, AUTO_RESTART: value }, 'AUTO_RESTART', /true or false/);
    }
    refuses([], { ...base, MANAGE_CONNECT: 'TrUe' }, 'MANAGE_CONNECT', /connect\.create=true/);
  });

  it('secures /metrics by default as 1Password (HTTPS, callers reviewed); --metrics-secure=false is plain HTTP', () => {
    assert.deepEqual(configFor([]).metrics, {
      address: { host: '0.0.0.0', port: 8080 },
      secure: true,
    });
    assert.deepEqual(configFor(['--metrics-secure']).metrics.secure, true);
    assert.deepEqual(configFor(['--metrics-secure=false', '--metrics-cert-path=/certs']).metrics, {
      address: { host: '0.0.0.0', port: 8080 },
      secure: false,
    });
  });

  it('maps numeric zap levels and --zap-devel', () => {
    assert.equal(configFor(['--zap-log-level=1']).log.level, 'info');
    assert.equal(configFor(['--zap-log-level=3']).log.level, 'debug');
    assert.equal(configFor(['--zap-log-level=error']).log.level, 'error');
    assert.equal(configFor(['--zap-devel']).log.level, 'debug');
  });

  it('turns listeners off with 0', () => {
    const config = configFor(['--metrics-bind-address=0', '--health-probe-bind-address=0']);
    assert.equal(config.metrics.address, undefined);
    assert.equal(config.probeAddress, undefined);
  });

  it('refuses invalid settings, naming the variable or flag', () => {
    refuses([], { OP_CONNECT_TOKEN: 't' }, 'OP_CONNECT_HOST', /is required/);
    refuses([], { OP_CONNECT_HOST: 'http://x' }, 'OP_CONNECT_TOKEN', /is required/);
    refuses([], { ...base, OP_CONNECT_HOST: 'connect:8080' }, 'OP_CONNECT_HOST', /invalid URL/);
    refuses([], { ...base, POLLING_INTERVAL: '0' }, 'POLLING_INTERVAL', /at least 1/);
    refuses([], { ...base, POLLING_INTERVAL: '-5' }, 'POLLING_INTERVAL', /at least 1/);
    refuses([], { ...base, AUTO_RESTART: 'yes' }, 'AUTO_RESTART', /true or false/);
    refuses([], { ...base, MANAGE_CONNECT: 'true' }, 'MANAGE_CONNECT', /connect\.create=true/);
    refuses(
      [],
      { ...base, OP_SERVICE_ACCOUNT_TOKEN: 'ops_x' },
      'OP_SERVICE_ACCOUNT_TOKEN',
      /Either Connect or Service Account credentials should be set, not both/,
    );
    refuses(['--metrics-bind-address=nope'], base, '--metrics-bind-address', /invalid address/);
    refuses(['--zap-log-level=loud'], base, '--zap-log-level', /unknown level/);
    refuses(['--zap-encoder=xml'], base, '--zap-encoder', /unknown encoder/);
    refuses(['--max-concurrent-reconciles=0'], base, '--max-concurrent-reconciles', /at least 1/);
    refuses(['--kube-api-qps=-1'], base, '--kube-api-qps', /number ≥ 0/);
    refuses(['--kube-api-qps=fast'], base, '--kube-api-qps', /number ≥ 0/);
    refuses(['--kube-api-burst=0'], base, '--kube-api-burst', /at least 1/);
  });

  it('limits apiserver requests as --kube-api-qps and --kube-api-burst say; 0 turns the limit off', () => {
    assert.deepEqual(configFor([], base).kubeApi, { qps: 500, burst: 1000 });
    assert.deepEqual(configFor(['--kube-api-qps=7.5', '--kube-api-burst=15'], base).kubeApi, {
      qps: 7.5,
      burst: 15,
    });
    assert.equal(configFor(['--kube-api-qps=0'], base).kubeApi.qps, 0);
  });

  it('never puts the token in an error message', () => {
    assert.throws(
      () => configFor([], { ...base, POLLING_INTERVAL: '0' }),
      (error: unknown) =>
        error instanceof ConfigError && !String(error).includes(base.OP_CONNECT_TOKEN),
    );
  });
});

describe('parseBindAddress', () => {
  const cases: [string, { host: string; port: number } | undefined][] = [
    [':8080', { host: '0.0.0.0', port: 8080 }],
    ['8080', { host: '0.0.0.0', port: 8080 }],
    ['127.0.0.1:9', { host: '127.0.0.1', port: 9 }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
    ['0', undefined],
  ];
  for (const [value, expected] of cases) {
    it(`${value} → ${JSON.stringify(expected)}`, () =>
      assert.deepEqual(parseBindAddress('--x', value), expected));
  }
  for (const value of [':0', ':70000', 'host:', 'a:b:c']) {
    it(`refuses ${value}`, () => assert.throws(() => parseBindAddress('--x', value), ConfigError));
  }
});

describe('parseOperatorConfig: service-account mode (OP_SERVICE_ACCOUNT_TOKEN)', () => {
  it('the token alone selects service-account mode, with no Connect settings', () => {
    const config = configFor([], { OP_SERVICE_ACCOUNT_TOKEN: 'ops_secret-token' });
    assert.deepEqual(config.serviceAccount, { token: 'ops_secret-token' });
    assert.equal(config.connect, undefined);
    assert.deepEqual(config.warnings, []);
  });

  it('with only one Connect variable, as 1Password: service-account mode, and a warning naming the variable ignored', () => {
    for (const extra of ['OP_CONNECT_HOST', 'OP_CONNECT_TOKEN'] as const) {
      const config = configFor([], { OP_SERVICE_ACCOUNT_TOKEN: 'ops_secret-token', [extra]: 'x' });
      assert.equal(config.connect, undefined);
      assert.deepEqual(
        config.warnings.map((warning) => warning.setting),
        [extra],
      );
      assert.doesNotMatch(JSON.stringify(config.warnings), /ops_secret-token/);
    }
  });

  it("all three set: refused with 1Password's message, and the token is in no message", () => {
    assert.throws(
      () => configFor([], { ...base, OP_SERVICE_ACCOUNT_TOKEN: 'ops_secret-token' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /Either Connect or Service Account credentials should be set, not both/.test(
          error.message,
        ) &&
        !error.message.includes('ops_secret-token') &&
        !error.message.includes('token-value'),
    );
  });

  it('neither set: OP_CONNECT_HOST is required, and the message names the other mode', () => {
    refuses([], {}, 'OP_CONNECT_HOST', /OP_SERVICE_ACCOUNT_TOKEN/);
  });
});
