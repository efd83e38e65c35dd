// 1Password's own operator e2e suite (test/e2e/e2e_test.go of 1Password/onepassword-operator),
// reproduced against op-kube on the shared plane: its OnePasswordItem manifests
// (test/fixtures/onepassword-operator-e2e, vendored unchanged) applied unchanged with
// `kubectl apply -f`, connect-local holding the vault `operator-acceptance-tests` with the items
// those manifests name, and the real `op-kube operator` process with the environment of
// 1Password's e2e manager.yaml (AUTO_RESTART "false"; POLLING_INTERVAL 1 s instead of 10, for
// time). Each test checks what 1Password's test of the same name checks, and what op-kube adds:
// the exact data, 1Password's annotations, Ready/Synced with its reason in `kubectl get opi`.
// Items are edited through the Connect API with a generated password, as `op item edit
// --generate-password=letters,digits,symbols,32` does in 1Password's suite.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, type V1Deployment, type V1Secret } from '@kubernetes/client-node';
import { ConnectClient, type FullItem } from '../../src/connect/index.ts';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { adminClient, eventually, kubectl, testNamespace } from '../support/cluster.ts';
import { dataFile } from '../support/connect-data.ts';
import { startConnectLocal, type ConnectLocalHandle } from '../support/connect-local.ts';
import { itemStatus, readyWith } from '../support/item-status.ts';
import { startOperator, type OperatorHandle } from '../support/operator.ts';
import { readSecret, secretData, secretValue } from '../support/secrets.ts';

const MANIFESTS = join(repoRoot, 'test', 'fixtures', 'onepassword-operator-e2e');
const VAULT = 'operator-acceptance-tests';
const VAULT_ID = 'opacceptancetests000000000';
const IGNORE_TAG = 'operator.1password.io:ignore-secret';
const ITEM_PATH = 'operator.1password.io/item-path';
const ITEM_VERSION = 'operator.1password.io/item-version';
const LAST_RESTARTED = 'operator.1password.io/last-restarted';
const ITEMS = {
  login: 'testlogin00000000000000000',
  update: 'secretforupdate00000000000',
  ignored: 'secretignored0000000000000',
  title26: 'title26item000000000000000',
  // The id secret-by-uuid.yaml names; the title is not one any manifest uses.
  byUuid: 'a5x2mnd4rwiiiejsul2u424yv4',
  file: 'secretwithfile000000000000',
} as const;
const FILE_CONTENT = 'content of test.txt from 1Password\n';

// The vault 1Password's suite expects, with the items its manifests name.
const DATA = dataFile({
  name: VAULT,
  id: VAULT_ID,
  items: [
    {
      title: 'test-login',
      id: ITEMS.login,
      category: 'LOGIN',
      // The primary website, a second URL labelled test-website, and (hostile) a non-primary URL
      // also labelled website after the primary one: the primary must win the `website` key.
      urls: [
        { href: 'https://primary.example', label: 'website', primary: true },
        { href: 'https://test-website.example', label: 'test-website' },
        { href: 'https://not-primary.example', label: 'website' },
      ],
      fields: [
        { label: 'username', value: 'acceptance', purpose: 'USERNAME' },
        { label: 'password', value: 'login-password', purpose: 'PASSWORD' },
      ],
    },
    {
      title: 'secret-for-update',
      id: ITEMS.update,
      fields: [{ label: 'password', value: 'update-password-1', purpose: 'PASSWORD' }],
    },
    {
      title: 'secret-ignored',
      id: ITEMS.ignored,
      tags: [IGNORE_TAG],
      fields: [{ label: 'password', value: 'ignored-password-1', purpose: 'PASSWORD' }],
    },
    {
      // 26 characters of [a-z0-9]: looks like an id, is a title.
      title: 'test26charlongitemtitle123',
      id: ITEMS.title26,
      fields: [{ label: 'password', value: 'title26-password', purpose: 'PASSWORD' }],
    },
    {
      title: 'found by its id',
      id: ITEMS.byUuid,
      fields: [{ label: 'password', value: 'by-uuid-password', purpose: 'PASSWORD' }],
    },
    {
      title: 'secret-with-file',
      id: ITEMS.file,
      files: [{ name: 'test.txt', content: FILE_CONTENT }],
    },
  ],
});

const itemPathOf = (item: keyof typeof ITEMS): string => `vaults/${VAULT_ID}/items/${ITEMS[item]}`;

