// spec.refreshInterval in the poller: polls come as often as the shortest interval of the items a
// token serves, each still one request when idle, and the full check keeps its pace in time.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import type { FullItem, Vault } from '../../../src/connect/index.ts';
import { ConnectHealth } from '../../../src/operator/connect-health.ts';
import { ItemSource, type ItemBackend } from '../../../src/operator/item-source.ts';
import { createOperatorMetrics } from '../../../src/operator/metrics.ts';
import { Poller } from '../../../src/operator/poller.ts';
import { ITEM, VAULT, fullItem } from '../../support/operator-fakes.ts';

const vault: Vault = {
  id: VAULT,
  name: 'Production',
  attributeVersion: 1,
  contentVersion: 1,
  items: 1,
  type: 'USER_CREATED',
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
};

/**
 * Counts each kind of request. Nothing changes unless a test edits the item, and an edit does not
 * move the vault's contentVersion unless the test says so (a server decision 027 must catch).
 */
class IdleBackend implements ItemBackend {
  readonly calls: string[] = [];
  version = 1;
  contentVersion = 1;
  #answer<T>(call: string, value: T): Promise<T> {
    this.calls.push(call);
    return Promise.resolve(value);
  }
  count(call: string): number {
    return this.calls.filter((made) => made === call).length;
  }
  get #item(): FullItem {
    return fullItem({ password: `x${this.version}` }, { version: this.version });
  }
  resolveItem(): Promise<FullItem> {
    return this.#answer('resolve', this.#item);
  }
  listVaults(): Promise<readonly Vault[]> {
    return this.#answer('vaults', [{ ...vault, contentVersion: this.contentVersion }]);
  }
  listItems(): Promise<readonly { id: string; version: number }[]> {
    return this.#answer('items', [{ id: ITEM, version: this.version }]);
  }
  getItem(): Promise<FullItem> {
    return this.#answer('item', this.#item);
  }
  getFileContent(): Promise<Buffer> {
    return this.#answer('file', Buffer.alloc(0));
  }
}

const REF = { vaultId: VAULT, itemId: ITEM };

function setUp(t: TestContext, { intervalMs = 600_000, fullCheckEvery = 10 } = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const backend = new IdleBackend();
  const poller = new Poller({
    fullCheckEvery,
    metrics: createOperatorMetrics(() => new Map()),
    logger: pino({ level: 'silent' }),
  });
  const health = new ConnectHealth({ pollingIntervalMs: intervalMs });
  const source = new ItemSource({ client: backend });
  poller.addTarget({ source, health });
  const tracker = poller.tracker();
  t.after(() => poller.stop());
  /** Moves the mocked clock and lets the polls it starts settle. */
  const settle = async () => {
    for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
  };
  const advance = async (ms: number, step = 100) => {
    await settle();
    for (let passed = 0; passed < ms; passed += step) {
      t.mock.timers.tick(step);
      await settle();
    }
  };
  return { backend, poller, health, tracker, source, advance };
}

