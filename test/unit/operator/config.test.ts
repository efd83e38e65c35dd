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
    refuses([], { ...base, POLLING_INTERVAL: '10m' }, 'POLLING_INTERVAL', /whole seconds/);
    refuses([], { ...base, POLLING_INTERVAL: '0' }, 'POLLING_INTERVAL', /at least 1/);
    refuses([], { ...base, AUTO_RESTART: 'yes' }, 'AUTO_RESTART', /true or false/);
    refuses([], { ...base, MANAGE_CONNECT: 'true' }, 'MANAGE_CONNECT', /connect\.create=true/);
    refuses(
      [],
      { ...base, OP_SERVICE_ACCOUNT_TOKEN: 'ops_x' },
      'OP_SERVICE_ACCOUNT_TOKEN',
      /not both/,
    );
    refuses(
      [],
      { OP_SERVICE_ACCOUNT_TOKEN: 'ops_x' },
      'OP_SERVICE_ACCOUNT_TOKEN',
      /not supported yet/,
    );
    refuses(['--metrics-bind-address=nope'], base, '--metrics-bind-address', /invalid address/);
    refuses(['--metrics-secure'], base, '--metrics-secure', /--metrics-cert-path/);
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
      () => configFor([], { ...base, POLLING_INTERVAL: 'x' }),
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
