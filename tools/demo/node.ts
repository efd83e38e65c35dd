// `npm run demo -- --node`: the system as its users run it, on the local worker node — the images
// built here, `helm install` of charts/op-kube with connect-local, its pods Running, a
// OnePasswordItem's Secret, an injected pod that prints the names of the keys it received, and an
// item edit arriving. Like the default demo, it prints no value.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import yaml from 'js-yaml';
import { LocalNode, NODE_COMPONENTS, stopNodeOf } from '../cluster/node/node.ts';
import { repoRoot } from '../cluster/paths.ts';
import { COMPONENTS } from '../cluster/plane.ts';
import { nodeWithImages } from '../images/node.ts';
import type { Demo } from './demo.ts';
import { readyOf, type Pod, type Secret } from './kubectl.ts';
import { out, StepFailure } from './output.ts';
import { run, waitFor, type RunResult } from './processes.ts';
import { DEMO_DIR } from './start.ts';

const CHART_DIR = join(repoRoot, 'charts', 'op-kube');
const ITEM_VERSION = 'operator.1password.io/item-version';
// Ids fixed in examples/connect-local.yaml (the chart's default connect-local data).
const ITEM_PATH = '/v1/vaults/production0000000000000000/items/database000000000000000000';
const INSTANCE = 'app.kubernetes.io/instance';
/** The injected pod: examples/demo/pod.yaml, with an app that exists and says what it received. */
const POD_NAME = 'app';

/** What the node steps learn and later steps use. */
export interface NodeRun {
  readonly release: string;
  readonly productRef: string;
  readonly opStandinTag: string;
  readonly chartImageArgs: readonly string[];
  installStarted: number;
  /** The item-version of Secret database as first shown. */
  itemVersion: string;
}

function nodeRun(demo: Demo): NodeRun {
  if (!demo.nodeRun) throw new StepFailure('the node step did not run');
  return demo.nodeRun;
}

function helm(demo: Demo, args: readonly string[]): Promise<RunResult> {
  const helmDir = join(demo.plane.dir, 'helm');
  return run(
    join(demo.plane.binDir, 'helm'),
    ['--kubeconfig', demo.plane.kubeconfigPath, ...args],
    {
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(helmDir, 'cache'),
        HELM_CONFIG_HOME: join(helmDir, 'config'),
        HELM_DATA_HOME: join(helmDir, 'data'),
      },
    },
  );
}

/** Deletes at clean-up unless the plane goes with its data or is down; true when it went ahead. */
async function planeStays(demo: Demo): Promise<boolean> {
  return !demo.stopPlane && (await demo.plane.status())['kube-apiserver'].running;
}

/**
 * The plane in node mode, its worker node and the images, each reused when present. What the demo
 * started it stops at the end (without --keep): everything if nothing ran, else only the node.
 */
export async function nodeAndImages(demo: Demo): Promise<void> {
  const { plane } = demo;
  const planeBefore = await plane.status();
  const nodeBefore = await new LocalNode(plane.dir, () => {}).status();
  const planeRan = COMPONENTS.some((component) => planeBefore[component].running);
  const nodeRan = NODE_COMPONENTS.some((component) => nodeBefore[component].running);
  const log = (line: string): void => out(`    [node] ${line}`);
  const ready = await nodeWithImages(log, { dir: plane.dir });
  demo.stopPlane = ready.node.started && !planeRan && !nodeRan && !demo.keep;
  if (demo.stopPlane) {
    demo.cleanUp.add('stopping the control plane and the node', async () => {
      await plane.down();
      out('    stopped the control plane and the node it started');
    });
  } else if (ready.node.started && !nodeRan && !demo.keep) {
    demo.cleanUp.add('stopping the node', async () => {
      await plane.withLock(() => stopNodeOf(plane.dir, log));
      out('    stopped the node it started (the control plane stays)');
    });
  }
  const { product, opStandin } = ready.images;
  demo.nodeRun = {
    release: demo.names.namespace,
    productRef: product.ref,
    opStandinTag: opStandin.tag,
    chartImageArgs: ready.chartImageArgs,
    installStarted: 0,
    itemVersion: '?',
  };
  out(
    `    ${ready.node.started ? 'started' : 'reusing'} the control plane and worker node ` +
      `${ready.node.nodeName} (${ready.node.nodeIp}; kubeconfig ${plane.kubeconfigPath})`,
  );
  out(`    images imported into the node's containerd (it pulls from nowhere):`);
  out(`      ${product.ref}   op-kube, built from ./Dockerfile`);
  out(`      ${opStandin.ref}   test-only stand-in for 1password/op`);
  await showCommand(demo, ['get', 'nodes', '-o', 'wide']);
}

