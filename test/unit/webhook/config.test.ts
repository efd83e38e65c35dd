import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/cli/errors.ts';
import { parseFlags } from '../../../src/cli/flags.ts';
import { parseWebhookConfig, webhookFlags } from '../../../src/webhook/config.ts';
import { defaultInjectionOptions } from '../../../src/webhook/mutate.ts';
import {
  DEFAULT_CA_PROPAGATION_MS,
  DEFAULT_CERT_VALIDITY_MS,
  DEFAULT_ROTATE_BEFORE_MS,
} from '../../../src/webhook/tls/rotation-settings.ts';
import { opKube } from '../../support/connect-local.ts';

const VERSION = '1.2.3';
const FILES = ['--tls-mode=files', '--tls-cert-file=/tls/tls.crt', '--tls-key-file=/tls/tls.key'];

function configFor(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  return parseWebhookConfig(parseFlags(Object.values(webhookFlags), args), env, VERSION);
}

function refuses(
  args: readonly string[],
  setting: string,
  message: RegExp,
  env: NodeJS.ProcessEnv = {},
): ConfigError {
  let caught: unknown;
  assert.throws(
    () => configFor(args, env),
    (error: unknown) => {
      caught = error;
      return (
        error instanceof ConfigError &&
        error.setting === setting &&
        error.message.startsWith(`${setting}: `) &&
        message.test(error.message)
      );
    },
    `${args.join(' ')} → ${setting}: ${message}`,
  );
  return caught as ConfigError;
}

