// `npm run demo`: the whole system on this machine — the local control plane, connect-local seeded
// from examples/connect-local.yaml, `op-kube operator` and `op-kube webhook` — applies the manifests
// of examples/demo/, shows what they became, edits an item and shows the change arrive.
// It only ever talks to the plane's own kubeconfig, never the user's current kube context.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import yaml from 'js-yaml';
import { MissingGoError } from '../cluster/build.ts';
import { repoRoot } from '../cluster/paths.ts';
import { COMPONENTS, ControlPlane } from '../cluster/plane.ts';
import { freePort } from '../cluster/ports.ts';

const USAGE = `Usage: npm run demo [-- --keep]

Starts (or reuses) the local control plane in .cluster/, connect-local, the operator and the
webhook, applies examples/demo/, shows the Secrets and the injected pod, edits an item and shows
the new version arrive. Then removes everything it made (a control plane it started is stopped).

  --keep   leave everything running and print how to explore it

It always uses the local control plane's kubeconfig: the webhook it starts listens on this
machine's loopback, which only that apiserver can call, so --kubeconfig is not supported.
OP_KUBE_DEMO_SUFFIX (lowercase letters, digits, '-') is appended to the names it creates.
`;

const DEMO_DIR = join(repoRoot, 'examples', 'demo');
const LAUNCHER = join(repoRoot, 'bin', 'op-kube.js');
// Ids fixed in examples/connect-local.yaml.
const VAULT_ID = 'production0000000000000000';
const DATABASE_ID = 'database000000000000000000';
// The password the demo sets when it edits the item; like every value, it is never printed.
const NEW_PASSWORD = 'n3w-s3cr3t';
const ITEM_VERSION = 'operator.1password.io/item-version';

class StepFailure extends Error {
  override readonly name = 'StepFailure';
}

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

function parseArguments(args: readonly string[]): { keep: boolean } | number {
  let keep = false;
  for (const arg of args) {
    if (['-h', '--help', '-help'].includes(arg)) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (arg === '--keep' || arg === '-keep') keep = true;
    else {
      process.stderr.write(`demo: unknown argument ${JSON.stringify(arg)}\n\n${USAGE}`);
      return 2;
    }
  }
  return { keep };
}

function suffixFromEnv(): string {
  const suffix = process.env.OP_KUBE_DEMO_SUFFIX ?? '';
  if (!/^[a-z0-9-]{0,20}$/.test(suffix)) {
    throw new StepFailure('OP_KUBE_DEMO_SUFFIX: up to 20 lowercase letters, digits and dashes');
  }
  return suffix;
}

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion; stdin from `input`. Output is returned, never echoed. */
function run(
  file: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    const stdout: string[] = [];
    const stderr: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: stdout.join(''), stderr: stderr.join('') }),
    );
    child.stdin.end(options.input ?? '');
  });
}

/** A child process of the demo, with its output in a log file. */
interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<void>;
}