/** The demo's namespaces; the release's one enforces the restricted Pod Security level. */
export async function nodeNamespaces(demo: Demo): Promise<void> {
  const { namespace, appsNamespace } = demo.names;
  for (const name of [namespace, appsNamespace]) {
    if ((await demo.kubectl.run(['get', 'namespace', name])).code === 0) {
      throw new StepFailure(
        `namespace ${name} already exists (left by \`npm run demo -- --node --keep\`?); remove it ` +
          `with ${demo.plane.binDir}/helm --kubeconfig ${demo.plane.kubeconfigPath} uninstall ` +
          `${nodeRun(demo).release} -n ${namespace} --ignore-not-found; ` +
          `${demo.kubectl.path} --kubeconfig ${demo.plane.kubeconfigPath} delete namespace ${namespace} ${appsNamespace}`,
      );
    }
  }
  demo.cleanUp.add('deleting the namespaces', async () => {
    if (!(await planeStays(demo))) return;
    await demo.kubectl.ok([
      'delete',
      'namespace',
      namespace,
      appsNamespace,
      '--ignore-not-found',
      '--timeout=120s',
    ]);
    out(`    deleted namespaces ${namespace} and ${appsNamespace}`);
  });
  const documents = yaml.loadAll(readFileSync(join(DEMO_DIR, 'namespaces.yaml'), 'utf8')) as {
    metadata: { name: string; labels?: Record<string, string> };
  }[];
  for (const document of documents) {
    if (document.metadata.name === 'op-kube-demo') {
      document.metadata.name = namespace;
      document.metadata.labels = {
        ...document.metadata.labels,
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
      };
    } else if (document.metadata.name === 'op-kube-demo-apps') {
      document.metadata.name = appsNamespace;
    }
  }
  out('    $ kubectl apply -f examples/demo/namespaces.yaml');
  await demo.kubectl.ok(['apply', '-f', '-'], {
    input: documents.map((document) => yaml.dump(document)).join('---\n'),
  });
  out(`    ${namespace}: the release, Pod Security level restricted (enforced)`);
  out(`    ${appsNamespace}: the apps, labelled secrets-injection=enabled`);
}

export async function helmInstall(demo: Demo): Promise<void> {
  const state = nodeRun(demo);
  const { namespace } = demo.names;
  // Recorded first: a release the install left half made is uninstalled too.
  demo.cleanUp.add(`helm uninstall ${state.release}`, async () => {
    if (!(await planeStays(demo))) return;
    const result = await helm(demo, [
      'uninstall',
      state.release,
      '-n',
      namespace,
      '--ignore-not-found',
      '--wait',
      '--timeout=120s',
    ]);
    if (result.code !== 0) throw new StepFailure(`helm uninstall: ${result.stderr.trim()}`);
    out(`    uninstalled ${state.release}`);
  });
  const values = ['connectLocal.enabled=true', 'operator.pollingInterval=2'];
  out(
    `    $ helm install ${state.release} charts/op-kube -n ${namespace} ` +
      values.map((value) => `--set ${value}`).join(' '),
  );
  out(`        ${state.chartImageArgs.join(' ')}`);
  state.installStarted = Date.now();
  const result = await helm(demo, [
    'install',
    state.release,
    CHART_DIR,
    '-n',
    namespace,
    ...values.flatMap((value) => ['--set', value]),
    ...state.chartImageArgs,
  ]);
  if (result.code !== 0) throw new StepFailure(`helm install failed: ${result.stderr.trim()}`);
  out('    operator, webhook (injector) and connect-local, with connect-local seeded from');
  out('    examples/connect-local.yaml and its token written to Secret onepassword-token');
}

interface PodItem {
  metadata: { name: string; deletionTimestamp?: string };
  status: { phase?: string; conditions?: { type: string; status: string }[] };
}

