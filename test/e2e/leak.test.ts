// The standing leak test: the whole system at debug level, with canary values and tokens, through
// success and failure paths; then every log line, Event, status, metrics page and the activity log
// is searched for every canary in every encoding a leak could take. Zero hits, over outputs shown
// not to be empty.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  AdmissionregistrationV1Api,
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
} from '@kubernetes/client-node';
import { eventually, kubeConfigFor, kubectl, testNamespace } from '../support/cluster.ts';
import { activityOf, startConnectLocal } from '../support/connect-local.ts';
import { annotatedDeployment, secretRequest } from '../support/deployments.ts';
import { readyWith } from '../support/item-status.ts';
import { createOnePasswordItem, startOperator } from '../support/operator.ts';
import { startWebhook } from '../support/webhook.ts';
import { recordReliability } from '../support/reliability.ts';
import { secretText } from '../support/secrets.ts';

const config = kubeConfigFor();
const core = config.makeApiClient(CoreV1Api);
const apps = config.makeApiClient(AppsV1Api);
const custom = config.makeApiClient(CustomObjectsApi);
const admission = config.makeApiClient(AdmissionregistrationV1Api);

const canary = (): string => `canary-${randomBytes(12).toString('hex')}`;

/** Every value the system holds or handles that must never be shown. */
const VALUES = {
  username: canary(),
  password: canary(),
  rotatedPassword: canary(),
  note: canary(),
  fileContent: canary(),
  apiCredential: canary(),
  unreferencedTitle: canary(),
  unreferencedValue: canary(),
  payrollTitle: canary(),
  payrollValue: canary(),
  bankValue: canary(),
  podEnvValue: canary(),
  adminSecret: canary(),
  forgedBearer: canary(),
};

const PRODUCTION = 'production0000000000000000';
const PAYROLL = 'payroll0000000000000000000';
const DATABASE = 'database000000000000000000';

const DATA = `
vaults:
  - name: Production
    id: ${PRODUCTION}
    items:
      - title: database
        id: ${DATABASE}
        category: DATABASE
        sections: [{ id: extra, label: Extra }]
        fields:
          - { label: username, value: ${VALUES.username}, purpose: USERNAME }
          - { label: password, value: ${VALUES.password}, purpose: PASSWORD }
          - { label: note, value: ${VALUES.note}, type: CONCEALED, section: extra }
        files:
          - { name: cert.pem, content: ${VALUES.fileContent} }
      - title: api
        fields:
          - { label: credential, value: ${VALUES.apiCredential}, type: CONCEALED }
      - title: ${VALUES.unreferencedTitle}
        fields:
          - { label: secret, value: ${VALUES.unreferencedValue} }
  - name: Payroll
    id: ${PAYROLL}
    items:
      - title: ${VALUES.payrollTitle}
        fields:
          - { label: iban, value: ${VALUES.payrollValue} }
      - title: bank
        fields:
          - { label: account, value: ${VALUES.bankValue} }
`;

/** The forms a leaked string could take: as is, and base64 as a Secret's data holds it. */
function encodings(value: string): string[] {
  const bytes = Buffer.from(value);
  return [value, bytes.toString('base64'), bytes.toString('base64url')];
}

/** A token's secret parts: whole, its claims and signature segments, its secret claim. */
function tokenNeedles(token: string): string[] {
  const [, payload = '', signature = ''] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
    string,
    unknown
  >;
  const secretClaim = claims['1password.com/token'];
  assert.equal(typeof secretClaim, 'string');
  return [...encodings(token), payload, signature, ...encodings(secretClaim as string)];
}

/** How long each flow step may take to show on its OnePasswordItem. */
const STEP = { timeoutMs: 20_000 };