describe('parseWebhookConfig', () => {
  it('has defaults that need no flags', () => {
    const config = configFor([]);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 8443);
    assert.equal(config.serviceName, 'op-kube-webhook');
    assert.equal(config.namespace, undefined);
    assert.equal(config.webhookConfigName, 'op-kube-webhook');
    assert.deepEqual(config.tls, {
      mode: 'self-managed',
      secretName: 'op-kube-webhook-tls',
      leaseName: 'op-kube-webhook',
      validityMs: DEFAULT_CERT_VALIDITY_MS,
      rotateBeforeMs: DEFAULT_ROTATE_BEFORE_MS,
      caPropagationMs: DEFAULT_CA_PROPAGATION_MS,
    });
    assert.equal(config.register, undefined);
    assert.equal(config.logLevel, 'info');
    assert.equal('kubeconfig' in config, false);
    assert.deepEqual(config.ignored, []);
    assert.deepEqual(config.injection, defaultInjectionOptions(VERSION));
    assert.equal(config.injection.integration.version, VERSION);
  });

  it("starts from 1Password's injector arguments unchanged", () => {
    const config = configFor([
      '-service-name=onepassword-injector',
      '-alsologtostderr',
      '-logtostderr',
      '-v=5',
      '2>&1',
    ]);
    assert.equal(config.serviceName, 'onepassword-injector');
    assert.equal(config.logLevel, 'debug');
    assert.deepEqual(
      config.ignored.map((entry) => entry.argument),
      ['-logtostderr', '-alsologtostderr', '2>&1'],
    );
    for (const entry of config.ignored) assert.notEqual(entry.why, '');
    assert.match(config.ignored[2]?.why ?? '', /2>&1/);
  });

  it('takes the value of a glog flag as the next argument, and -flag=false still counts as given', () => {
    const config = configFor(['-service-name', 'injector', '-v', '4', '-logtostderr=false']);
    assert.equal(config.serviceName, 'injector');
    assert.equal(config.logLevel, 'debug');
    assert.deepEqual(
      config.ignored.map((entry) => entry.argument),
      ['-logtostderr'],
    );
  });

  it('stops parsing at the first positional argument and records the rest as ignored', () => {
    const config = configFor(['--port=9443', '2>&1', '--port=1', '--tls-mode=bogus']);
    assert.equal(config.port, 9443);
    // Only 1Password's flags were parsed (the rest is ignored): its TLS mode, not --tls-mode=bogus.
    assert.equal(config.tls.mode, 'onepassword');
    assert.deepEqual(config.ignored, [
      {
        argument: '2>&1 --port=1 --tls-mode=bogus',
        why: config.ignored[0]?.why ?? '',
      },
    ]);
  });

  it('maps -v to the log level: 4 and above is debug, below leaves --log-level alone', () => {
    assert.equal(configFor(['-v=3']).logLevel, 'info');
    assert.equal(configFor(['-v=4']).logLevel, 'debug');
    assert.equal(configFor(['-v=3', '--log-level=warn']).logLevel, 'warn');
    assert.equal(configFor(['-v=5', '--log-level=error']).logLevel, 'debug');
    assert.equal(configFor(['--log-level=error']).logLevel, 'error');
    refuses(['--log-level=loud'], '--log-level', /debug, info, warn, error.*"loud"/);
    refuses(['-v=lots'], '--v', /expected an integer/);
  });

  it('reads --inject-token as auto or never', () => {
    assert.equal(configFor([]).injection.injectToken, 'auto');
    assert.equal(configFor(['--inject-token=auto']).injection.injectToken, 'auto');
    assert.equal(configFor(['--inject-token=never']).injection.injectToken, 'never');
    refuses(['--inject-token=sometimes'], '--inject-token', /auto, never.*"sometimes"/);
    refuses(['--inject-token='], '--inject-token', /auto, never/);
  });

  it('takes the token Secret and op image from flags', () => {
    const { injection } = configFor([
      '--token-secret-name=connect-token',
      '--token-secret-key=credential',
      '--op-image=registry.example/op',
    ]);
    assert.equal(injection.tokenSecretName, 'connect-token');
    assert.equal(injection.tokenSecretKey, 'credential');
    assert.equal(injection.opImage, 'registry.example/op');
    refuses(['--token-secret-name='], '--token-secret-name', /is required/);
    refuses(['--token-secret-key='], '--token-secret-key', /is required/);
    refuses(['--op-image='], '--op-image', /is required/);
  });

  it('needs a certificate and a key file with --tls-mode=files', () => {
    assert.deepEqual(configFor(FILES).tls, {
      mode: 'files',
      certFile: '/tls/tls.crt',
      keyFile: '/tls/tls.key',
    });
    refuses(['--tls-mode=files'], '--tls-cert-file', /is required with --tls-mode=files/);
    refuses(
      ['--tls-mode=files', '--tls-cert-file=/tls/tls.crt'],
      '--tls-key-file',
      /is required with --tls-mode=files/,
    );
    refuses(
      ['--tls-mode=files', '--tls-key-file=/tls/tls.key', '--tls-cert-file='],
      '--tls-cert-file',
      /is required/,
    );
    refuses(['--tls-mode=bogus'], '--tls-mode', /self-managed, files.*"bogus"/);
  });

  it('names the self-managed Secret and Lease', () => {
    const config = configFor(['--tls-secret-name=hook-tls', '--lease-name=hook-leader']);
    assert.equal(config.tls.mode, 'self-managed');
    assert.equal(config.tls.mode === 'self-managed' && config.tls.secretName, 'hook-tls');
    assert.equal(config.tls.mode === 'self-managed' && config.tls.leaseName, 'hook-leader');
    refuses(['--tls-secret-name='], '--tls-secret-name', /is required/);
    refuses(['--lease-name='], '--lease-name', /is required/);
  });

  it('registers an https URL without a query, user info or fragment', () => {
    const config = configFor(['--register-url=https://192.168.1.5:8443/inject']);
    assert.equal(config.register?.url.href, 'https://192.168.1.5:8443/inject');
    assert.equal(config.register.failurePolicy, 'Fail');
    assert.equal(
      configFor([
        '--register-url=https://host.docker.internal:8443/inject',
        '--failure-policy=Ignore',
      ]).register?.failurePolicy,
      'Ignore',
    );
    assert.equal(configFor(['--register-url=']).register, undefined);

    refuses(['--register-url=http://127.0.0.1:8443/inject'], '--register-url', /https URL/);
    refuses(['--register-url=https://h:8443/inject?timeout=5s'], '--register-url', /a query/);
    refuses(['--register-url=https://h:8443/inject#here'], '--register-url', /a fragment/);
    const withPassword = refuses(
      ['--register-url=https://admin:s3cret-pw@h:8443/inject'],
      '--register-url',
      /user info/,
    );
    assert.doesNotMatch(
      withPassword.message,
      /s3cret-pw/,
      'the message does not echo the password',
    );
    refuses(['--register-url=not a url'], '--register-url', /not a URL/);
    refuses(
      ['--register-url=https://h/inject', '--failure-policy=Sometimes'],
      '--failure-policy',
      /Fail, Ignore/,
    );
    refuses(
      ['--register-url=https://127.0.0.1:8443/inject', ...FILES],
      '--register-url',
      /--tls-mode=self-managed/,
    );
  });

  it('sets the copy-op-bin resources, refusing less than 64Mi of memory and bad quantities', () => {
    const { copyContainer } = configFor([
      '--copy-memory=128Mi',
      '--copy-cpu-request=250m',
      '--copy-cpu-limit=1.5',
      '--copy-run-as-user=1000',
    ]).injection;
    assert.deepEqual(copyContainer, {
      runAsUser: 1000,
      resources: {
        requests: { cpu: '250m', memory: '128Mi' },
        limits: { cpu: '1.5', memory: '128Mi' },
      },
    });
    for (const enough of ['64Mi', '67108864', '0.5Gi', '.25Gi', '1G', '65536Ki', '67109k']) {
      assert.equal(
        configFor([`--copy-memory=${enough}`]).injection.copyContainer.resources.limits?.memory,
        enough,
      );
    }
    for (const tooLittle of ['32Mi', '63Mi', '64M', '67108863', '65535Ki', '0', '0.06Gi']) {
      refuses([`--copy-memory=${tooLittle}`], '--copy-memory', /at least 64Mi/);
    }
    // Milli-bytes are a valid Kubernetes quantity, and far too little memory.
    refuses(['--copy-memory=64m'], '--copy-memory', /at least 64Mi/);
    refuses(['--copy-memory=67108863999m'], '--copy-memory', /at least 64Mi/);
    assert.equal(
      configFor(['--copy-memory=67108864000m']).injection.copyContainer.resources.limits?.memory,
      '67108864000m',
    );
    for (const bad of ['lots', '64mi', '64 Mi', '-64Mi', '64MiB', '1e9', '']) {
      refuses([`--copy-memory=${bad}`], '--copy-memory', /invalid quantity/);
    }
    refuses(['--copy-cpu-request=fast'], '--copy-cpu-request', /invalid quantity "fast"/);
    refuses(['--copy-cpu-limit=1 core'], '--copy-cpu-limit', /invalid quantity/);
  });

  it('runs copy-op-bin as a non-root numeric user', () => {
    assert.equal(configFor([]).injection.copyContainer.runAsUser, 65532);
    refuses(['--copy-run-as-user=0'], '--copy-run-as-user', /above 0/);
    refuses(['--copy-run-as-user=-1'], '--copy-run-as-user', /above 0/);
    refuses(['--copy-run-as-user=nobody'], '--copy-run-as-user', /expected an integer/);
  });

  it('takes the Connect host from --connect-host, else OP_CONNECT_HOST', () => {
    const env = { OP_CONNECT_HOST: 'http://onepassword-connect:8080' };
    assert.equal(configFor([], env).injection.connectHost, 'http://onepassword-connect:8080');
    assert.equal(
      configFor(['--connect-host=https://connect.example:8443'], env).injection.connectHost,
      'https://connect.example:8443',
    );
    assert.equal(configFor(['--connect-host='], env).injection.connectHost, undefined);
    assert.equal(configFor([], { OP_CONNECT_HOST: '' }).injection.connectHost, undefined);
    refuses(['--connect-host=not a url'], '--connect-host', /not an http\(s\) URL/);
    refuses([], '--connect-host', /not an http\(s\) URL/, { OP_CONNECT_HOST: '::nope' });
    // `connect:` would parse as a URL scheme; without http(s) it is a host:port someone forgot to prefix.
    refuses(['--connect-host=connect:8080'], '--connect-host', /not an http\(s\) URL/);
  });

  it('takes the namespace from --namespace, else POD_NAMESPACE', () => {
    assert.equal(configFor([], { POD_NAMESPACE: 'onepassword' }).namespace, 'onepassword');
    assert.equal(
      configFor(['--namespace=hooks'], { POD_NAMESPACE: 'onepassword' }).namespace,
      'hooks',
    );
    assert.equal(configFor([], { POD_NAMESPACE: '' }).namespace, undefined);
  });

  it('refuses a certificate validity not a minute longer than the rotate-before duration', () => {
    const tls = configFor([
      '--cert-validity=1h',
      '--cert-rotate-before=59m',
      '--ca-propagation=1m',
    ]).tls;
    assert.deepEqual(
      tls.mode === 'self-managed' && [tls.validityMs, tls.rotateBeforeMs],
      [3_600_000, 3_540_000],
    );
    refuses(
      ['--cert-validity=1h', '--cert-rotate-before=59m1s', '--ca-propagation=1m'],
      '--cert-validity',
      /at least a minute/,
    );
    refuses(['--cert-validity=720h'], '--cert-validity', /at least a minute/);
    refuses(['--cert-validity=soon'], '--cert-validity', /expected a duration/);
    // The other rotation settings are checked together with it, each error naming its own flag.
    refuses(
      ['--cert-rotate-before=0s'],
      '--cert-rotate-before',
      /rotate-before duration must be positive/,
    );
    refuses(
      ['--ca-propagation=720h'],
      '--ca-propagation',
      /propagation delay must be shorter than the rotate-before duration/,
    );
    // Files mode has no self-managed certificates, so nothing to check.
    assert.equal(configFor([...FILES, '--cert-validity=1m']).tls.mode, 'files');
  });

  it('refuses a port outside 1–65535 and keeps --bind-address and --kubeconfig', () => {
    refuses(['--port=0'], '--port', /1–65535/);
    refuses(['--port=65536'], '--port', /1–65535/);
    const config = configFor(['--port=9443', '--bind-address=127.0.0.1', '--kubeconfig=/k/config']);
    assert.equal(config.port, 9443);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.kubeconfig, '/k/config');
  });
});