const isReady = (pod: PodItem): boolean =>
  pod.metadata.deletionTimestamp === undefined &&
  pod.status.phase === 'Running' &&
  (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

export async function podsRunning(demo: Demo): Promise<void> {
  const state = nodeRun(demo);
  const { namespace } = demo.names;
  const selector = `${INSTANCE}=${state.release}`;
  await waitFor(
    'the release pods to be Running and Ready',
    async () => {
      const list = await demo.kubectl.getJson<{ items: PodItem[] }>([
        'get',
        'pods',
        '-n',
        namespace,
        '-l',
        selector,
      ]);
      const current = (list?.items ?? []).filter((pod) => !pod.metadata.deletionTimestamp);
      return current.length >= 3 && current.every(isReady) ? current : undefined;
    },
    { timeoutMs: 300_000 },
  ).catch(async (error: unknown) => {
    await showCommand(demo, ['get', 'pods', '-n', namespace, '-o', 'wide']);
    throw error;
  });
  const seconds = ((Date.now() - state.installStarted) / 1000).toFixed(1);
  out(`    helm install to every pod Ready: ${seconds}s`);
  await showCommand(demo, ['get', 'pods', '-n', namespace, '-o', 'wide']);
}

export async function nodeSecret(demo: Demo): Promise<void> {
  const state = nodeRun(demo);
  const { appsNamespace } = demo.names;
  out(`    $ kubectl apply -n ${appsNamespace} -f examples/demo/onepassworditem.yaml`);
  await demo.kubectl.ok([
    'apply',
    '-n',
    appsNamespace,
    '-f',
    join(DEMO_DIR, 'onepassworditem.yaml'),
  ]);
  const item = await waitFor('OnePasswordItem database to be Ready', async () => {
    const found = await demo.kubectl.readDatabaseItem(appsNamespace);
    return readyOf(found)?.status === 'True' ? found : undefined;
  });
  const secret = await waitFor('Secret database', () =>
    demo.kubectl.readDatabaseSecret(appsNamespace),
  );
  state.itemVersion = secret.metadata.annotations?.[ITEM_VERSION] ?? '?';
  out(
    `    OnePasswordItem ${appsNamespace}/database: Ready=True (${readyOf(item)?.reason}), ` +
      `itemVersion ${item?.status?.itemVersion ?? '?'}`,
  );
  out(
    `    Secret ${appsNamespace}/database (${secret.type ?? 'Opaque'}), written by the in-cluster ` +
      `operator: item-version ${state.itemVersion}, keys: ${keysOf(secret).join(', ')}`,
  );
  out('    (values are never printed)');
}

const keysOf = (secret: Secret): string[] => Object.keys(secret.data ?? {}).sort();

/** Prints the names of the DB_ variables the app received and whether each was resolved. */
const APP_SCRIPT = [
  "const names = Object.keys(process.env).filter((name) => name.startsWith('DB_')).sort();",
  "console.log('received ' + names.length + ' keys: ' + names.join(', '));",
  'for (const name of names) {',
  "  const resolved = !process.env[name].startsWith('op://');",
  "  console.log(name + ': ' + (resolved ? 'resolved' : 'NOT resolved (still an op:// reference)'));",
  '}',
  "console.log('(the app prints names only, never values)');",
].join('\n');

interface DemoPod {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    restartPolicy?: string;
    automountServiceAccountToken?: boolean;
    containers: {
      name: string;
      image?: string;
      imagePullPolicy?: string;
      command?: string[];
    }[];
  };
}

