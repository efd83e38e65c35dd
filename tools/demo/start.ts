// The demo's first steps: bring the system up — the control plane, its namespaces, connect-local
// and a token, the CRD, the operator and the webhook — recording how to undo each as it goes.
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { repoRoot } from '../cluster/paths.ts';
import { COMPONENTS } from '../cluster/plane.ts';
import { freePort } from '../cluster/ports.ts';
import type { Demo } from './demo.ts';
import { out, StepFailure } from './output.ts';
import { LAUNCHER, run, Supervisor, waitFor, type Service } from './processes.ts';

export const DEMO_DIR = join(repoRoot, 'examples', 'demo');

/**
 * Deletes objects at clean-up, unless the plane is about to go with its data or is not running;
 * true when it deleted.
 */
async function deleteFromPlane(demo: Demo, args: readonly string[]): Promise<boolean> {
  if (demo.stopPlane || !(await demo.plane.status())['kube-apiserver'].running) return false;
  await demo.kubectl.ok(['delete', ...args]);
  return true;
}

/** Starts an op-kube service and records that clean-up stops it. */
function startService(
  demo: Demo,
  name: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Service {
  const service = demo.services.start(name, args, env);
  demo.cleanUp.add(`stopping ${name}`, () => Supervisor.stop(service));
  return service;
}

export async function controlPlane(demo: Demo): Promise<void> {
  const { plane } = demo;
  const before = await plane.status();
  const anyRunning = COMPONENTS.some((component) => before[component].running);
  const outcome = await plane.up();
  demo.stopPlane = outcome === 'started' && !anyRunning && !demo.keep;
  if (demo.stopPlane) {
    demo.cleanUp.add('stopping the control plane', async () => {
      await plane.down();
      out('    stopped the control plane it started');
    });
  }
  out(
    `    ${outcome === 'started' ? 'started' : 'reusing'} the control plane at ${await plane.apiserverUrl()} ` +
      `(kubeconfig ${plane.kubeconfigPath})`,
  );
  out('    it has no scheduler and no kubelet: pods are stored, admitted and mutated, never run');
}

export async function namespaces(demo: Demo): Promise<void> {
  const { namespace, appsNamespace, tenantNamespace } = demo.names;
  const all = [namespace, appsNamespace, tenantNamespace];
  for (const name of all) {
    const existing = await demo.kubectl.run(['get', 'namespace', name]);
    if (existing.code === 0) {
      throw new StepFailure(
        `namespace ${name} already exists (left by \`npm run demo -- --keep\`?); delete it with ` +
          `${demo.kubectl.path} --kubeconfig ${demo.plane.kubeconfigPath} delete namespace ${name}`,
      );
    }
  }
  const renamed: Record<string, string> = {
    'op-kube-demo': namespace,
    'op-kube-demo-apps': appsNamespace,
    'op-kube-demo-team-b': tenantNamespace,
  };
  const documents = yaml.loadAll(readFileSync(join(DEMO_DIR, 'namespaces.yaml'), 'utf8')) as {
    metadata: { name: string };
  }[];
  for (const document of documents) {
    document.metadata.name = renamed[document.metadata.name] ?? document.metadata.name;
  }
  // Recorded before applying: a namespace the apply made before failing is removed too.
  demo.cleanUp.add('deleting the namespaces', async () => {
    const args = ['namespace', ...all, '--ignore-not-found', '--timeout=90s'];
    if (await deleteFromPlane(demo, args)) {
      out(`    deleted namespaces ${all.join(', ')}`);
    }
  });
  out(`    $ kubectl apply -f examples/demo/namespaces.yaml`);
  await demo.kubectl.ok(['apply', '-f', '-'], {
    input: documents.map((document) => yaml.dump(document)).join('---\n'),
  });
  out(
    `    namespaces ${namespace}, ${appsNamespace} (secrets-injection=enabled) and ${tenantNamespace} (team B)`,
  );
}

export async function connectLocal(demo: Demo): Promise<void> {
  const stateDir = join(demo.workDir, 'connect-local');
  const env = { ...process.env };
  // The admin secret then lives in <state-dir>/admin-secret, where --keep points to it.
  delete env.CONNECT_LOCAL_ADMIN_SECRET;
  const service = startService(
    demo,
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
  demo.connect = await waitFor(
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
  out(`    serving ${demo.connect.url} (vaults Production and Staging)`);

  demo.token = await createToken(demo, stateDir, 'demo', 'Production,r');
  const tokenFile = join(demo.workDir, 'token');
  await writeFile(tokenFile, demo.token, { mode: 0o600 });
  for (const namespace of [demo.names.namespace, demo.names.appsNamespace]) {
    await tokenSecret(demo, namespace, tokenFile);
  }
  out(`    token: read access to Production only (also in ${tokenFile})`);
  // Team B's own token, in its own namespace: the operator reads each namespace with its token.
  const teamBFile = join(demo.workDir, 'token-team-b');
  await writeFile(teamBFile, await createToken(demo, stateDir, 'team-b', 'Staging,r'), {
    mode: 0o600,
  });
  await tokenSecret(demo, demo.names.tenantNamespace, teamBFile);
  out(`    team B's token: read access to Staging only (in ${teamBFile})`);
}

/** `op-kube connect-local token create <name> --vault=<vault>`: the new token. */
async function createToken(
  demo: Demo,
  stateDir: string,
  name: string,
  vault: string,
): Promise<string> {
  out(`    $ op-kube connect-local token create ${name} --vault=${vault}`);
  const created = await run(process.execPath, [
    LAUNCHER,
    'connect-local',
    'token',
    'create',
    name,
    `--state-dir=${stateDir}`,
    `--vault=${vault}`,
  ]);
  if (created.code !== 0) throw new StepFailure(`token create failed: ${created.stderr.trim()}`);
  return created.stdout.trim();
}

/** The Secret `onepassword-token` (key `token`) in `namespace`, from `file`. */
async function tokenSecret(demo: Demo, namespace: string, file: string): Promise<void> {
  await demo.kubectl.ok(
    [
      'create',
      'secret',
      'generic',
      'onepassword-token',
      `--from-file=token=${file}`,
      '-n',
      namespace,
    ],
    { show: true },
  );
}

/** The CRD stays after the demo: removing it would delete every OnePasswordItem on the plane. */
export async function crd(demo: Demo): Promise<void> {
  await demo.kubectl.ok(
    ['apply', '--server-side', '--field-manager=op-kube-demo', '--force-conflicts', '-f', 'crds/'],
    { show: true },
  );
  await demo.kubectl.ok([
    'wait',
    '--for=condition=Established',
    'crd/onepassworditems.onepassword.com',
    '--timeout=60s',
  ]);
}

export async function operator(demo: Demo): Promise<void> {
  const { kubeconfigPath } = demo.plane;
  const [metricsPort, probePort] = [await freePort(), await freePort()];
  const service = startService(
    demo,
    'operator',
    [
      'operator',
      `--kubeconfig=${kubeconfigPath}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      // Each namespace's items are read with the token in its own onepassword-token Secret.
      '--token-source=namespace',
    ],
    {
      ...process.env,
      KUBECONFIG: kubeconfigPath,
      OP_CONNECT_HOST: demo.connect.url,
      WATCH_NAMESPACE: `${demo.names.namespace},${demo.names.tenantNamespace}`,
      POLLING_INTERVAL: '2',
    },
  );
  await waitFor(
    'the operator to be ready',
    async () => ((await fetch(`http://127.0.0.1:${probePort}/readyz`)).ok ? true : undefined),
    { service },
  );
  out(
    `    ready: watching ${demo.names.namespace} and ${demo.names.tenantNamespace}, each with its ` +
      `own token (--token-source=namespace), polling Connect every 2 s`,
  );
}

export async function webhook(demo: Demo): Promise<void> {
  const { kubeconfigPath } = demo.plane;
  const { webhookConfigName } = demo.names;
  const port = await freePort();
  // Recorded before the webhook starts, so undone after it stops: the webhook removes its own
  // configuration on SIGTERM, and this deletes it should it not have.
  demo.cleanUp.add(`deleting MutatingWebhookConfiguration ${webhookConfigName}`, async () => {
    await deleteFromPlane(demo, [
      'mutatingwebhookconfiguration',
      webhookConfigName,
      '--ignore-not-found',
    ]);
  });
  const service = startService(
    demo,
    'webhook',
    [
      'webhook',
      `--kubeconfig=${kubeconfigPath}`,
      '--bind-address=127.0.0.1',
      `--port=${port}`,
      `--namespace=${demo.names.namespace}`,
      `--webhook-config-name=${webhookConfigName}`,
      `--register-url=https://127.0.0.1:${port}/inject`,
      // Ignore, not the default Fail: the configuration matches every labelled namespace of the
      // plane, including other tools' and tests' while they run; if this webhook is down their
      // pods must not fail because of it.
      '--failure-policy=Ignore',
      `--connect-host=${demo.connect.url}`,
      '--shutdown-delay=0s',
    ],
    { ...process.env, KUBECONFIG: kubeconfigPath },
  );
  await waitFor('the webhook to be ready', () => readyOverTls(port), { service });
  await waitFor(
    `MutatingWebhookConfiguration ${webhookConfigName} with its caBundle`,
    async () => {
      const result = await demo.kubectl.run([
        'get',
        'mutatingwebhookconfiguration',
        webhookConfigName,
        '-o',
        'jsonpath={.webhooks[0].clientConfig.caBundle}',
      ]);
      return result.code === 0 && result.stdout !== '' ? true : undefined;
    },
    { service },
  );
  out(`    ready: https://127.0.0.1:${port}/inject, registered as ${webhookConfigName}`);
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
