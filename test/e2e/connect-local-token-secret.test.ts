// `connect-local --token-secret` against the real apiserver: fills a pre-created Secret with a
// scoped token at start, keeps a token it still accepts, replaces a revoked one, never logs it,
// and says what is missing when the Secret or its RBAC is.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kubectl, serviceAccountKubeconfig, testNamespace, testPlane } from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { opKube, startConnectLocal, tokenCli, vaultNames } from '../support/connect-local.ts';
import { secretText } from '../support/secrets.ts';

const DATA = dataFile(
  { name: 'Production', items: [passwordItem('database', 'prod-secret', { purpose: 'PASSWORD' })] },
  { name: 'Staging', items: [passwordItem('database', 'staging-secret', { purpose: 'PASSWORD' })] },
);

describe('connect-local --token-secret', () => {
  it('fills the Secret with a scoped token, keeps it on restart, replaces a revoked one', async (t) => {
    const namespace = await testNamespace(t, 'token-secret');
    const created = kubectl(['create', 'secret', 'generic', 'connect-token', '-n', namespace]);
    assert.equal(created.status, 0, created.stderr);
    const args = [
      `--kubeconfig=${testPlane().kubeconfigPath}`,
      `--token-secret=${namespace}/connect-token`,
      '--token-vault=Production,r',
    ];
    const server = await startConnectLocal(t, { data: DATA, args });
    const token = await secretText(namespace, 'connect-token', 'token');
    assert.match(token, /^eyJ/);
    assert.deepEqual(await vaultNames(server.url, token), ['Production']);
    const listed = tokenCli(server.stateDir, ['list', '--json']);
    const tokens = JSON.parse(listed.stdout) as { name: string }[];
    assert.deepEqual(
      tokens.map((record) => record.name),
      ['bootstrap'],
    );
    assert.match(server.output(), /wrote a new token into the token Secret/);
    assert.ok(!server.output().includes(token), 'the token is in the log');

    // A restart on the same state: the token still works, so it stays.
    await server.stop();
    const again = await server.restart();
    assert.equal(await secretText(namespace, 'connect-token', 'token'), token);
    assert.match(again.output(), /holds a token of this server; kept it/);

    // Revoked: the next start writes a new one.
    await again.revoke('bootstrap');
    await again.stop();
    const third = await again.restart();
    const replaced = await secretText(namespace, 'connect-token', 'token');
    assert.notEqual(replaced, token);
    assert.deepEqual(await vaultNames(third.url, replaced), ['Production']);
    assert.match(third.output(), /does not accept .*wrote a new one/);
    assert.ok(!third.output().includes(replaced), 'the new token is in the log');
  });

  it('replaces a token scoped otherwise and writes the key it is given, leaving other keys', async (t) => {
    const namespace = await testNamespace(t, 'token-secret');
    const created = kubectl([
      'create',
      'secret',
      'generic',
      'tok',
      '-n',
      namespace,
      '--from-literal=other=keep-me',
      '--from-literal=connect=not-a-token',
    ]);
    assert.equal(created.status, 0, created.stderr);
    const base = [
      `--kubeconfig=${testPlane().kubeconfigPath}`,
      `--token-secret=${namespace}/tok`,
      '--token-secret-key=connect',
    ];
    const server = await startConnectLocal(t, {
      data: DATA,
      args: [...base, '--token-vault=Production,r', '--token-vault=Staging,r'],
    });
    const first = await secretText(namespace, 'tok', 'connect');
    assert.deepEqual(await vaultNames(server.url, first), ['Production', 'Staging']);
    assert.equal(await secretText(namespace, 'tok', 'other'), 'keep-me');
    await server.stop();
    const narrowed = await startConnectLocal(t, {
      stateDir: server.stateDir,
      args: [...base, '--token-vault=Staging,r'],
    });
    const second = await secretText(namespace, 'tok', 'connect');
    assert.notEqual(second, first);
    assert.deepEqual(await vaultNames(narrowed.url, second), ['Staging']);
  });

  it('fails to start, saying what is missing, without the Secret or the RBAC', async (t) => {
    const namespace = await testNamespace(t, 'token-secret');
    const stateDir = await mkdtemp(join(tmpdir(), 'op-kube-token-secret-'));
    t.after(() => rm(stateDir, { recursive: true, force: true }));
    const missing = opKube([
      'connect-local',
      '--port=0',
      `--kubeconfig=${testPlane().kubeconfigPath}`,
      `--token-secret=${namespace}/absent`,
      '--token-vault=Production',
      `--state-dir=${stateDir}`,
      '--data=examples/connect-local.yaml',
    ]);
    assert.equal(missing.status, 1, missing.stderr);
    assert.match(
      missing.stderr,
      new RegExp(`Secret ${namespace}/absent does not exist: create it`),
    );

    const unscoped = opKube(['connect-local', `--token-secret=${namespace}/tok`]);
    assert.equal(unscoped.status, 1);
    assert.match(unscoped.stderr, /--token-vault: is required with --token-secret/);
    const alone = opKube(['connect-local', '--token-vault=Production']);
    assert.equal(alone.status, 1);
    assert.match(alone.stderr, /--token-vault: needs --token-secret/);

    assert.equal(kubectl(['create', 'secret', 'generic', 'tok', '-n', namespace]).status, 0);
    assert.equal(kubectl(['create', 'serviceaccount', 'nobody', '-n', namespace]).status, 0);
    const kubeconfig = await serviceAccountKubeconfig(t, namespace, 'nobody');
    // A bare name: the namespace comes from POD_NAMESPACE.
    const forbidden = opKube(
      [
        'connect-local',
        '--port=0',
        `--kubeconfig=${kubeconfig}`,
        '--token-secret=tok',
        '--token-vault=Production',
        `--state-dir=${stateDir}`,
        '--data=examples/connect-local.yaml',
      ],
      { ...process.env, POD_NAMESPACE: namespace },
    );
    assert.equal(forbidden.status, 1, forbidden.stderr);
    assert.match(
      forbidden.stderr,
      new RegExp(
        `forbidden to get Secret ${namespace}/tok: connect-local needs a Role in namespace ` +
          `${namespace} allowing verbs get and patch on secrets with resourceNames \\[tok\\]`,
      ),
    );
  });
});