export async function injectedPod(demo: Demo): Promise<void> {
  const state = nodeRun(demo);
  const { kubectl } = demo;
  const { namespace, appsNamespace } = demo.names;
  // The injected pod's `op` reads the token from Secret onepassword-token in its own namespace (as
  // 1Password's injector); connect-local wrote it in the release's namespace. Copied, never shown.
  const token = await waitFor('connect-local to write its token', async () => {
    const secret = await kubectl.getJson<Secret>([
      'get',
      'secret',
      'onepassword-token',
      '-n',
      namespace,
    ]);
    return secret?.data?.token ? secret.data.token : undefined;
  });
  out(`    copying Secret onepassword-token from ${namespace} to ${appsNamespace}`);
  await kubectl.ok(['apply', '-n', appsNamespace, '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'onepassword-token' },
      data: { token },
    }),
  });

  const pod = yaml.load(readFileSync(join(DEMO_DIR, 'pod.yaml'), 'utf8')) as DemoPod;
  pod.metadata.annotations = {
    ...pod.metadata.annotations,
    // The op stand-in's tag: the injector's init container copies `op` from opImage:<version>.
    'operator.1password.io/version': state.opStandinTag,
  };
  pod.spec.restartPolicy = 'Never';
  pod.spec.automountServiceAccountToken = false;
  for (const container of pod.spec.containers) {
    container.image = state.productRef;
    container.imagePullPolicy = 'IfNotPresent';
    container.command = ['node', '-e', APP_SCRIPT];
  }
  out(
    `    $ kubectl create -n ${appsNamespace} -f examples/demo/pod.yaml  ` +
      `# app: ${state.productRef}, printing the names of its DB_ variables`,
  );
  // failurePolicy Fail: until the injector's leader has written the webhook's caBundle, creations
  // are refused; try again until the pod is stored, injected.
  const stored = await waitFor(
    'the pod to be created through the webhook',
    async () => {
      const created = await kubectl.run(
        ['create', '-n', appsNamespace, '-f', '-'],
        JSON.stringify(pod),
      );
      if (created.code !== 0) {
        await sleep(1000);
        return undefined;
      }
      return kubectl.getJson<Pod>(['get', 'pod', POD_NAME, '-n', appsNamespace]);
    },
    { timeoutMs: 60_000 },
  );
  if (stored.metadata.annotations?.['operator.1password.io/status'] !== 'injected') {
    throw new StepFailure(`pod ${appsNamespace}/${POD_NAME} was stored without being injected`);
  }
  out(`    Pod ${appsNamespace}/${POD_NAME}, as the webhook stored it:`);
  for (const init of stored.spec.initContainers ?? []) {
    out(`      init container ${init.name}: image ${init.image}`);
  }
  for (const container of stored.spec.containers) {
    out(
      `      container ${container.name}: command ${(container.command ?? []).slice(0, 4).join(' ')} ...`,
    );
    for (const variable of container.env ?? []) {
      if (variable.name.startsWith('OP_INTEGRATION_')) continue;
      const ref = variable.valueFrom?.secretKeyRef;
      const shown = ref
        ? `from Secret ${ref.name}, key ${ref.key}`
        : variable.value?.startsWith('op://') || variable.name === 'OP_CONNECT_HOST'
          ? variable.value
          : '(set)';
      out(`        env ${variable.name}: ${shown}`);
    }
  }
  const phase = await waitFor(
    `pod ${POD_NAME} to run to completion`,
    async () => {
      const current = await kubectl.getJson<PodItem>(['get', 'pod', POD_NAME, '-n', appsNamespace]);
      const done = current?.status.phase;
      return done === 'Succeeded' || done === 'Failed' ? done : undefined;
    },
    { timeoutMs: 180_000 },
  );
  out(`    pod ${POD_NAME}: ${phase} on the node`);
  const logs = await kubectl.ok(['logs', POD_NAME, '-n', appsNamespace, '-c', 'app'], {
    show: true,
  });
  for (const line of logs.trimEnd().split('\n')) out(`      ${line}`);
  if (phase !== 'Succeeded') throw new StepFailure(`pod ${POD_NAME} ended ${phase}`);
}

/**
 * Edits the item through connect-local's Connect API from inside its own pod (with a read-write
 * token its CLI makes there, so no token leaves the pod), then shows the Secret's item-version move.
 */
