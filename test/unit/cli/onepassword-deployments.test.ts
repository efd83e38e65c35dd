// 1Password's Deployments with only the image swapped for op-kube's (issue #13, point 5): the exact
// command and args of 1Password's manifests and chart templates, run as processes with that argv,
// through bin/op-kube.js (the image's ENTRYPOINT) and through the /manager and /injector entries.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { main } from '../../../src/main.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin');

// Facts read from 1Password's repositories (their files are not copied here):
// onepassword-operator config/manager/manager.yaml: command ["/manager"], args below;
// config/default/manager_metrics_patch.yaml prepends --metrics-bind-address=:8443.
const OPERATOR_MANIFEST_ARGS = ['--leader-elect', '--health-probe-bind-address=:8081'];
const OPERATOR_KUSTOMIZE_ARGS = ['--metrics-bind-address=:8443', ...OPERATOR_MANIFEST_ARGS];
// connect-helm-charts charts/connect/templates/operator-deployment.yaml: command ["/manager"],
// with every optional flag on.
const OPERATOR_CHART_ARGS = [
  '--zap-log-level=info',
  '--health-probe-bind-address=:8081',
  '--enable-annotations',
  '--allow-empty-values',
];
// kubernetes-secrets-injector deploy/deployment.yaml: no command (image ENTRYPOINT /injector).
const INJECTOR_MANIFEST_ARGS = ['-service-name=secrets-injector', '-logtostderr', '-v=4'];
// connect-helm-charts charts/secrets-injector/templates/deployment.yaml: no command; the last
// argument is a literal "2>&1" (no shell runs it), which Go's flag package leaves unparsed.
const INJECTOR_CHART_ARGS = ['-service-name=secrets-injector', '-alsologtostderr', '-v=4', '2>&1'];

/** The env of 1Password's operator manifest (token replaced), and a home with no kubeconfig. */
function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'op-kube-dropin-'));
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    KUBECONFIG: join(home, 'no-kubeconfig'),
    POD_NAMESPACE: 'default',
    OPERATOR_NAME: 'onepassword-connect-operator',
    POD_NAME: 'onepassword-connect-operator-abc',
    WATCH_NAMESPACE: 'default',
    POLLING_INTERVAL: '10',
    AUTO_RESTART: 'false',
    OP_CONNECT_HOST: 'http://onepassword-connect:8080',
    OP_CONNECT_TOKEN: 'drop-in-test-token',
    MANAGE_CONNECT: 'false',
    ...extra,
  };
}