/** The workload of 1Password's AUTO_RESTART test: reads secret-for-update's password in env. */
const APP: V1Deployment = {
  metadata: { name: 'custom-secret-reader' },
  spec: {
    selector: { matchLabels: { app: 'custom-secret-reader' } },
    template: {
      metadata: { labels: { app: 'custom-secret-reader' } },
      spec: {
        containers: [
          {
            name: 'app',
            image: 'registry.invalid/app:1',
            env: [
              {
                name: 'CUSTOM_SECRET',
                valueFrom: { secretKeyRef: { name: 'secret-for-update', key: 'password' } },
              },
            ],
          },
        ],
      },
    },
  },
};

describe("1Password's operator e2e manifests, applied unchanged", () => {
  const cleanups: (() => Promise<void>)[] = [];
  const registrar = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
  let namespace: string;
  let connect: ConnectLocalHandle;
  let operatorToken: string;
  let operator: OperatorHandle;
  /** Edits items as `op item edit` does in 1Password's suite (a read-write token). */
  let editor: ConnectClient;

  function apply(manifest: string): void {
    const result = kubectl(['apply', '-n', namespace, '-f', join(MANIFESTS, manifest)]);
    assert.equal(result.status, 0, `kubectl apply -f ${manifest}: ${result.stderr}`);
  }

  /** 1Password's CheckIfExists, then the Secret. */
  function secretExists(name: string): Promise<V1Secret> {
    return eventually(`Secret ${name}`, () => readSecret(namespace, name));
  }

  function secretWhere(
    name: string,
    check: (secret: V1Secret) => boolean,
    what: string,
  ): Promise<V1Secret> {
    return eventually(`Secret ${name} ${what}`, async () => {
      const secret = await readSecret(namespace, name);
      return secret && check(secret) ? secret : undefined;
    });
  }

  /** `op item edit <item> --generate-password=letters,digits,symbols,32`, through Connect. */
  async function generatePassword(itemId: string): Promise<FullItem> {
    const current = await editor.getItem(VAULT_ID, itemId);
    return editor.replaceItem(VAULT_ID, {
      ...current,
      fields: (current.fields ?? []).map(({ entropy: _entropy, totp: _totp, ...field }) =>
        field.purpose === 'PASSWORD'
          ? {
              ...field,
              value: '',
              generate: true,
              recipe: { length: 32, characterSets: ['LETTERS', 'DIGITS', 'SYMBOLS'] },
            }
          : field,
      ),
    });
  }

  function passwordOf(item: FullItem): string {
    return item.fields?.find((field) => field.purpose === 'PASSWORD')?.value ?? '';
  }

  async function app(): Promise<V1Deployment> {
    return adminClient(AppsV1Api).readNamespacedDeployment({
      namespace,
      name: 'custom-secret-reader',
    });
  }

  function startTheOperator(autoRestart: string): Promise<OperatorHandle> {
    // manager.yaml of 1Password's e2e: WATCH_NAMESPACE, POLLING_INTERVAL, AUTO_RESTART as strings.
    return startOperator(registrar, {
      connectUrl: connect.url,
      token: operatorToken,
      namespaces: [namespace],
      env: { POLLING_INTERVAL: '1', AUTO_RESTART: autoRestart },
    });
  }

  before(async () => {
    namespace = await testNamespace(registrar, 'op-e2e');
    // Hostile: op-kube's vault policy lists the vault in lower case; secret-vault-case.yaml
    // writes it in mixed case. Titles match case-insensitively, in the policy as in the lookup.
    const annotated = kubectl([
      'annotate',
      'namespace',
      namespace,
      `op-kube.io/allowed-vaults=${VAULT}`,
    ]);
    assert.equal(annotated.status, 0, annotated.stderr);
    connect = await startConnectLocal(registrar, { data: DATA });
    operatorToken = await connect.token({ vaults: [`${VAULT},r`], name: 'operator' });
    editor = new ConnectClient({
      host: connect.url,
      token: await connect.token({ vaults: [`${VAULT},rw`], name: 'op-cli' }),
    });
    await adminClient(AppsV1Api).createNamespacedDeployment({ namespace, body: APP });
    operator = await startTheOperator('false');
  });

  after(async () => {
    await editor.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('secret.yaml: creates Secret login from the item', async () => {
    apply('secret.yaml');
    await secretExists('login');
  });

  it('secret.yaml again: website URLs as keys, the primary one as `website`, with 1Password annotations', async () => {
    const before = await secretExists('login');
    apply('secret.yaml');
    const secret = await secretWhere('login', (s) => 'password' in (s.data ?? {}), 'with data');
    const data = secretData(secret);
    // 1Password's checks: website and test-website present and non-empty, one `website` key.
    assert.equal(data.website, 'https://primary.example');
    assert.equal(data['test-website'], 'https://test-website.example');
    assert.equal(Object.keys(data).filter((key) => key === 'website').length, 1);
    // The exact mapping (1Password's kubernetes_secrets_builder.go).
    assert.deepEqual(data, {
      website: 'https://primary.example',
      'test-website': 'https://test-website.example',
      username: 'acceptance',
      password: 'login-password',
    });
    assert.equal(secret.type, 'Opaque');
    assert.equal(secret.metadata?.annotations?.[ITEM_PATH], itemPathOf('login'));
    assert.equal(secret.metadata?.annotations?.[ITEM_VERSION], '1');
    const owner = secret.metadata?.ownerReferences?.[0];
    assert.equal(owner?.kind, 'OnePasswordItem');
    assert.equal(owner.name, 'login');
    // Applying the same manifest again rewrites nothing.
    assert.equal(secret.metadata?.resourceVersion, before.metadata?.resourceVersion);
    await readyWith(namespace, 'login', 'Synced');
  });

  it('secret-for-update.yaml: the Secret follows an item edit within the polling interval', async () => {
    apply('secret-for-update.yaml');
    const first = await secretExists('secret-for-update');
    const oldPassword = secretValue(first, 'password');
    assert.equal(oldPassword, 'update-password-1');
    const edited = await generatePassword(ITEMS.update);
    assert.equal(passwordOf(edited).length, 32);
    const updated = await secretWhere(
      'secret-for-update',
      (s) => secretValue(s, 'password') !== oldPassword,
      'with a new password',
    );
    assert.equal(secretValue(updated, 'password'), passwordOf(edited));
    assert.equal(updated.metadata?.annotations?.[ITEM_VERSION], String(edited.version));
    await eventually('status itemVersion of the edit', async () =>
      (await itemStatus(namespace, 'secret-for-update')).itemVersion === edited.version
        ? true
        : undefined,
    );
    // AUTO_RESTART is "false": the Deployment reading this Secret is not restarted.
    const reader = await app();
    assert.equal(reader.metadata?.generation, 1);
    assert.equal(reader.spec?.template.metadata?.annotations?.[LAST_RESTARTED], undefined);
  });

  it('secret-ignored.yaml: an item tagged ignore-secret does not pull updates into its Secret', async () => {
    apply('secret-ignored.yaml');
    const first = await secretExists('secret-ignored');
    const oldPassword = secretValue(first, 'password');
    assert.equal(oldPassword, 'ignored-password-1');
    const edited = await generatePassword(ITEMS.ignored);
    // 1Password reads the item back (`op read`): its password did change.
    const newPassword = passwordOf(await editor.getItem(VAULT_ID, ITEMS.ignored));
    assert.notEqual(newPassword, oldPassword);
    // 1Password's poller moves item-version on an ignored item's Secret and leaves its data; that
    // annotation moving is the sign the poll has seen the edit (1Password sleeps one interval).
    const seen = await secretWhere(
      'secret-ignored',
      (s) => s.metadata?.annotations?.[ITEM_VERSION] === String(edited.version),
      `at item-version ${edited.version}`,
    );
    assert.equal(secretValue(seen, 'password'), oldPassword);
    assert.notEqual(secretValue(seen, 'password'), newPassword);
    const ready = await readyWith(namespace, 'secret-ignored', 'Synced');
    assert.match(
      ready.message ?? '',
      /frozen by the item tag operator\.1password\.io:ignore-secret/,
    );
  });

  it('AUTO_RESTART=true: a Deployment using secret-for-update is restarted after the item changes', async () => {
    // 1Password patches the operator's env, which rolls the operator: the same here, a new process.
    const loginVersion = (await readSecret(namespace, 'login'))?.metadata?.resourceVersion;
    await operator.stop();
    // Hostile: the ignored item changes while no operator runs. 1Password's item reconciler, run
    // for every item at start, rewrites a Secret whose item-version differs without looking at the
    // tag (kubernetes_secrets_builder.go), so its data would change here; op-kube keeps it frozen.
    const ignored = await generatePassword(ITEMS.ignored);
    operator = await startTheOperator('true');
    apply('secret-for-update.yaml');
    await secretExists('secret-for-update');
    const before = await app();
    const edited = await generatePassword(ITEMS.update);
    await secretWhere(
      'secret-for-update',
      (s) => secretValue(s, 'password') === passwordOf(edited),
      'with the new password',
    );
    // The rollout starts: a new pod template (last-restarted), observed, and a new ReplicaSet.
    // (Pods cannot become available: this plane has no node.)
    const restarted = await eventually('the Deployment rolled', async () => {
      const current = await app();
      return current.spec?.template.metadata?.annotations?.[LAST_RESTARTED] &&
        (current.status?.observedGeneration ?? 0) >= (current.metadata?.generation ?? 0) &&
        (current.metadata?.generation ?? 0) > (before.metadata?.generation ?? 0)
        ? current
        : undefined;
    });
    assert.ok(
      !Number.isNaN(
        Date.parse(restarted.spec?.template.metadata?.annotations?.[LAST_RESTARTED] ?? ''),
      ),
    );
    await eventually('a second ReplicaSet', async () => {
      const sets = await adminClient(AppsV1Api).listNamespacedReplicaSet({
        namespace,
        labelSelector: 'app=custom-secret-reader',
      });
      return sets.items.length === 2 ? true : undefined;
    });
    // The new process rewrites no Secret it finds up to date.
    assert.equal((await readSecret(namespace, 'login'))?.metadata?.resourceVersion, loginVersion);
    const frozen = await secretWhere(
      'secret-ignored',
      (s) => s.metadata?.annotations?.[ITEM_VERSION] === String(ignored.version),
      `at item-version ${ignored.version}`,
    );
    assert.equal(secretValue(frozen, 'password'), 'ignored-password-1');
  });

  it('secret-26char-title.yaml: a 26-character title that looks like an id', async () => {
    apply('secret-26char-title.yaml');
    const secret = await secretWhere(
      'secret-26char-title',
      (s) => Object.keys(s.data ?? {}).length > 0,
      'with data',
    );
    assert.deepEqual(secretData(secret), { password: 'title26-password' });
    assert.equal(secret.metadata?.annotations?.[ITEM_PATH], itemPathOf('title26'));
  });

  it('secret-by-uuid.yaml: an item by its id', async () => {
    apply('secret-by-uuid.yaml');
    const secret = await secretWhere(
      'secret-by-uuid',
      (s) => Object.keys(s.data ?? {}).length > 0,
      'with data',
    );
    assert.deepEqual(secretData(secret), { password: 'by-uuid-password' });
    assert.equal(secret.metadata?.annotations?.[ITEM_PATH], itemPathOf('byUuid'));
  });

  it('secret-with-file.yaml: the file content under its name', async () => {
    apply('secret-with-file.yaml');
    const secret = await secretWhere(
      'secret-with-file',
      (s) => 'test.txt' in (s.data ?? {}),
      'with test.txt',
    );
    assert.deepEqual(secretData(secret), { 'test.txt': FILE_CONTENT });
  });

  it('secret-vault-case.yaml: the vault resolved case-insensitively, the same item as login', async () => {
    apply('secret-vault-case.yaml');
    const secret = await secretWhere(
      'login-case',
      (s) => Object.keys(s.data ?? {}).length > 0,
      'with data',
    );
    // The same item under two names: the same data and the same normalised item-path.
    const login = await readSecret(namespace, 'login');
    assert.deepEqual(secretData(secret), secretData(login));
    assert.equal(secret.metadata?.annotations?.[ITEM_PATH], itemPathOf('login'));
    assert.equal(secret.metadata?.annotations?.[ITEM_VERSION], '1');
    assert.equal(secret.metadata?.ownerReferences?.[0]?.name, 'login-case');
  });

  it('every item Ready, Synced, with its reason in `kubectl get opi`; an edit reaches both Secrets of the item', async () => {
    const names = [
      'login',
      'login-case',
      'secret-26char-title',
      'secret-by-uuid',
      'secret-for-update',
      'secret-ignored',
      'secret-with-file',
    ];
    for (const name of names) await readyWith(namespace, name, 'Synced');
    const table = kubectl(['get', 'opi', '-n', namespace]);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+READY\s+REASON\s+VERSION\s+SYNCED\s+AGE/);
    for (const name of names)
      assert.match(table.stdout, new RegExp(`\\n${name}\\s+True\\s+Synced\\s+\\d+\\s`), name);

    // Hostile: the item behind login and login-case changes; both Secrets follow.
    const edited = await generatePassword(ITEMS.login);
    for (const name of ['login', 'login-case'])
      await secretWhere(
        name,
        (s) => secretValue(s, 'password') === passwordOf(edited),
        'with the new password',
      );
    // As 1Password's suite does between its two modes: the Secret deleted, the manifest applied
    // again; the Secret comes back with the item's data.
    const uid = (await readSecret(namespace, 'login'))?.metadata?.uid;
    assert.equal(kubectl(['delete', 'secret', 'login', '-n', namespace]).status, 0);
    apply('secret.yaml');
    const back = await secretWhere(
      'login',
      (s) => s.metadata?.uid !== uid && secretValue(s, 'password') === passwordOf(edited),
      'created again',
    );
    assert.equal(secretValue(back, 'website'), 'https://primary.example');
    const logs = operator.logs();
    for (const value of [
      'login-password',
      'update-password-1',
      'ignored-password-1',
      passwordOf(edited),
    ])
      assert.ok(!logs.includes(value), 'no secret value in the operator log');
    assert.doesNotMatch(logs, /"level":50/);
  });
});
