// The demo's later steps: apply examples/demo/, show what the operator and the webhook made of it,
// then edit the item in connect-local and show the change arrive. No value is ever printed.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Demo } from './demo.ts';
import { readyOf, type OnePasswordItem, type Pod, type Secret } from './kubectl.ts';
import { out, StepFailure } from './output.ts';
import { waitFor } from './processes.ts';
import { DEMO_DIR } from './start.ts';

// Ids fixed in examples/connect-local.yaml.
const VAULT_ID = 'production0000000000000000';
const DATABASE_ID = 'database000000000000000000';
// The password the demo sets when it edits the item; like every value, it is never printed.
const NEW_PASSWORD = 'n3w-s3cr3t';
const ITEM_VERSION = 'operator.1password.io/item-version';

export async function applyExamples(demo: Demo): Promise<void> {
  const { kubectl } = demo;
  const { namespace, appsNamespace, tenantNamespace } = demo.names;
  for (const [file, into] of [
    ['onepassworditem.yaml', namespace],
    ['database-url.yaml', namespace],
    ['deployment.yaml', namespace],
    ['team-b.yaml', tenantNamespace],
  ] as const) {
    out(`    $ kubectl apply -n ${into} -f examples/demo/${file}`);
    await kubectl.ok(['apply', '-n', into, '-f', join(DEMO_DIR, file)]);
  }
  // Pods are refused until the ServiceAccount controller has made the namespace's `default`.
  await waitFor(`ServiceAccount ${appsNamespace}/default`, async () =>
    (await kubectl.run(['get', 'serviceaccount', 'default', '-n', appsNamespace])).code === 0
      ? true
      : undefined,
  );
  out(`    $ kubectl create -n ${appsNamespace} -f examples/demo/pod.yaml`);
  // The apiserver picks a new webhook configuration up within a moment; with failurePolicy
  // Ignore a pod created before that is stored uninjected, so create it again until it is.
  await waitFor(
    'the pod to be injected',
    async () => {
      await kubectl.ok(['create', '-n', appsNamespace, '-f', join(DEMO_DIR, 'pod.yaml')]);
      const pod = await kubectl.getJson<Pod>(['get', 'pod', 'app', '-n', appsNamespace]);
      if (pod?.metadata.annotations?.['operator.1password.io/status'] === 'injected') return pod;
      await kubectl.ok([
        'delete',
        'pod',
        'app',
        '-n',
        appsNamespace,
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

export async function showSecrets(demo: Demo): Promise<void> {
  const { namespace } = demo.names;
  const expected = ['database', 'database-url', 'api-key'];
  const secrets = await waitFor('the Secrets database, database-url and api-key', async () => {
    const list = await demo.kubectl.getJson<{ items: Secret[] }>([
      'get',
      'secrets',
      '-n',
      namespace,
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
      `    Secret ${namespace}/${secret.metadata.name} (${secret.type ?? 'Opaque'}), ` +
        `item-version ${version}, keys: ${keys.join(', ')}`,
    );
  }
  out('    (values are never printed; read them with kubectl if you need to)');
  demo.itemVersions = versions;
}

export async function showItem(demo: Demo): Promise<void> {
  const { namespace } = demo.names;
  const item = await waitFor('OnePasswordItem database to be Ready', async () => {
    const found = await demo.kubectl.readDatabaseItem(namespace);
    return readyOf(found)?.status === 'True' ? found : undefined;
  });
  const ready = readyOf(item);
  out(
    `    OnePasswordItem ${namespace}/database: Ready=${ready?.status} (${ready?.reason}), ` +
      `itemVersion ${item?.status?.itemVersion ?? '?'}, secretName ${item?.status?.secretName ?? '?'}`,
  );
}

/** Team B's namespace, read with its own token (Staging only): one item syncs, one cannot. */
export async function showTenant(demo: Demo): Promise<void> {
  const { tenantNamespace } = demo.names;
  for (const [name, expectReady] of [
    ['staging-database', 'True'],
    ['production-database', 'False'],
  ] as const) {
    const item = await waitFor(`OnePasswordItem ${tenantNamespace}/${name} to report`, async () => {
      const found = await demo.kubectl.getJson<OnePasswordItem>([
        'get',
        'onepassworditem',
        name,
        '-n',
        tenantNamespace,
      ]);
      return readyOf(found)?.status === expectReady ? found : undefined;
    });
    const ready = readyOf(item);
    out(
      `    OnePasswordItem ${tenantNamespace}/${name}: Ready=${ready?.status} (${ready?.reason})` +
        (expectReady === 'False' ? ` — ${ready?.message ?? ''}` : ''),
    );
  }
  out("    (team B's token reaches Staging only; team A's items keep syncing with team A's token)");
}

export async function showPod(demo: Demo): Promise<void> {
  const { appsNamespace } = demo.names;
  const pod = await demo.kubectl.getJson<Pod>(['get', 'pod', 'app', '-n', appsNamespace]);
  if (!pod) throw new StepFailure(`pod ${appsNamespace}/app is gone`);
  out(`    Pod ${appsNamespace}/app, as stored after the webhook:`);
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

export async function editItem(demo: Demo): Promise<void> {
  const { kubectl, connect, token } = demo;
  const { namespace } = demo.names;
  const itemUrl = `/vaults/${VAULT_ID}/items/${DATABASE_ID}`;
  const response = await fetch(`${connect.url}/v1${itemUrl}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw new StepFailure(`GET /v1${itemUrl} answered ${response.status}`);
  const item = (await response.json()) as { fields?: { label?: string; value?: string }[] };
  const password = item.fields?.find((field) => field.label === 'password');
  if (!password) throw new StepFailure('the item Production/database has no password field');
  password.value = NEW_PASSWORD;
  const secretDigest = async (): Promise<string | undefined> => {
    const secret = await kubectl.readDatabaseSecret(namespace);
    const value = secret?.data?.password;
    return value && createHash('sha256').update(value).digest('hex');
  };
  const digestBefore = await secretDigest();
  const adminSecret = (
    await readFile(join(demo.workDir, 'connect-local', 'admin-secret'), 'utf8')
  ).trim();
  out(`    PUT ${connect.adminUrl}/admin${itemUrl} (a new password for Production/database)`);
  const started = Date.now();
  const edited = await fetch(`${connect.adminUrl}/admin${itemUrl}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${adminSecret}`, 'content-type': 'application/json' },
    body: JSON.stringify(item),
  });
  if (!edited.ok) throw new StepFailure(`the item edit answered ${edited.status}`);
  const { version } = (await edited.json()) as { version?: number };
  out(`    connect-local: Production/database is now at version ${version}`);
  const before = demo.itemVersions.get('database') ?? '?';
  const after = await waitFor('the new item version in Secret database', async () => {
    const secret = await kubectl.readDatabaseSecret(namespace);
    const current = secret?.metadata.annotations?.[ITEM_VERSION];
    return current !== undefined && current !== before ? current : undefined;
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const changed = (await secretDigest()) !== digestBefore ? 'changed' : 'UNCHANGED';
  out(
    `    Secret ${namespace}/database: ${ITEM_VERSION} ${before} -> ${after} ` +
      `after ${seconds}s (key password ${changed}; value not shown)`,
  );
  const item2 = await waitFor('the OnePasswordItem status to follow', async () => {
    const found = await kubectl.readDatabaseItem(namespace);
    return String(found?.status?.itemVersion) === after ? found : undefined;
  });
  out(
    `    OnePasswordItem ${namespace}/database: Ready=${readyOf(item2)?.status}, itemVersion ${item2.status?.itemVersion}`,
  );
  if (changed !== 'changed') throw new StepFailure('the Secret data did not change');
}