async function tail(file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

class Demo {
  readonly keep: boolean;
  readonly plane = new ControlPlane(process.env.OP_KUBE_CLUSTER_DIR, (line) =>
    out(`    [cluster] ${line}`),
  );
  readonly namespace: string;
  readonly appsNamespace: string;
  readonly webhookConfigName: string;
  readonly services: Service[] = [];
  workDir = '';
  stopPlane = false;
  createdNamespaces = false;
  connect = { url: '', adminUrl: '' };
  token = '';
  /** Set by Ctrl-C: nothing new starts, and the step that was running is not reported as failed. */
  interrupted = false;
  #cleaning: Promise<void> | undefined;

  constructor(keep: boolean, suffix: string) {
    this.keep = keep;
    this.namespace = `op-kube-demo${suffix}`;
    this.appsNamespace = `op-kube-demo-apps${suffix}`;
    // The apiserver calls mutating webhooks in the order of their configurations' names. This name
    // sorts after `op-kube-webhook` (the chart's) and `op-kube-e2e-*` (the e2e tests'), so another
    // injector matching the same labelled namespaces goes first and this one then sees an already
    // injected pod and leaves it alone.
    this.webhookConfigName = `op-kube-webhook-demo${suffix}`;
  }

  get kubectlPath(): string {
    return join(this.plane.binDir, 'kubectl');
  }

  kubectl(args: readonly string[], input?: string): Promise<RunResult> {
    return run(this.kubectlPath, ['--kubeconfig', this.plane.kubeconfigPath, ...args], {
      ...(input !== undefined ? { input } : {}),
    });
  }

  /** kubectl that must succeed; `show` prints the command as a user would type it. */
  async kubectlOk(
    args: readonly string[],
    options: { input?: string; show?: boolean } = {},
  ): Promise<string> {
    if (options.show) out(`    $ kubectl ${args.join(' ')}`);
    const result = await this.kubectl(args, options.input);
    if (result.code !== 0) {
      throw new StepFailure(`kubectl ${args.join(' ')} failed: ${result.stderr.trim()}`);
    }
    return result.stdout;
  }

  /** The example's OnePasswordItem and the Secret the operator makes from it. */
  readDatabaseItem(): Promise<OnePasswordItem | undefined> {
    return this.getJson<OnePasswordItem>([
      'get',
      'onepassworditem',
      'database',
      '-n',
      this.namespace,
    ]);
  }

  readDatabaseSecret(): Promise<Secret | undefined> {
    return this.getJson<Secret>(['get', 'secret', 'database', '-n', this.namespace]);
  }

  async getJson<T>(args: readonly string[]): Promise<T | undefined> {
    const result = await this.kubectl([...args, '-o', 'json']);
    if (result.code !== 0) {
      if (/NotFound|not found/.test(result.stderr)) return undefined;
      throw new StepFailure(`kubectl ${args.join(' ')} failed: ${result.stderr.trim()}`);
    }
    return JSON.parse(result.stdout) as T;
  }

  /** Starts `op-kube <args>` in its own process group, output to a log file in the work dir. */
  startService(name: string, args: readonly string[], env: NodeJS.ProcessEnv): Service {
    if (this.interrupted) throw new StepFailure('interrupted');
    const logFile = join(this.workDir, `${name}.log`);
    const fd = openSync(logFile, 'a', 0o600);
    const child = spawn(process.execPath, [LAUNCHER, ...args], {
      // Detached: Ctrl-C reaches only the demo, which then stops the services in order.
      detached: true,
      stdio: ['ignore', fd, fd],
      env,
    });
    closeSync(fd);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const service = { name, child, logFile, exited };
    this.services.push(service);
    out(`    ${name}: pid ${child.pid ?? '?'}, log ${logFile}`);
    return service;
  }

  async waitFor<T>(
    description: string,
    probe: () => Promise<T | undefined>,
    options: { timeoutMs?: number; service?: Service } = {},
  ): Promise<T> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let last: unknown;
    for (;;) {
      const { service } = options;
      if (service && (service.child.exitCode !== null || service.child.signalCode !== null)) {
        throw new StepFailure(
          `${service.name} exited (${service.child.exitCode ?? service.child.signalCode}) while waiting for ${description}`,
        );
      }
      try {
        const value = await probe();
        if (value !== undefined) return value;
      } catch (error) {
        if (error instanceof StepFailure) throw error;
        last = error;
      }
      if (Date.now() > deadline) {
        const why = last instanceof Error ? ` (last error: ${last.message})` : '';
        throw new StepFailure(`timed out waiting for ${description}${why}`);
      }
      await sleep(200);
    }
  }

  // ---- steps ----

  async controlPlane(): Promise<void> {
    const before = await this.plane.status();
    const anyRunning = COMPONENTS.some((component) => before[component].running);
    const outcome = await this.plane.up();
    this.stopPlane = outcome === 'started' && !anyRunning && !this.keep;
    out(
      `    ${outcome === 'started' ? 'started' : 'reusing'} the control plane at ${await this.plane.apiserverUrl()} ` +
        `(kubeconfig ${this.plane.kubeconfigPath})`,
    );
    out('    it has no scheduler and no kubelet: pods are stored, admitted and mutated, never run');
  }

  async namespaces(): Promise<void> {
    for (const name of [this.namespace, this.appsNamespace]) {
      const existing = await this.kubectl(['get', 'namespace', name]);
      if (existing.code === 0) {
        throw new StepFailure(
          `namespace ${name} already exists (left by \`npm run demo -- --keep\`?); delete it with ` +
            `${this.kubectlPath} --kubeconfig ${this.plane.kubeconfigPath} delete namespace ${name}`,
        );
      }
    }
    const renamed: Record<string, string> = {
      'op-kube-demo': this.namespace,
      'op-kube-demo-apps': this.appsNamespace,
    };
    const documents = yaml.loadAll(readFileSync(join(DEMO_DIR, 'namespaces.yaml'), 'utf8')) as {
      metadata: { name: string };
    }[];
    for (const document of documents) {
      document.metadata.name = renamed[document.metadata.name] ?? document.metadata.name;
    }
    this.createdNamespaces = true;
    out(`    $ kubectl apply -f examples/demo/namespaces.yaml`);
    await this.kubectlOk(['apply', '-f', '-'], {
      input: documents.map((document) => yaml.dump(document)).join('---\n'),
    });
    out(`    namespaces ${this.namespace} and ${this.appsNamespace} (secrets-injection=enabled)`);
  }

  async connectLocal(): Promise<void> {
    const stateDir = join(this.workDir, 'connect-local');
    const env = { ...process.env };
    // The admin secret then lives in <state-dir>/admin-secret, where --keep points to it.
    delete env.CONNECT_LOCAL_ADMIN_SECRET;
    const service = this.startService(
      'connect-local',
      [
        'connect-local',
        `--data=${join(repoRoot, 'examples', 'connect-local.yaml')}`,
        `--state-dir=${stateDir}`,
        '--port=0',
        '--admin-port=0',
      ],
      env,
    );
    this.connect = await this.waitFor(
      'connect-local to listen',
      async () => {
        for (const line of (await readFile(service.logFile, 'utf8')).split('\n')) {
          if (!line.includes('connect-local listening')) continue;
          const entry = JSON.parse(line) as { url?: string; adminUrl?: string };
          if (entry.url && entry.adminUrl) return { url: entry.url, adminUrl: entry.adminUrl };
        }
        return undefined;
      },
      { service },
    );
    out(`    serving ${this.connect.url} (vaults Production and Staging)`);

    out(`    $ op-kube connect-local token create demo --vault=Production,r`);
    const created = await run(process.execPath, [
      LAUNCHER,
      'connect-local',
      'token',
      'create',
      'demo',
      `--state-dir=${stateDir}`,
      '--vault=Production,r',
    ]);
    if (created.code !== 0) throw new StepFailure(`token create failed: ${created.stderr.trim()}`);
    this.token = created.stdout.trim();
    const tokenFile = join(this.workDir, 'token');
    await writeFile(tokenFile, this.token, { mode: 0o600 });
    for (const namespace of [this.namespace, this.appsNamespace]) {
      await this.kubectlOk(
        [
          'create',
          'secret',
          'generic',
          'onepassword-token',
          `--from-file=token=${tokenFile}`,
          '-n',
          namespace,
        ],
        { show: true },
      );
    }
    out(`    token: read access to Production only (also in ${tokenFile})`);
  }

  async crd(): Promise<void> {
    await this.kubectlOk(
      [
        'apply',
        '--server-side',
        '--field-manager=op-kube-demo',
        '--force-conflicts',
        '-f',
        'crds/',
      ],
      { show: true },
    );
    await this.kubectlOk([
      'wait',
      '--for=condition=Established',
      'crd/onepassworditems.onepassword.com',
      '--timeout=60s',
    ]);
  }

  async operator(): Promise<void> {
    const [metricsPort, probePort] = [await freePort(), await freePort()];
    const service = this.startService(
      'operator',
      [
        'operator',
        `--kubeconfig=${this.plane.kubeconfigPath}`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        `--health-probe-bind-address=127.0.0.1:${probePort}`,
      ],
      {
        ...process.env,
        KUBECONFIG: this.plane.kubeconfigPath,
        OP_CONNECT_HOST: this.connect.url,
        OP_CONNECT_TOKEN: this.token,
        WATCH_NAMESPACE: this.namespace,
        POLLING_INTERVAL: '2',
      },
    );
    await this.waitFor(
      'the operator to be ready',
      async () => ((await fetch(`http://127.0.0.1:${probePort}/readyz`)).ok ? true : undefined),
      { service },
    );
    out(`    ready: watching ${this.namespace}, polling Connect every 2 s`);
  }

  async webhook(): Promise<void> {
    const port = await freePort();
    const service = this.startService(
      'webhook',
      [
        'webhook',
        `--kubeconfig=${this.plane.kubeconfigPath}`,
        '--bind-address=127.0.0.1',
        `--port=${port}`,
        `--namespace=${this.namespace}`,
        `--webhook-config-name=${this.webhookConfigName}`,
        `--register-url=https://127.0.0.1:${port}/inject`,
        // Ignore, not the default Fail: the configuration matches every labelled namespace of the
        // plane, including other tools' and tests' while they run; if this webhook is down their
        // pods must not fail because of it.
        '--failure-policy=Ignore',
        `--connect-host=${this.connect.url}`,
        '--shutdown-delay=0s',
      ],
      { ...process.env, KUBECONFIG: this.plane.kubeconfigPath },
    );
    await this.waitFor('the webhook to be ready', () => readyOverTls(port), { service });
    await this.waitFor(
      `MutatingWebhookConfiguration ${this.webhookConfigName} with its caBundle`,
      async () => {
        const result = await this.kubectl([
          'get',
          'mutatingwebhookconfiguration',
          this.webhookConfigName,
          '-o',
          'jsonpath={.webhooks[0].clientConfig.caBundle}',
        ]);
        return result.code === 0 && result.stdout !== '' ? true : undefined;
      },
      { service },
    );
    out(`    ready: https://127.0.0.1:${port}/inject, registered as ${this.webhookConfigName}`);
  }

  async applyExamples(): Promise<void> {
    for (const file of ['onepassworditem.yaml', 'deployment.yaml']) {
      out(`    $ kubectl apply -n ${this.namespace} -f examples/demo/${file}`);
      await this.kubectlOk(['apply', '-n', this.namespace, '-f', join(DEMO_DIR, file)]);
    }
    // Pods are refused until the ServiceAccount controller has made the namespace's `default`.
    await this.waitFor(`ServiceAccount ${this.appsNamespace}/default`, async () =>
      (await this.kubectl(['get', 'serviceaccount', 'default', '-n', this.appsNamespace])).code ===
      0
        ? true
        : undefined,
    );
    out(`    $ kubectl create -n ${this.appsNamespace} -f examples/demo/pod.yaml`);
    // The apiserver picks a new webhook configuration up within a moment; with failurePolicy
    // Ignore a pod created before that is stored uninjected, so create it again until it is.
    await this.waitFor(
      'the pod to be injected',
      async () => {
        await this.kubectlOk([
          'create',
          '-n',
          this.appsNamespace,
          '-f',
          join(DEMO_DIR, 'pod.yaml'),
        ]);
        const pod = await this.getJson<Pod>(['get', 'pod', 'app', '-n', this.appsNamespace]);
        if (pod?.metadata.annotations?.['operator.1password.io/status'] === 'injected') return pod;
        await this.kubectlOk([
          'delete',
          'pod',
          'app',
          '-n',
          this.appsNamespace,
          '--grace-period=0',
          '--force',
          '--wait=true',
        ]);
        await sleep(500);
        return undefined;
      },
      { timeoutMs: 30_000 },
    );
  }

  async showSecrets(): Promise<Map<string, string>> {
    const expected = ['database', 'api-key'];
    const secrets = await this.waitFor('the Secrets database and api-key', async () => {
      const list = await this.getJson<{ items: Secret[] }>([
        'get',
        'secrets',
        '-n',
        this.namespace,
        '-l',
        'app.kubernetes.io/managed-by=op-kube',
      ]);
      const items = list?.items ?? [];
      return expected.every((name) => items.some((item) => item.metadata.name === name))
        ? items
        : undefined;
    });
    const versions = new Map<string, string>();
    for (const secret of secrets.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
      const keys = Object.keys(secret.data ?? {}).sort();
      const version = secret.metadata.annotations?.[ITEM_VERSION] ?? '?';
      versions.set(secret.metadata.name, version);
      out(
        `    Secret ${this.namespace}/${secret.metadata.name} (${secret.type ?? 'Opaque'}), ` +
          `item-version ${version}, keys: ${keys.join(', ')}`,
      );
    }
    out('    (values are never printed; read them with kubectl if you need to)');
    return versions;
  }

  async showItem(): Promise<void> {
    const item = await this.waitFor('OnePasswordItem database to be Ready', async () => {
      const found = await this.readDatabaseItem();
      return readyOf(found)?.status === 'True' ? found : undefined;
    });
    const ready = readyOf(item);
    out(
      `    OnePasswordItem ${this.namespace}/database: Ready=${ready?.status} (${ready?.reason}), ` +
        `itemVersion ${item?.status?.itemVersion ?? '?'}, secretName ${item?.status?.secretName ?? '?'}`,
    );
  }

  async showPod(): Promise<void> {
    const pod = await this.getJson<Pod>(['get', 'pod', 'app', '-n', this.appsNamespace]);
    if (!pod) throw new StepFailure(`pod ${this.appsNamespace}/app is gone`);
    out(`    Pod ${this.appsNamespace}/app, as stored after the webhook:`);
    for (const init of pod.spec.initContainers ?? []) {
      out(
        `      init container ${init.name}: image ${init.image}, command ${(init.command ?? []).join(' ')}`,
      );
    }
    for (const container of pod.spec.containers) {
      out(`      container ${container.name}: command ${(container.command ?? []).join(' ')}`);
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef;
        const shown = ref
          ? `from Secret ${ref.name}, key ${ref.key}`
          : variable.value?.startsWith('op://') || variable.name.startsWith('OP_')
            ? variable.value
            : '(set)';
        out(`        env ${variable.name}: ${shown}`);
      }
    }
    out('      (no scheduler or kubelet here: the pod is stored, it never runs)');
  }

  async editItem(versions: Map<string, string>): Promise<void> {
    const itemUrl = `/vaults/${VAULT_ID}/items/${DATABASE_ID}`;
    const response = await fetch(`${this.connect.url}/v1${itemUrl}`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
    if (!response.ok) throw new StepFailure(`GET /v1${itemUrl} answered ${response.status}`);
    const item = (await response.json()) as { fields?: { label?: string; value?: string }[] };
    const password = item.fields?.find((field) => field.label === 'password');
    if (!password) throw new StepFailure('the item Production/database has no password field');
    password.value = NEW_PASSWORD;
    const secretDigest = async (): Promise<string | undefined> => {
      const secret = await this.readDatabaseSecret();
      const value = secret?.data?.password;
      return value && createHash('sha256').update(value).digest('hex');
    };
    const digestBefore = await secretDigest();
    const adminSecret = (
      await readFile(join(this.workDir, 'connect-local', 'admin-secret'), 'utf8')
    ).trim();
    out(
      `    PUT ${this.connect.adminUrl}/admin${itemUrl} (a new password for Production/database)`,
    );
    const started = Date.now();
    const edited = await fetch(`${this.connect.adminUrl}/admin${itemUrl}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify(item),
    });
    if (!edited.ok) throw new StepFailure(`the item edit answered ${edited.status}`);
    const { version } = (await edited.json()) as { version?: number };
    out(`    connect-local: Production/database is now at version ${version}`);
    const before = versions.get('database') ?? '?';
    const after = await this.waitFor('the new item version in Secret database', async () => {
      const secret = await this.readDatabaseSecret();
      const current = secret?.metadata.annotations?.[ITEM_VERSION];
      return current !== undefined && current !== before ? current : undefined;
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const changed = (await secretDigest()) !== digestBefore ? 'changed' : 'UNCHANGED';
    out(
      `    Secret ${this.namespace}/database: ${ITEM_VERSION} ${before} -> ${after} ` +
        `after ${seconds}s (key password ${changed}; value not shown)`,
    );
    const item2 = await this.waitFor('the OnePasswordItem status to follow', async () => {
      const found = await this.readDatabaseItem();
      return String(found?.status?.itemVersion) === after ? found : undefined;
    });
    out(
      `    OnePasswordItem ${this.namespace}/database: Ready=${readyOf(item2)?.status}, itemVersion ${item2.status?.itemVersion}`,
    );
    if (changed !== 'changed') throw new StepFailure('the Secret data did not change');
  }

  printExplore(): void {
    const kubectl = `${this.kubectlPath} --kubeconfig ${this.plane.kubeconfigPath}`;
    out();
    out('Everything is still running (--keep). Explore:');
    out(`  ${kubectl} get onepassworditems,secrets,deployments -n ${this.namespace}`);
    out(`  ${kubectl} get pod app -n ${this.appsNamespace} -o yaml`);
    out(
      `  ${kubectl} get secret database -n ${this.namespace} -o jsonpath='{.data.password}' | base64 -d`,
    );
    out(`  connect-local: ${this.connect.url} (token in ${join(this.workDir, 'token')})`);
    out(
      `    curl -H "Authorization: Bearer $(cat ${join(this.workDir, 'token')})" ${this.connect.url}/v1/vaults`,
    );
    out(`  logs: ${this.workDir}/*.log`);
    out('Stop it:');
    out(
      `  kill ${this.services.map((service) => service.child.pid).join(' ')}   # ${this.services.map((service) => service.name).join(', ')}`,
    );
    out(`  ${kubectl} delete namespace ${this.namespace} ${this.appsNamespace}`);
    out(`  rm -rf ${this.workDir}`);
    out('  npm run cluster:down   # the control plane');
  }

  /** Stops every service and removes what the demo made; idempotent, never throws. */
  cleanup(): Promise<void> {
    return (this.#cleaning ??= this.#cleanup());
  }

  async #cleanup(): Promise<void> {
    const warn = (what: string, error: unknown): void => {
      process.stderr.write(
        `demo: cleanup: ${what}: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    };
    out('==> cleaning up');
    // The webhook first: it removes its own configuration on SIGTERM.
    for (const service of [...this.services].reverse()) {
      const { child } = service;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([service.exited, sleep(20_000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await service.exited;
      }
      out(`    stopped ${service.name}`);
    }
    // A plane this run started is stopped below, its etcd data discarded: nothing to delete there.
    if (!this.stopPlane && (await this.plane.status())['kube-apiserver'].running) {
      try {
        await this.kubectlOk([
          'delete',
          'mutatingwebhookconfiguration',
          this.webhookConfigName,
          '--ignore-not-found',
        ]);
        if (this.createdNamespaces) {
          await this.kubectlOk([
            'delete',
            'namespace',
            this.namespace,
            this.appsNamespace,
            '--ignore-not-found',
            '--timeout=90s',
          ]);
          out(`    deleted namespaces ${this.namespace} and ${this.appsNamespace}`);
        }
      } catch (error) {
        warn('deleting objects', error);
      }
    }
    if (this.workDir) await rm(this.workDir, { recursive: true, force: true });
    if (this.stopPlane) {
      await this.plane.down().catch((error: unknown) => warn('stopping the control plane', error));
      out('    stopped the control plane it started');
    }
  }

  async failureLogs(): Promise<void> {
    for (const service of this.services) {
      process.stderr.write(
        `--- last lines of ${service.name}'s log:\n${await tail(service.logFile)}\n`,
      );
    }
  }
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
}
interface OnePasswordItem {
  status?: { conditions?: Condition[]; itemVersion?: number; secretName?: string };
}
interface Secret {
  metadata: { name: string; annotations?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } };
  }[];
}
interface Pod {
  metadata: { annotations?: Record<string, string> };
  spec: { containers: Container[]; initContainers?: Container[] };
}

