// A Connect token per namespace (--token-source=namespace): each namespace's items read through the
// source of its own token, one source (and one idle poll) per distinct token, NoToken without one,
// and a token that changes or goes picked up at once, its old clients closed. No token or digest
// of one in any message or log line.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import pino from 'pino';
import type { FullItem, Vault } from '../../../src/connect/index.ts';
import { ConnectError } from '../../../src/connect/index.ts';
import type { OnePasswordItem } from '../../../src/operator/api.ts';
import { ConnectHealth } from '../../../src/operator/connect-health.ts';
import { classifyFailure } from '../../../src/operator/failure.ts';
import { OnePasswordItemReconciler } from '../../../src/operator/item-reconciler.ts';
import { ItemSource, type ItemBackend } from '../../../src/operator/item-source.ts';
import { createOperatorMetrics } from '../../../src/operator/metrics.ts';
import { Poller, type PollTarget } from '../../../src/operator/poller.ts';
import {
  NamespaceTokens,
  NoTokenError,
  type TokenClients,
} from '../../../src/operator/token-sources.ts';
import { VaultGate } from '../../../src/operator/vault-gate.ts';
import {
  ITEM,
  MemoryLister,
  VAULT,
  fullItem,
  memoryStatusWriter,
  reconcilerFakes,
} from '../../support/operator-fakes.ts';

const TOKEN_A = 'eyJhbGciOiJ0b2tlbi1BIn0.tenant-a-token';
const TOKEN_B = 'eyJhbGciOiJ0b2tlbi1CIn0.tenant-b-token';
const TOKEN_A2 = 'eyJhbGciOiJ0b2tlbi1BIn0.tenant-a-rotated';
const digest = (token: string) => createHash('sha256').update(token).digest('hex');

function tokenSecret(namespace: string, token: string, version = '1', key = 'token'): V1Secret {
  return {
    metadata: { namespace, name: 'onepassword-token', resourceVersion: version },
    data: { [key]: Buffer.from(`${token}\n`).toString('base64') },
  };
}

function vault(contentVersion = 1): Vault {
  return {
    id: VAULT,
    name: 'Production',
    attributeVersion: 1,
    contentVersion,
    items: 1,
    type: 'USER_CREATED',
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
  };
}

/** A backend for one token: counts its requests; `fail` makes every call fail with it. */
class CountingBackend implements ItemBackend {
  readonly calls: string[] = [];
  fail: Error | undefined;
  readonly item: FullItem;
  constructor(item: FullItem) {
    this.item = item;
  }
  #answer<T>(call: string, value: T): Promise<T> {
    this.calls.push(call);
    return this.fail ? Promise.reject(this.fail) : Promise.resolve(value);
  }
  resolveItem(): Promise<FullItem> {
    return this.#answer('resolve', this.item);
  }
  listVaults(): Promise<readonly Vault[]> {
    return this.#answer('vaults', [vault()]);
  }
  listItems(): Promise<readonly { id: string; version: number }[]> {
    return this.#answer('items', [{ id: ITEM, version: this.item.version }]);
  }
  getItem(): Promise<FullItem> {
    return this.#answer('item', this.item);
  }
  getFileContent(): Promise<Buffer> {
    return this.#answer('file', Buffer.alloc(0));
  }
}

function setUp() {
  const secrets = new MemoryLister<V1Secret>();
  const opened: { token: string; backend: CountingBackend; closed: boolean }[] = [];
  const logged: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged.push(chunk.toString());
        done();
      },
    }),
  );
  const metrics = createOperatorMetrics(() => new Map());
  const poller = new Poller({ fullCheckEvery: 10, metrics, logger });
  const targets: PollTarget[] = [];
  const tokens = new NamespaceTokens({
    secrets,
    secretName: 'onepassword-token',
    secretKey: 'token',
    open: (token): TokenClients => {
      const backend = new CountingBackend(
        fullItem({ password: token === TOKEN_A ? 'a-secret' : 'b-secret' }),
      );
      const entry = { token, backend, closed: false };
      opened.push(entry);
      return {
        items: backend,
        pollItems: backend,
        close: () => {
          entry.closed = true;
          return Promise.resolve();
        },
      };
    },
    poller: {
      addTarget: (target) => {
        targets.push(target);
        poller.addTarget(target);
      },
      removeTarget: (target) => {
        targets.splice(targets.indexOf(target), 1);
        poller.removeTarget(target);
      },
    },
    pollingIntervalMs: 600_000,
    logger,
  });
  const changed: string[] = [];
  tokens.keysOnChange((namespace) => [`${namespace}/*`])((keys) => changed.push(...keys));
  /** Puts (or with `undefined` deletes) a token Secret and tells the tokens, as the informer would. */
  const put = (namespace: string, secret: V1Secret | undefined) => {
    const previous = secrets.get(namespace, 'onepassword-token');
    if (secret) secrets.put(secret);
    else secrets.objects.delete(`${namespace}/onepassword-token`);
    tokens.secretChanged(previous, secret);
  };
  return { secrets, opened, logged, poller, targets, tokens, changed, put };
}

