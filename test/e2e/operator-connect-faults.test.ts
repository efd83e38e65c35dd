// The fault matrix: a live operator behind the Connect fault proxy keeps each Secret's last good data, says what went wrong, and recovers within two polls.
//
// For each fault: an item is synced; the fault is switched on for that item's route; the item is
// edited in connect-local, so the next poll makes the operator fetch it; the Secret must keep its
// data and item-version exactly, and Ready must say False with the fault's reason; then the fault
// is switched off and the new data must arrive, Ready=True/Synced, within two polling intervals.
// With OP_KUBE_RELIABILITY_OUT set, the measured rows are recorded for docs/reliability.md.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { eventually, kubeConfigFor, testNamespace } from '../support/cluster.ts';
import { recordReliability, type ReliabilityRow } from '../support/reliability.ts';
import {
  FAULTS,
  fileContentRoute,
  itemRoute,
  startConnectFaultProxy,
  type ConnectFault,
  type ConnectFaultProxy,
} from '../support/connect-fault-proxy.ts';
import { startConnectLocal, type ConnectLocalHandle } from '../support/connect-local.ts';
import { readyCondition } from '../support/item-status.ts';
import { createOnePasswordItem, startOperator } from '../support/operator.ts';
import { readSecret, secretValue } from '../support/secrets.ts';

const POLLING_INTERVAL_S = 2;
const POLL_MS = POLLING_INTERVAL_S * 1000;
const VAULT = 'production0000000000000000';
const ITEM_VERSION = 'operator.1password.io/item-version';
const KEY_PEM = '-----BEGIN KEY-----\nfault-matrix\n-----END KEY-----\n';

interface Case {
  /** Row name in docs/reliability.md. */
  readonly fault: string;
  readonly title: string;
  readonly proxyFault: ConnectFault;
  readonly on: 'item' | 'file content';
  readonly expected: 'InvalidConnectResponse' | 'ConnectUnavailable';
  /** What the condition's message must say. */
  readonly says: RegExp;
}