export async function nodeEditItem(demo: Demo): Promise<void> {
  const state = nodeRun(demo);
  const { kubectl } = demo;
  const { namespace, appsNamespace } = demo.names;
  const password = randomBytes(12).toString('hex');
  const digest = async (): Promise<string | undefined> => {
    const value = (await kubectl.readDatabaseSecret(appsNamespace))?.data?.password;
    return value && createHash('sha256').update(value).digest('hex');
  };
  const digestBefore = await digest();
  const script = `
    const { execFileSync } = require('node:child_process');
    const token = execFileSync('node', ['/app/bin/op-kube.js', 'connect-local', 'token', 'create',
      'demo-editor', '--vault', 'Production,rw', '--state-dir', '/tmp/connect-local'],
      { encoding: 'utf8' }).trim().split('\\n').pop();
    const url = 'http://127.0.0.1:8080${ITEM_PATH}';
    const headers = { authorization: 'Bearer ' + token, 'content-type': 'application/json' };
    (async () => {
      const item = await (await fetch(url, { headers })).json();
      for (const field of item.fields) if (field.label === 'password') field.value = process.argv[1];
      const put = await fetch(url, { method: 'PUT', headers, body: JSON.stringify(item) });
      if (!put.ok) { console.error('PUT answered', put.status); process.exit(1); }
      console.log('version ' + (await put.json()).version);
    })();
  `;
  const deployment = `deploy/${state.release}-connect-local`;
  out(
    `    $ kubectl exec -n ${namespace} ${deployment} -- node -e '<PUT ${ITEM_PATH}, a new password>'`,
  );
  const started = Date.now();
  const answer = await kubectl.ok([
    'exec',
    '-n',
    namespace,
    deployment,
    '--',
    'node',
    '-e',
    script,
    password,
  ]);
  out(`    connect-local: Production/database is now at ${answer.trim().split('\n').pop()}`);
  const after = await waitFor('the new item version in Secret database', async () => {
    const current = (await kubectl.readDatabaseSecret(appsNamespace))?.metadata.annotations?.[
      ITEM_VERSION
    ];
    return current !== undefined && current !== state.itemVersion ? current : undefined;
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const changed = (await digest()) !== digestBefore ? 'changed' : 'UNCHANGED';
  out(
    `    Secret ${appsNamespace}/database: ${ITEM_VERSION} ${state.itemVersion} -> ${after} ` +
      `after ${seconds}s (key password ${changed}; value not shown)`,
  );
  if (changed !== 'changed') throw new StepFailure('the Secret data did not change');
}

/** Runs kubectl and prints its output indented, under the command a user would type. */
async function showCommand(demo: Demo, args: readonly string[]): Promise<void> {
  const output = await demo.kubectl.ok(args, { show: true });
  for (const line of output.trimEnd().split('\n')) out(`      ${line}`);
}

/** After --node --keep: how to look around, and how to remove it. */
export function printNodeExplore(demo: Demo): void {
  const { names, plane } = demo;
  const state = nodeRun(demo);
  const kubectl = `${demo.kubectl.path} --kubeconfig ${plane.kubeconfigPath}`;
  const helmCommand = `${plane.binDir}/helm --kubeconfig ${plane.kubeconfigPath}`;
  out();
  out('Everything is still running on the node (--keep). Explore:');
  out(`  ${kubectl} get pods -n ${names.namespace} -o wide`);
  out(`  ${kubectl} logs -n ${names.namespace} deploy/${state.release}-operator`);
  out(`  ${kubectl} get onepassworditems,secrets -n ${names.appsNamespace}`);
  out(`  ${kubectl} logs ${POD_NAME} -n ${names.appsNamespace} -c app`);
  out(`  ${kubectl} get pod ${POD_NAME} -n ${names.appsNamespace} -o yaml`);
  out(`  ${helmCommand} list -n ${names.namespace}`);
  out('Remove it:');
  out(`  ${helmCommand} uninstall ${state.release} -n ${names.namespace} --wait`);
  out(`  ${kubectl} delete namespace ${names.namespace} ${names.appsNamespace}`);
  out('  npm run cluster:down   # the control plane and the node');
}

/** On failure: the pods and recent events of the demo's namespaces, on stderr. */
export async function printNodeDiagnostics(demo: Demo): Promise<void> {
  for (const namespace of [demo.names.namespace, demo.names.appsNamespace]) {
    for (const args of [
      ['get', 'pods', '-n', namespace, '-o', 'wide'],
      ['get', 'events', '-n', namespace, '--sort-by=.lastTimestamp'],
    ]) {
      const result = await demo.kubectl.run(args);
      const text = (result.stdout + result.stderr).trimEnd().split('\n').slice(-20).join('\n');
      process.stderr.write(`--- kubectl ${args.join(' ')}:\n${text}\n`);
    }
  }
}