const refusal = (namespace: string) => (error: unknown) =>
  error instanceof NoTokenError &&
  error.reason === 'NoToken' &&
  error.terminal &&
  error.message.includes(`Secret onepassword-token in namespace ${namespace}`);

describe('NamespaceTokens', () => {
  it('refuses a namespace without a usable token Secret with NoToken, naming the Secret and key', () => {
    const { tokens, put, opened } = setUp();
    assert.throws(() => tokens.sourceFor('team-a'), refusal('team-a'));
    put('team-a', tokenSecret('team-a', 'x', '1', 'other'));
    assert.throws(() => tokens.sourceFor('team-a'), /has no key token/);
    put('team-a', tokenSecret('team-a', '  ', '2'));
    assert.throws(() => tokens.sourceFor('team-a'), /key token of the Secret .* is empty/);
    put('team-a', tokenSecret('team-a', 'two\nlines', '3'));
    assert.throws(() => tokens.sourceFor('team-a'), /is not a token/);
    assert.equal(opened.length, 0);
    const failure = classifyFailure(
      (() => {
        try {
          tokens.sourceFor('team-b');
        } catch (error) {
          return error;
        }
      })(),
    );
    assert.equal(failure.reason, 'NoToken');
    assert.equal(failure.terminal, true);
  });

  it('serves each namespace from its own token, one source (and one poll target) per distinct token', () => {
    const { tokens, put, opened, targets } = setUp();
    put('team-a', tokenSecret('team-a', TOKEN_A));
    put('team-a2', tokenSecret('team-a2', TOKEN_A));
    put('team-b', tokenSecret('team-b', TOKEN_B));
    const a = tokens.sourceFor('team-a');
    assert.equal(tokens.sourceFor('team-a2'), a, 'the same token shares one source');
    const b = tokens.sourceFor('team-b');
    assert.notEqual(b, a);
    assert.deepEqual(
      opened.map((entry) => entry.token),
      [TOKEN_A, TOKEN_B],
      'trailing newline trimmed',
    );
    assert.equal(targets.length, 2);
    const [targetA, targetB] = targets as [PollTarget, PollTarget];
    assert.deepEqual(
      ['team-a', 'team-a2', 'team-b', 'team-c'].map((namespace) => targetA.serves?.(namespace)),
      [true, true, false, false],
    );
    assert.equal(targetB.serves?.('team-b'), true);
    assert.deepEqual(targetA.describe?.(), { namespaces: ['team-a', 'team-a2'] });
  });

  it('picks up a changed or deleted token at once, closes clients no namespace uses, leaves other namespaces alone', async () => {
    const { tokens, put, opened, targets, changed, logged } = setUp();
    put('team-a', tokenSecret('team-a', TOKEN_A));
    put('team-b', tokenSecret('team-b', TOKEN_B));
    const a = tokens.sourceFor('team-a');
    const b = tokens.sourceFor('team-b');
    changed.length = 0;

    // Labels or annotations changed, the token did not: nothing re-queued, nothing closed.
    put('team-a', {
      ...tokenSecret('team-a', TOKEN_A, '2'),
      metadata: {
        namespace: 'team-a',
        name: 'onepassword-token',
        resourceVersion: '2',
        labels: { x: 'y' },
      },
    });
    assert.deepEqual(changed, []);

    // A rotated token: team-a's objects re-queued; its old clients closed; team-b untouched.
    put('team-a', tokenSecret('team-a', TOKEN_A2, '3'));
    assert.deepEqual(changed, ['team-a/*']);
    assert.equal(opened[0]?.closed, true);
    assert.equal(targets.length, 1);
    assert.notEqual(tokens.sourceFor('team-a'), a);
    assert.equal(tokens.sourceFor('team-b'), b);
    assert.equal(opened[1]?.closed, false);

    // Deleted: NoToken from then on, its clients closed.
    put('team-a', undefined);
    assert.deepEqual(changed, ['team-a/*', 'team-a/*']);
    assert.throws(() => tokens.sourceFor('team-a'), refusal('team-a'));
    assert.equal(opened[2]?.closed, true);
    assert.equal(tokens.size, 1);
    assert.equal(tokens.sourceFor('team-b'), b);

    await tokens.close();
    assert.equal(opened[1]?.closed, true);
    const log = logged.join('');
    for (const secret of [TOKEN_A, TOKEN_B, digest(TOKEN_A), digest(TOKEN_B)])
      assert.ok(!log.includes(secret), 'no token or digest of one is logged');
    assert.match(log, /a new Connect token is in use/);
  });

  it('polls once per distinct token when idle, and a failing token reports to its namespaces only', async () => {
    const { tokens, put, opened, poller, logged } = setUp();
    put('team-a', tokenSecret('team-a', TOKEN_A));
    put('team-a2', tokenSecret('team-a2', TOKEN_A));
    put('team-b', tokenSecret('team-b', TOKEN_B));
    const users = poller.tracker();
    const enqueued: { keys: string[]; priority: string | undefined }[] = [];
    poller.keysFor(users, () => ['team-a/db', 'team-a2/db', 'team-b/db'])((keys, priority) =>
      enqueued.push({ keys: [...keys], priority }),
    );
    for (const key of ['team-a/db', 'team-a2/db', 'team-b/db']) {
      users.set(key, { vaultId: VAULT, itemId: ITEM });
    }
    tokens.sourceFor('team-a');
    tokens.sourceFor('team-b');
    const [backendA, backendB] = opened.map((entry) => entry.backend) as [
      CountingBackend,
      CountingBackend,
    ];
    backendA.fail = new ConnectError(
      { status: 401, method: 'GET', endpoint: '/v1/vaults' },
      'Invalid token signature',
    );
    poller.start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await poller.stop();
    // One vault list each (team-b's first poll also lists the vault, its version being new).
    assert.deepEqual(backendA.calls, ['vaults']);
    assert.deepEqual(backendB.calls, ['vaults', 'items']);
    // Only team-a's keys report the failure; team-b's first poll reports the item it had not
    // fetched yet, to team-b's key alone (team-a's keys use the same item through another token).
    assert.deepEqual(enqueued, [
      { keys: ['team-a/db', 'team-a2/db'], priority: 'low' },
      { keys: ['team-b/db'], priority: undefined },
    ]);
    assert.equal(
      poller.notReady(),
      undefined,
      'one revoked token does not make the operator unready',
    );
    const log = logged.join('');
    assert.match(log, /"namespaces":\["team-a","team-a2"\].*polling Connect failed/);
    assert.ok(!log.includes(TOKEN_A) && !log.includes(digest(TOKEN_A)));
  });

  it('is unready only when the polls of every token fail', () => {
    const poller = new Poller({
      fullCheckEvery: 10,
      metrics: createOperatorMetrics(() => new Map()),
      logger: pino({ level: 'silent' }),
    });
    assert.equal(poller.notReady(), undefined);
    const source = new ItemSource({ client: new CountingBackend(fullItem({})) });
    const failing = () => {
      const health = new ConnectHealth({ pollingIntervalMs: 1000 });
      for (let i = 0; i < 3; i += 1) health.failed();
      return health;
    };
    const one = { source, health: failing() };
    const other = { source, health: new ConnectHealth({ pollingIntervalMs: 1000 }) };
    poller.addTarget(one);
    assert.match(poller.notReady() ?? '', /^Connect unreachable for the last 3 polls$/);
    poller.addTarget(other);
    assert.equal(poller.notReady(), undefined);
    for (let i = 0; i < 3; i += 1) other.health.failed();
    assert.match(poller.notReady() ?? '', /every one of the 2 tokens in use/);
  });
});