function run(entry: string, args: readonly string[], env = environment()) {
  const result = spawnSync(process.execPath, [entry, ...args], {
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The component started: with no cluster reachable, it gets as far as loading the kube config
 * and says so under its own name (not "unknown command", not a flag refused).
 */
function assertStarted(
  component: 'operator' | 'webhook',
  result: ReturnType<typeof run>,
  label: string,
): void {
  const output = `${result.stdout}\n${result.stderr}`;
  assert.doesNotMatch(output, /unknown command|flag provided but not defined|Usage:/, label);
  assert.match(result.stderr, new RegExp(`op-kube ${component}: KubeConfigError`), label);
  assert.equal(result.status, 1, label);
  assert.ok(!output.includes('drop-in-test-token'), `${label}: the token is never printed`);
}

/** An entry as the image has it: a symlink named /manager or /injector to bin/<name>.js. */
function entryLink(name: 'manager' | 'injector'): string {
  const link = join(mkdtempSync(join(tmpdir(), 'op-kube-entry-')), name);
  symlinkSync(join(bin, `${name}.js`), link);
  return link;
}

describe("1Password's Deployments run op-kube's image unchanged", () => {
  it('/manager with the args of 1Password operator manifest, kustomize default and chart starts the operator', () => {
    const manager = entryLink('manager');
    for (const args of [OPERATOR_MANIFEST_ARGS, OPERATOR_KUSTOMIZE_ARGS, OPERATOR_CHART_ARGS, []]) {
      assertStarted('operator', run(manager, args), `/manager ${args.join(' ')}`);
    }
  });

  it('the operator args without a subcommand through bin/op-kube.js start the operator', () => {
    for (const args of [OPERATOR_MANIFEST_ARGS, OPERATOR_KUSTOMIZE_ARGS, OPERATOR_CHART_ARGS]) {
      assertStarted('operator', run(join(bin, 'op-kube.js'), args), args.join(' '));
    }
  });

  it("the injector's args without a subcommand through bin/op-kube.js (the ENTRYPOINT) start the webhook", () => {
    for (const args of [INJECTOR_MANIFEST_ARGS, INJECTOR_CHART_ARGS]) {
      assertStarted('webhook', run(join(bin, 'op-kube.js'), args), args.join(' '));
    }
  });

  it("/injector (1Password's injector image entrypoint) with its args starts the webhook", () => {
    const injector = entryLink('injector');
    for (const args of [INJECTOR_MANIFEST_ARGS, INJECTOR_CHART_ARGS]) {
      assertStarted('webhook', run(injector, args), `/injector ${args.join(' ')}`);
    }
  });

  it('/manager --help prints the operator usage, /injector -h the webhook usage', () => {
    const manager = run(entryLink('manager'), ['--help']);
    assert.equal(manager.status, 0);
    assert.match(manager.stdout, /Usage: op-kube operator/);
    const injector = run(entryLink('injector'), ['-h']);
    assert.equal(injector.status, 0);
    assert.match(injector.stdout, /Usage: op-kube webhook/);
  });

  it('the image has /manager and /injector linked to the entries, run by the image node', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /ln -s \/app\/bin\/manager\.js \/manager/);
    assert.match(dockerfile, /ln -s \/app\/bin\/injector\.js \/injector/);
    for (const name of ['manager', 'injector']) {
      const source = readFileSync(join(bin, `${name}.js`), 'utf8');
      // node:24-alpine and tools/images' base both have node at /usr/local/bin/node.
      assert.match(source, /^#!\/usr\/local\/bin\/node\n/, name);
    }
  });
});

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

describe('subcommand inference from a first argument that is a flag', () => {
  it("infers webhook from each flag of 1Password's injector (flag and glog)", async () => {
    for (const flag of [
      '-service-name=x',
      '--port=8443',
      '-logtostderr',
      '-alsologtostderr=true',
      '-v=2',
      '-stderrthreshold=INFO',
      '-vmodule=webhook=4',
      '-log_backtrace_at=main.go:1',
      '-log_dir=/tmp',
      '-log_link=/tmp',
    ]) {
      const result = await runCli([flag, '-h']);
      assert.equal(result.code, 0, flag);
      assert.match(result.stdout, /Usage: op-kube webhook/, flag);
    }
  });

  it("infers operator from each flag of 1Password's operator (its own, zap's, kubeconfig)", async () => {
    for (const flag of [
      '--metrics-bind-address=:8443',
      '--health-probe-bind-address=:8081',
      '--leader-elect',
      '--metrics-secure=false',
      '--metrics-cert-path=/c',
      '--metrics-cert-name=a',
      '--metrics-cert-key=b',
      '--enable-http2',
      '--enable-annotations',
      '--allow-empty-values',
      '--zap-devel',
      '--zap-encoder=json',
      '--zap-log-level=debug',
      '--zap-stacktrace-level=error',
      '--zap-time-encoding=iso8601',
      '--kubeconfig=/k',
    ]) {
      const result = await runCli([flag, '-h']);
      assert.equal(result.code, 0, flag);
      assert.match(result.stdout, /Usage: op-kube operator/, flag);
    }
  });

  it("infers from a flag's value given as the next argument too", async () => {
    const result = await runCli(['-service-name', 'injector', '-h']);
    assert.match(result.stdout, /Usage: op-kube webhook/);
  });

  it("infers from op-kube's own flags when one of the two commands defines them", async () => {
    for (const [flag, command] of [
      ['--vault-policy=deny-unlisted', 'operator'],
      ['--tls-mode=files', 'webhook'],
    ] as const) {
      const result = await runCli([flag, '-h']);
      assert.match(result.stdout, new RegExp(`Usage: op-kube ${command}`), flag);
    }
  });

  it('refuses flags of both components, or of both op-kube commands, and says to name the subcommand', async () => {
    for (const args of [
      ['--leader-elect', '-service-name=x'],
      ['--vault-policy=deny-unlisted', '--tls-mode=files'],
      ['--log-level=debug', '--zap-devel'],
    ]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, /name the subcommand/, args.join(' '));
      assert.equal(result.stdout, '');
    }
  });

  it('still refuses an unknown first flag as before', async () => {
    const result = await runCli(['--bogus']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /flag provided but not defined: --bogus/);
  });
});