function kubectlJson(args: string[]): string {
  const result = kubectl([...args, '-o', 'json']);
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

describe('leak test', { timeout: 120_000 }, () => {
  it('shows no value, token or secret anywhere, on success and failure paths, at debug level', async (t) => {
    const started = Date.now();
    const items = await testNamespace(t, 'leak-items');
    const pods = await testNamespace(t, 'leak-pods');
    const home = await testNamespace(t, 'leak-webhook');
    assert.equal(
      kubectl(['label', 'namespace', pods, 'secrets-injection=enabled']).status,
      0,
      'label the pods namespace',
    );

    const connect = await startConnectLocal(t, {
      data: DATA,
      args: ['--log-level=debug'],
      adminSecret: VALUES.adminSecret,
    });
    const operatorToken = await connect.token({ vaults: ['Production,r'], name: 'operator' });
    const writerToken = await connect.token({ vaults: ['Production,rw'], name: 'writer' });
    const auditorToken = await connect.token({ vaults: ['Production,r'], name: 'auditor' });
    const operator = await startOperator(t, {
      connectUrl: connect.url,
      token: operatorToken,
      namespaces: [items],
    });
    const configName = `op-kube-leak-${process.pid}`;
    t.after(() =>
      admission
        .deleteMutatingWebhookConfiguration({ name: configName })
        .then(() => undefined)
        .catch(() => undefined),
    );
    const webhook = await startWebhook(t, { namespace: home, webhookConfigName: configName });
    await eventually('the webhook configuration with its caBundle', async () => {
      const created = await admission.readMutatingWebhookConfiguration({ name: configName });
      return created.webhooks?.[0]?.clientConfig.caBundle ? created : undefined;
    });

    // Success paths: an item, a Deployment's Secret, an injected pod.
    const create = (name: string, itemPath: string): Promise<object> =>
      createOnePasswordItem(custom, items, {
        metadata: { name, namespace: items },
        spec: { itemPath },
      });
    await create('database', 'vaults/Production/items/database');
    await apps.createNamespacedDeployment({
      namespace: items,
      body: annotatedDeployment('web', secretRequest('vaults/Production/items/api', 'api-secret')),
    });
    await core.createNamespacedPod({
      namespace: pods,
      body: {
        metadata: { name: 'app', annotations: { 'operator.1password.io/inject': 'app' } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'registry.invalid/app:1',
              command: ['/bin/app'],
              env: [
                { name: 'DB_PASSWORD', value: 'op://Production/database/password' },
                { name: 'PLAIN', value: VALUES.podEnvValue },
              ],
            },
          ],
        },
      },
    });
    const injected = await core.readNamespacedPod({ namespace: pods, name: 'app' });
    assert.equal(injected.metadata?.annotations?.['operator.1password.io/status'], 'injected');
    await readyWith(items, 'database', ['Synced'], STEP);
    assert.equal(await secretText(items, 'database', 'password'), VALUES.password);
    assert.equal(await secretText(items, 'database', 'cert.pem'), VALUES.fileContent);
    await eventually('the Deployment Secret', async () =>
      (await secretText(items, 'api-secret', 'credential')) === VALUES.apiCredential
        ? true
        : undefined,
    );

    // Failure paths: a vault the token cannot read, a missing item, a webhook denial, a forged
    // token; then a value change (an update) and a revoked token (Unauthorized).
    await create('payroll', `vaults/${PAYROLL}/items/bank`);
    await create('missing', 'vaults/Production/items/nonexistent');
    const denied = await core
      .createNamespacedPod({
        namespace: pods,
        body: {
          metadata: { name: 'denied', annotations: { 'operator.1password.io/inject': 'app' } },
          spec: {
            containers: [
              {
                name: 'app',
                image: 'registry.invalid/app:1',
                env: [{ name: 'PLAIN', value: VALUES.podEnvValue }],
              },
            ],
          },
        },
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.ok(denied instanceof ApiException && denied.code === 400, String(denied));
    const forged = await fetch(`${connect.url}/v1/vaults`, {
      headers: { authorization: `Bearer ${VALUES.forgedBearer}` },
    });
    assert.equal(forged.status, 401);
    await readyWith(items, 'payroll', ['Forbidden', 'VaultNotFound'], STEP);
    await readyWith(items, 'missing', ['ItemNotFound'], STEP);

    const patched = await fetch(`${connect.url}/v1/vaults/${PRODUCTION}/items/${DATABASE}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${writerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify([
        { op: 'replace', path: '/fields/password/value', value: VALUES.rotatedPassword },
      ]),
    });
    assert.equal(patched.status, 200);
    await eventually('the rotated password in the Secret', async () =>
      (await secretText(items, 'database', 'password')) === VALUES.rotatedPassword
        ? true
        : undefined,
    );
    const statusesBeforeRevocation = kubectlJson(['get', 'onepassworditems', '-n', items]);
    await connect.revoke('operator');
    await readyWith(items, 'database', ['Unauthorized'], STEP);
    // The reconcile writes the condition before it logs its failure: wait for the line too.
    await eventually(
      'the operator to log the failed reconcile of database',
      () => Promise.resolve(operator.logs().includes(`"key":"${items}/database"`) || undefined),
      STEP,
    );

    // Everything observable.
    const logs = {
      'connect-local': connect.output(),
      operator: operator.logs(),
      webhook: webhook.logs(),
    };
    const sources: Record<string, string> = {
      ...Object.fromEntries(Object.entries(logs).map(([name, text]) => [`${name} log`, text])),
      ...Object.fromEntries(
        [items, pods, home].map((namespace) => [
          `Events in ${namespace}`,
          kubectlJson(['get', 'events', '-n', namespace]),
        ]),
      ),
      'OnePasswordItems before the revocation': statusesBeforeRevocation,
      OnePasswordItems: kubectlJson(['get', 'onepassworditems', '-n', items]),
      Deployments: kubectlJson(['get', 'deployments', '-n', items]),
      'operator /metrics': await operator.metrics(),
      'webhook /metrics': await webhook.metrics(),
      'connect-local /metrics': await (await fetch(`${connect.url}/metrics`)).text(),
      'connect-local /v1/activity': JSON.stringify(await activityOf(connect, auditorToken)),
    };

    // The search covers real output: each source holds what the flow must have produced.
    const operatorLines = logs.operator.split('\n').filter(Boolean);
    assert.ok(operatorLines.length >= 5, `operator log: ${operatorLines.length} lines`);
    // Debug level is on: the webhook logs every admitted pod at debug (the operator has no debug lines).
    assert.match(logs.webhook, /"level":20,.*"msg":"pod admitted"/);
    for (const name of ['missing', 'payroll', 'database']) {
      assert.ok(
        logs.operator.includes(`"key":"${items}/${name}"`),
        `the operator log names the queue key ${items}/${name}`,
      );
    }
    assert.match(logs.webhook, /pod denied/);
    assert.match(logs.webhook, new RegExp(pods));
    assert.match(logs['connect-local'], /connect-local listening/);
    const events = sources[`Events in ${items}`] ?? '';
    for (const name of ['database', 'payroll', 'missing']) {
      assert.match(events, new RegExp(`"name": "${name}"`), `an Event about ${name}`);
    }
    assert.match(sources.OnePasswordItems ?? '', /"reason": "Unauthorized"/);
    for (const reason of ['Synced', 'Forbidden|VaultNotFound', 'ItemNotFound']) {
      assert.match(statusesBeforeRevocation, new RegExp(`"reason": "(${reason})"`));
    }
    assert.match(sources['operator /metrics'] ?? '', /op_kube_reconciles_total/);
    assert.match(sources['webhook /metrics'] ?? '', /op_kube_webhook_requests_total/);
    assert.match(sources['connect-local /metrics'] ?? '', /connect_local_http_requests_total/);
    const activity = sources['connect-local /v1/activity'] ?? '';
    assert.match(activity, new RegExp(`"item":\\{"id":"${DATABASE}"\\}`));
    assert.match(activity, /"result":"DENY"/);

    const needles: [string, string][] = [
      ...Object.entries(VALUES).flatMap(([name, value]) =>
        encodings(value).map((form): [string, string] => [name, form]),
      ),
      ...(
        [
          ['operator token', operatorToken],
          ['writer token', writerToken],
          ['auditor token', auditorToken],
        ] as const
      ).flatMap(([name, token]) =>
        tokenNeedles(token).map((form): [string, string] => [name, form]),
      ),
    ];
    const hits: string[] = [];
    for (const [source, text] of Object.entries(sources)) {
      for (const [name, needle] of needles) {
        const at = text.indexOf(needle);
        if (at >= 0)
          hits.push(`${name} in ${source}: …${text.slice(Math.max(0, at - 80), at + 40)}…`);
      }
    }
    assert.deepEqual(hits, [], `leaks:\n${hits.join('\n')}`);
    const searched = Object.values(sources).reduce((sum, text) => sum + text.length, 0);
    t.diagnostic(
      `searched ${Object.keys(sources).length} sources (${searched} characters) for ` +
        `${needles.length} needles in ${Date.now() - started} ms: 0 hits`,
    );
    await recordReliability({
      suite: 'leak',
      fault:
        'Canary values, titles, file content and tokens through sync, updates, Forbidden, ItemNotFound, a denial, forged and revoked tokens, at debug level',
      expected:
        'no canary in any log line, Event, status, /metrics or the activity log, as is or base64',
      observed: `${Object.keys(sources).length} non-empty sources, ${searched} characters, ${needles.length} search strings: 0 hits`,
    });
  });
});