function readyOf(item: OnePasswordItem | undefined): Condition | undefined {
  return item?.status?.conditions?.find((condition) => condition.type === 'Ready');
}

/** The webhook serves a certificate from its own CA: readiness is probed without verifying it. */
function readyOverTls(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false, timeout: 2_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200 ? true : undefined);
      },
    );
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function main(): Promise<number> {
  const parsed = parseArguments(process.argv.slice(2));
  if (typeof parsed === 'number') return parsed;
  let demo: Demo;
  try {
    demo = new Demo(parsed.keep, suffixFromEnv());
  } catch (error) {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      out(`\n${signal}: stopping`);
      demo.interrupted = true;
      void demo.cleanup().finally(() => process.exit(130));
    });
  }

  const steps: [string, () => Promise<unknown>][] = [
    ['local control plane', () => demo.controlPlane()],
    ['namespaces', () => demo.namespaces()],
    ['connect-local and its token', () => demo.connectLocal()],
    ['OnePasswordItem CRD', () => demo.crd()],
    ['op-kube operator', () => demo.operator()],
    ['op-kube webhook', () => demo.webhook()],
    ['applying examples/demo', () => demo.applyExamples()],
  ];
  let versions = new Map<string, string>();
  steps.push(
    ['Secrets made by the operator', async () => (versions = await demo.showSecrets())],
    ['OnePasswordItem status', () => demo.showItem()],
    ['the injected pod', () => demo.showPod()],
    ['editing the item in connect-local', () => demo.editItem(versions)],
  );

  demo.workDir = await mkdtemp(join(tmpdir(), 'op-kube-demo-'));
  let failed: string | undefined;
  for (const [index, [title, step]] of steps.entries()) {
    out(`==> [${index + 1}/${steps.length}] ${title}`);
    try {
      await step();
    } catch (error) {
      const message =
        error instanceof MissingGoError || error instanceof StepFailure
          ? error.message
          : error instanceof Error
            ? (error.stack ?? error.message)
            : String(error);
      if (demo.interrupted) {
        await demo.cleanup();
        return 130;
      }
      failed = `demo failed at step ${index + 1} (${title}): ${message}`;
      break;
    }
  }
  if (failed) {
    process.stderr.write(`\n${failed}\n`);
    await demo.failureLogs();
    await demo.cleanup();
    return 1;
  }
  if (demo.keep) {
    for (const service of demo.services) service.child.unref();
    demo.printExplore();
    return 0;
  }
  await demo.cleanup();
  out('demo complete');
  return 0;
}

process.exitCode = await main();