describe('op-kube webhook (the CLI)', () => {
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };

  it('exits 1 naming the flag at fault, before touching Kubernetes or the network', () => {
    const result = opKube(['webhook', '--tls-mode=bogus'], env);
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /--tls-mode/);
    assert.match(result.stderr, /bogus/);
    assert.equal(result.stdout, '');
  });

  it("accepts 1Password's injector arguments before reporting what else is missing", () => {
    const result = opKube(
      [
        'webhook',
        '-service-name=onepassword-injector',
        '-alsologtostderr',
        '-v=5',
        '--tls-mode=files',
        '2>&1',
      ],
      env,
    );
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /--tls-cert-file: is required with --tls-mode=files/);
  });

  it('lists its flags with --help and exits 0', () => {
    const result = opKube(['webhook', '--help'], env);
    assert.equal(result.status, 0, result.stderr);
    for (const flag of [
      '--port',
      '--service-name',
      '--inject-token',
      '--tls-mode',
      '--tls-cert-file',
      '--register-url',
      '--copy-memory',
      '--cert-validity',
      '--v ',
    ]) {
      assert.ok(result.stdout.includes(flag), `--help lists ${flag}`);
    }
    // Accepted for compatibility only, so not advertised.
    assert.doesNotMatch(result.stdout, /--logtostderr|--alsologtostderr/);
  });
});