describe('Poller and spec.refreshInterval', () => {
  it('polls at the polling interval when no item has a refreshInterval', async (t) => {
    const { backend, poller, tracker, advance } = setUp(t, { intervalMs: 10_000 });
    tracker.set('apps/db', REF);
    poller.start();
    await advance(35_000, 1000);
    assert.equal(backend.count('vaults'), 4); // at 0, 10, 20 and 30 s
  });

  it('polls every refreshInterval, one request per idle poll', async (t) => {
    const { backend, poller, tracker, advance } = setUp(t);
    tracker.set('apps/db', REF, 5000);
    tracker.set('apps/other', REF);
    poller.start();
    await advance(60_000, 1000);
    assert.equal(backend.count('vaults'), 13); // at 0, 5, ..., 60 s
    // Idle: the first poll lists the vault's items once to learn the versions, then nothing more.
    assert.equal(backend.calls.length - backend.count('vaults'), backend.count('items'));
    assert.equal(backend.count('items'), 1);
  });

  it('brings a poll due later forward when an item with a shorter interval comes, and goes back after', async (t) => {
    const { backend, poller, tracker, advance } = setUp(t, { intervalMs: 600_000 });
    tracker.set('apps/db', REF);
    poller.start();
    await advance(1000);
    assert.equal(backend.count('vaults'), 1);
    tracker.set('apps/fast', REF, 2000);
    await advance(4000);
    assert.equal(backend.count('vaults'), 3); // at 0, 2 and 4 s
    tracker.delete('apps/fast');
    await advance(2000); // the poll already scheduled
    const settled = backend.count('vaults');
    await advance(60_000, 1000);
    assert.equal(backend.count('vaults'), settled);
  });

  it('follows the intervals of the keys a token serves', async (t) => {
    const { backend, poller, tracker, advance } = setUp(t, { intervalMs: 600_000 });
    const teamB = new IdleBackend();
    poller.addTarget({
      source: new ItemSource({ client: teamB }),
      health: new ConnectHealth({ pollingIntervalMs: 600_000 }),
      serves: (namespace) => namespace === 'team-b',
    });
    tracker.set('team-a/fast', REF, 1000);
    poller.start();
    await advance(10_000, 1000);
    // The first target serves every namespace; team-b's token does not poll for team-a's item.
    assert.ok(backend.count('vaults') >= 10, `${backend.count('vaults')}`);
    assert.equal(teamB.count('vaults'), 1);
  });

  it('keeps the full check at its pace in time, not in polls, once Connect was caught not moving contentVersion', async (t) => {
    // Every 3rd poll at 3 s is a full check every 9 s; with polls every 1 s, every 9th poll.
    const { backend, poller, tracker, source, advance } = setUp(t, {
      intervalMs: 3000,
      fullCheckEvery: 3,
    });
    tracker.set('apps/db', REF, 1000);
    // The reconciler: every key the poller reports is reconciled, which gets the item.
    const served: number[] = [];
    let reported = 0;
    poller.keysFor(tracker, () => ['apps/db'])((keys) => {
      for (const key of keys) {
        assert.equal(key, 'apps/db');
        reported += 1;
        void source.get(REF).then((synced) => served.push(synced.item.version));
      }
    });
    served.push((await source.get(REF)).item.version); // the item's first reconcile
    poller.start();
    await advance(3000, 1000);
    assert.equal(source.fullChecksNeeded, false);
    assert.equal(backend.count('items'), 1); // the first poll learns the versions

    // The server changes the item without moving contentVersion: idle polls cannot see it.
    backend.version = 2;
    await advance(20_000, 1000);
    assert.equal(reported, 0);
    assert.equal(backend.count('items'), 1);
    // A re-sync (or a restart, or a new OnePasswordItem) fetches it: newer than the version held at
    // contentVersion 1, and the next poll still lists 1, so the server is caught.
    source.invalidate(REF);
    served.push((await source.get(REF)).item.version);
    await advance(1000, 1000);
    assert.equal(source.fullChecksNeeded, true);
    // That poll also told the item's users of the version the re-sync fetched (served from the cache).
    assert.equal(reported, 1);
    assert.deepEqual(served, [1, 2, 2]);

    // Another silent change is found by a full check within 9 polls (3 x --full-check-every).
    backend.version = 3;
    const pollsBefore = backend.count('vaults');
    let polls = 0;
    while (reported === 1 && polls <= 9) {
      await advance(1000, 1000);
      polls = backend.count('vaults') - pollsBefore;
    }
    assert.equal(reported, 2, `silent change not found in ${polls} polls`);
    assert.ok(polls <= 9, `found after ${polls} polls`);
    assert.deepEqual(served, [1, 2, 2, 3]);

    // The pace holds afterwards: one listing per 9 polls, and each finds a silent change.
    const listingsBefore = backend.count('items');
    const pollsThen = backend.count('vaults');
    for (let edit = 4; edit <= 7; edit += 1) {
      backend.version = edit;
      await advance(9000, 1000);
    }
    const pollsMade = backend.count('vaults') - pollsThen;
    const listings = backend.count('items') - listingsBefore;
    assert.ok(pollsMade >= 36, `${pollsMade} polls`);
    assert.ok(listings >= 4 && listings <= 5, `${listings} item listings in ${pollsMade} polls`);
    assert.equal(reported, 6);
    assert.deepEqual(served, [1, 2, 2, 3, 4, 5, 6, 7]);
    // The only other requests: the GETs of the reconciles.
    assert.equal(backend.count('resolve') + backend.count('file'), 0);
  });

  it('does not shorten the backoff of a failing source below it', async (t) => {
    const { backend, poller, health, tracker, advance } = setUp(t, { intervalMs: 60_000 });
    tracker.set('apps/db', REF, 1000);
    for (let i = 0; i < 5; i += 1) health.failed(); // next delay: 16 s
    poller.start();
    await advance(1000);
    // The first poll succeeds (the backend answers), so polling at the refresh pace resumes.
    assert.equal(health.up, true);
    const before = backend.count('vaults');
    await advance(3000, 1000);
    assert.equal(backend.count('vaults') - before, 3);
  });
});