describe('OnePasswordItemReconciler with a token per namespace', () => {
  it('reports NoToken (Event, no Secret, not retried) without a token, then syncs once the Secret comes', async () => {
    const { tokens, put } = setUp();
    const items = new MemoryLister<OnePasswordItem>();
    const { store, events, ports } = reconcilerFakes();
    const vaultGate = new VaultGate({
      policy: 'allow-unlisted',
      namespaces: { annotation: () => Promise.resolve(undefined) },
      sourceFor: (namespace) => tokens.sourceFor(namespace),
    });
    const reconciler = new OnePasswordItemReconciler({
      ...ports,
      sourceFor: (namespace) => tokens.sourceFor(namespace),
      vaultGate,
      status: memoryStatusWriter(items),
      items,
      enableAnnotations: false,
    });
    items.put({
      apiVersion: 'onepassword.com/v1',
      kind: 'OnePasswordItem',
      metadata: { namespace: 'team-a', name: 'db', uid: 'opi-uid', generation: 1 },
      spec: { itemPath: `vaults/${VAULT}/items/${ITEM}` },
    });
    const signal = new AbortController().signal;
    await assert.rejects(reconciler.reconcile('team-a/db', signal), {
      name: 'TerminalError',
      reason: 'NoToken',
    });
    const ready = () => items.get('team-a', 'db')?.status?.conditions?.[0];
    assert.equal(ready()?.status, 'False');
    assert.equal(ready()?.reason, 'NoToken');
    assert.match(ready()?.message ?? '', /create the Secret onepassword-token in namespace team-a/);
    assert.deepEqual(
      events.recorded.map((event) => `${event.type} ${event.reason}`),
      ['Warning NoToken'],
    );
    assert.equal(store.get('team-a', 'db'), undefined);

    put('team-a', tokenSecret('team-a', TOKEN_A));
    await reconciler.reconcile('team-a/db', signal);
    assert.equal(ready()?.reason, 'Synced');
    const data = store.get('team-a', 'db')?.data?.password;
    assert.equal(Buffer.from(data ?? '', 'base64').toString(), 'a-secret');
  });
});