const CASES: readonly Case[] = [
  {
    fault: 'item GET answers 200 `{}`',
    title: 'empty-object',
    proxyFault: FAULTS.emptyObject,
    on: 'item',
    expected: 'InvalidConnectResponse',
    says: /invalid 200 response: id: missing/,
  },
  {
    fault: 'item GET answers 200 with `"fields": null`',
    title: 'null-fields',
    proxyFault: FAULTS.nullFields,
    on: 'item',
    expected: 'InvalidConnectResponse',
    says: /invalid 200 response: fields: expected an array, got null/,
  },
  {
    fault: 'item GET answers 200 with a list for the item',
    title: 'list-for-object',
    proxyFault: FAULTS.listForObject,
    on: 'item',
    expected: 'InvalidConnectResponse',
    says: /invalid 200 response: expected a JSON object, got an array/,
  },
  {
    fault: 'item GET body cut short of its Content-Length, connection closed',
    title: 'truncated',
    proxyFault: FAULTS.truncate,
    on: 'item',
    expected: 'InvalidConnectResponse',
    says: /the 200 response was cut short of its Content-Length/,
  },
  {
    fault: 'file content 7 bytes shorter than the declared size, matching Content-Length',
    title: 'short-file',
    proxyFault: FAULTS.shortBody,
    on: 'file content',
    expected: 'InvalidConnectResponse',
    says: /the content is \d+ bytes, not the \d+ bytes the file's metadata declares/,
  },
  {
    fault: 'item GET answers an HTML page with 200',
    title: 'html',
    proxyFault: FAULTS.html,
    on: 'item',
    expected: 'InvalidConnectResponse',
    says: /invalid 200 response: the body is not JSON \(text\/html/,
  },
  {
    fault: 'item GET connection reset (RST)',
    title: 'reset',
    proxyFault: FAULTS.reset,
    on: 'item',
    expected: 'ConnectUnavailable',
    says: /network error/,
  },
  {
    fault: 'item GET never answered (hang)',
    title: 'hang',
    proxyFault: FAULTS.hang,
    on: 'item',
    expected: 'ConnectUnavailable',
    says: /no response within \d+ ms/,
  },
  {
    fault: 'item GET body trickles at 2 bytes/s',
    title: 'slow-body',
    proxyFault: FAULTS.slowBody,
    on: 'item',
    expected: 'ConnectUnavailable',
    says: /body did not arrive within \d+ ms/,
  },
];

const itemId = (title: string): string =>
  `fault${title.replace(/[^a-z0-9]/g, '')}`.padEnd(26, '0').slice(0, 26);

const DATA = `
vaults:
  - name: Production
    id: ${VAULT}
    items:
${CASES.map(
  (c) => `      - title: ${c.title}
        id: ${itemId(c.title)}
        fields:
          - { label: password, value: v1-${c.title} }
${c.on === 'file content' ? `        files:\n          - { name: key.pem, content: ${JSON.stringify(KEY_PEM)} }\n` : ''}`,
).join('')}`;

const custom = kubeConfigFor().makeApiClient(CustomObjectsApi);

/** What must not change while a fault lasts: the Secret's data as stored, and its item-version. */
interface SecretState {
  readonly data: Record<string, string>;
  readonly itemVersion: string | undefined;
}

async function secretState(namespace: string, name: string): Promise<SecretState | undefined> {
  const secret = await readSecret(namespace, name);
  if (!secret) return undefined;
  return {
    data: secret.data ?? {},
    itemVersion: secret.metadata?.annotations?.[ITEM_VERSION],
  };
}

describe('operator behind the Connect fault proxy', () => {
  const cleanups: (() => Promise<void>)[] = [];
  const registrar = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
  const rows: ReliabilityRow[] = [];
  let namespace = '';
  let connect: ConnectLocalHandle;
  let proxy: ConnectFaultProxy;

  before(async () => {
    namespace = await testNamespace(registrar, 'connect-faults');
    connect = await startConnectLocal(registrar, { data: DATA });
    proxy = await startConnectFaultProxy(connect.url);
    registrar.after(() => proxy.close());
    await startOperator(registrar, {
      connectUrl: proxy.url,
      token: await connect.token({ vaults: ['Production,r'], name: 'operator' }),
      namespaces: [namespace],
      env: { POLLING_INTERVAL: String(POLLING_INTERVAL_S) },
    });
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    if (rows.length === 0) return;
    console.log(`\nfault matrix (polling interval ${POLLING_INTERVAL_S} s):`);
    console.log('| fault | expected | observed | detect ms | recovery ms |');
    for (const row of rows) {
      console.log(
        `| ${row.fault} | ${row.expected} | ${row.observed} | ${row.detectMs} | ${row.recoveryMs} |`,
      );
    }
  });

  for (const c of CASES) {
    it(`${c.fault}: keeps the last good Secret, reports ${c.expected}, recovers within two polls`, async () => {
      const name = c.title;
      const id = itemId(c.title);
      await createOnePasswordItem(custom, namespace, {
        metadata: { name },
        spec: { itemPath: `vaults/Production/items/${c.title}` },
      });
      const good = await eventually(`the first sync of ${name}`, async () => {
        const state = await secretState(namespace, name);
        const condition = await readyCondition(namespace, name);
        return condition.reason === 'Synced' && secretValue(state, 'password') === `v1-${c.title}`
          ? state
          : undefined;
      });
      assert.equal(good.itemVersion, '1');
      if (c.on === 'file content') assert.equal(secretValue(good, 'key.pem'), KEY_PEM);

      const route = c.on === 'item' ? itemRoute(VAULT, id) : fileContentRoute(VAULT, id);
      proxy.set(route, c.proxyFault);
      const edited = await connect.admin('PUT', `/admin/vaults/${VAULT}/items/${id}`, {
        title: c.title,
        fields: [{ label: 'password', value: `v2-${c.title}` }],
      });
      assert.equal(edited.status, 200);
      const editedAt = performance.now();

      // Hang and slow body fail only once the operator's item client has timed out every attempt.
      const failed = await eventually(
        `Ready=False ${c.expected} for ${name}`,
        async () => {
          const condition = await readyCondition(namespace, name);
          return condition.status === 'False' ? condition : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      );
      const detectMs = Math.round(performance.now() - editedAt);
      assert.equal(failed.reason, c.expected, failed.message);
      assert.match(failed.message ?? '', c.says);
      assert.doesNotMatch(failed.message ?? '', /v1-|v2-|BEGIN KEY/, 'no value in the message');
      assert.ok(
        proxy.hits.some((hit) => route.test(`${hit.method} ${hit.path}`)),
        'the fault was exercised',
      );

      // Held through another poll and the retries it triggers: still the last good Secret.
      await new Promise((resolve) => setTimeout(resolve, POLL_MS + 500));
      const during = await secretState(namespace, name);
      assert.deepEqual(during, good, 'the Secret keeps its last good data and item-version');
      assert.equal((await readyCondition(namespace, name)).status, 'False');

      proxy.clear();
      const healedAt = performance.now();
      const recovered = await eventually(
        `the new data of ${name} after the fault is switched off`,
        async () => {
          const state = await secretState(namespace, name);
          const condition = await readyCondition(namespace, name);
          return condition.reason === 'Synced' &&
            condition.status === 'True' &&
            secretValue(state, 'password') === `v2-${c.title}` &&
            state?.itemVersion === '2'
            ? state
            : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 50 },
      );
      const recoveryMs = Math.round(performance.now() - healedAt);
      if (c.on === 'file content') assert.equal(secretValue(recovered, 'key.pem'), KEY_PEM);
      const row = {
        suite: 'operator-connect-faults',
        fault: c.fault,
        expected: `False/${c.expected}; Secret unchanged; Synced within two polls of healing`,
        observed: `${failed.status}/${failed.reason}; Secret and item-version unchanged`,
        detectMs,
        recoveryMs,
      };
      rows.push(row);
      await recordReliability(row);
      console.log(`${c.title}: detected in ${detectMs} ms, recovered in ${recoveryMs} ms`);
      assert.ok(
        recoveryMs <= 2 * POLL_MS,
        `recovered in ${recoveryMs} ms, more than two polling intervals (${2 * POLL_MS} ms)`,
      );
    });
  }
});
