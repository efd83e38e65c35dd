// LeaderElector against the real apiserver: one leader at a time, hand-over on release, takeover only after expiry.
import assert from 'node:assert/strict';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api } from '@kubernetes/client-node';
import type { KubeClient } from '../../src/kube/client/client.ts';
import {
  LeaderElector,
  ONEPASSWORD_LEADER_ELECTION_ID,
  type LeaderElectorOptions,
} from '../../src/kube/runtime/leader-election.ts';
import { formatMicroTime, parseMicroTime } from '../../src/kube/micro-time.ts';
import {
  eventually,
  kubeClientFor,
  kubeConfigFor,
  kubectl,
  testNamespace,
} from '../support/cluster.ts';

const config = kubeConfigFor();
const coordination = config.makeApiClient(CoordinationV1Api);
const client = kubeClientFor();

// Short but realistic proportions (client-go's defaults are 15 s / 10 s / 2 s).
const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };
const SIX_DIGITS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

interface Observed {
  elector: LeaderElector;
  started: number[];
  stopped: number[];
  signals: AbortSignal[];
  newLeaders: string[];
}

interface CleanupRegistrar {
  after(fn: () => Promise<void>): void;
}

/** An elector whose callbacks are recorded (monotonic times); stopped when the test ends. */
function elector(
  t: CleanupRegistrar,
  namespace: string,
  identity: string,
  overrides: Partial<LeaderElectorOptions> & { client?: KubeClient } = {},
): Observed {
  const observed: Omit<Observed, 'elector'> = {
    started: [],
    stopped: [],
    signals: [],
    newLeaders: [],
  };
  const { client: through = client, ...options } = overrides;
  const created = new LeaderElector(through, {
    namespace,
    name: ONEPASSWORD_LEADER_ELECTION_ID,
    identity,
    ...timing,
    callbacks: {
      onStartedLeading: (signal) => {
        observed.started.push(performance.now());
        observed.signals.push(signal);
      },
      onStoppedLeading: () => observed.stopped.push(performance.now()),
      onNewLeader: (leader) => observed.newLeaders.push(leader),
    },
    ...options,
  });
  t.after(() => created.stop());
  return { elector: created, ...observed };
}

interface RawLease {
  metadata: { resourceVersion: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** The Lease exactly as the apiserver stores it (kubectl, not client-node, so no conversion). */
function rawLease(namespace: string): RawLease {
  const result = kubectl([
    'get',
    'lease',
    ONEPASSWORD_LEADER_ELECTION_ID,
    '-n',
    namespace,
    '-o',
    'json',
  ]);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as RawLease;
}

/** Samples both electors until stopped and fails the test if both ever claim to lead at once. */
function watchForTwoLeaders(a: LeaderElector, b: LeaderElector): { stop: () => Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      assert.ok(!(a.isLeader() && b.isLeader()), 'two electors believed they lead at once');
      await sleep(10);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

const leading = (observed: Observed): Promise<true> =>
  eventually(
    `${observed.elector.identity} to lead`,
    () => Promise.resolve(observed.elector.isLeader() ? true : undefined),
    { timeoutMs: 15_000, intervalMs: 10 },
  );

describe('LeaderElector', () => {
  it('lets exactly one of two electors lead, on a Lease with six-digit MicroTimes', async (t) => {
    const namespace = await testNamespace(t, 'lease-one');
    const a = elector(t, namespace, 'replica-a');
    const b = elector(t, namespace, 'replica-b');
    const guard = watchForTwoLeaders(a.elector, b.elector);
    t.after(() => guard.stop()); // also when an assertion fails before the explicit stop
    a.elector.start();
    b.elector.start();

    const winner = await eventually(
      'one elector to lead',
      () => {
        const leaders = [a, b].filter((o) => o.elector.isLeader());
        return Promise.resolve(leaders.length === 1 ? leaders[0] : undefined);
      },
      { timeoutMs: 15_000, intervalMs: 10 },
    );
    const loser = winner === a ? b : a;
    // Several renewals later, still the same single leader.
    await sleep(timing.retryPeriodMs * 6);
    assert.equal(winner.elector.isLeader(), true);
    assert.equal(loser.elector.isLeader(), false);
    assert.equal(winner.started.length, 1);
    assert.equal(loser.started.length, 0);
    assert.equal(winner.signals[0]?.aborted, false);
    assert.equal(loser.elector.leader(), winner.elector.identity);
    assert.deepEqual(loser.newLeaders, [winner.elector.identity]);
    assert.deepEqual(winner.newLeaders, [winner.elector.identity]);
    await guard.stop();

    const lease = rawLease(namespace);
    assert.equal(lease.spec.holderIdentity, winner.elector.identity);
    assert.equal(lease.spec.leaseDurationSeconds, 3);
    assert.equal(lease.spec.leaseTransitions, 0);
    assert.match(lease.spec.renewTime ?? '', SIX_DIGITS);
    assert.match(lease.spec.acquireTime ?? '', SIX_DIGITS);
    // Renewals move renewTime but keep acquireTime.
    const renewed = parseMicroTime(lease.spec.renewTime ?? '').date.getTime();
    const acquired = parseMicroTime(lease.spec.acquireTime ?? '').date.getTime();
    assert.ok(renewed > acquired, `renewTime ${renewed} after acquireTime ${acquired}`);
    assert.ok(Math.abs(Date.now() - renewed) < 2_000, 'renewTime is recent');
  });

  it('hands over on release: the other elector leads long before the lease would expire', async (t) => {
    // A long lease, so a hand-over slowed by a busy machine is still told apart from an expiry.
    const long = { leaseDurationMs: 10_000, renewDeadlineMs: 6_000 };
    const namespace = await testNamespace(t, 'lease-release');
    const a = elector(t, namespace, 'replica-a', long);
    const b = elector(t, namespace, 'replica-b', long);
    a.elector.start();
    await leading(a);
    b.elector.start();
    await sleep(timing.retryPeriodMs * 3);
    assert.equal(b.elector.isLeader(), false);
    const guard = watchForTwoLeaders(a.elector, b.elector);
    t.after(() => guard.stop()); // also when an assertion fails before the explicit stop

    const releasedAt = performance.now();
    await a.elector.release();
    assert.equal(a.elector.isLeader(), false);
    assert.equal(a.signals[0]?.aborted, true, 'the old leader’s signal is aborted');
    assert.match(String(a.signals[0]?.reason), /: stopped$/);
    assert.equal(a.stopped.length, 1);
    await leading(b);
    const handOver = (b.started[0] ?? Infinity) - releasedAt;
    // Far below the 10 s lease: the successor did not wait for expiry.
    assert.ok(handOver < long.leaseDurationMs / 2, `hand-over took ${Math.round(handOver)} ms`);
    await guard.stop();

    const lease = rawLease(namespace);
    assert.equal(lease.spec.holderIdentity, 'replica-b');
    assert.equal(lease.spec.leaseTransitions, 1);
    assert.equal(lease.spec.leaseDurationSeconds, 10);
  });

  it('release leaves a Lease with no holder and a one-second duration', async (t) => {
    const namespace = await testNamespace(t, 'lease-empty');
    const a = elector(t, namespace, 'replica-a');
    a.elector.start();
    await leading(a);
    await a.elector.release();
    const lease = rawLease(namespace);
    assert.equal(lease.spec.holderIdentity, undefined);
    assert.equal(lease.spec.leaseDurationSeconds, 1);
    assert.match(lease.spec.renewTime ?? '', SIX_DIGITS);
    assert.equal(a.elector.leader(), undefined);
  });

  it('waits for the leading work to stop before handing the Lease over', async (t) => {
    const namespace = await testNamespace(t, 'lease-work');
    const order: string[] = [];
    const a = elector(t, namespace, 'replica-a', {
      callbacks: {
        onStartedLeading: async (signal) => {
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
          await sleep(300);
          order.push('work stopped');
        },
      },
    });
    a.elector.start();
    await leading(a);
    await a.elector.release();
    order.push(`released: holder ${rawLease(namespace).spec.holderIdentity ?? 'none'}`);
    assert.deepEqual(order, ['work stopped', 'released: holder none']);
  });

  it('replaces a leader stopped without release only once its lease has expired', async (t) => {
    const namespace = await testNamespace(t, 'lease-crash');
    const a = elector(t, namespace, 'replica-a');
    const b = elector(t, namespace, 'replica-b');
    a.elector.start();
    await leading(a);
    b.elector.start();

    await a.elector.stop();
    const lastRenewal = parseMicroTime(rawLease(namespace).spec.renewTime ?? '').date.getTime();
    await eventually(
      'replica-b to take over',
      () => Promise.resolve(b.elector.isLeader() ? true : undefined),
      { timeoutMs: 15_000, intervalMs: 10 },
    );
    const lease = rawLease(namespace);
    const takenAt = parseMicroTime(lease.spec.acquireTime ?? '').date.getTime();
    assert.ok(
      takenAt >= lastRenewal + timing.leaseDurationMs,
      `took over ${takenAt - lastRenewal} ms after the last renewal, lease is 3000 ms`,
    );
    assert.ok(
      takenAt <= lastRenewal + timing.leaseDurationMs + timing.retryPeriodMs * 4,
      `took over ${takenAt - lastRenewal} ms after the last renewal`,
    );
    assert.equal(lease.spec.holderIdentity, 'replica-b');
    assert.equal(lease.spec.leaseTransitions, 1);
    assert.deepEqual(b.newLeaders, ['replica-a', 'replica-b']);
  });

  it('steps a leader cut off from the apiserver down before anyone else starts leading', async (t) => {
    const namespace = await testNamespace(t, 'lease-cut');
    const proxy = await startTcpProxy([
      Number(new URL(config.getCurrentCluster()?.server ?? '').port),
    ]);
    t.after(() => proxy.close());
    const errors: string[] = [];
    const a = elector(t, namespace, 'replica-a', {
      client: kubeClientFor(undefined, { server: proxy.url }),
      onError: (_error, phase) => errors.push(phase),
    });
    const b = elector(t, namespace, 'replica-b');
    a.elector.start();
    await leading(a);
    b.elector.start();
    const guard = watchForTwoLeaders(a.elector, b.elector);
    t.after(() => guard.stop()); // also when an assertion fails before the explicit stop

    // Requests now hang rather than fail: the worst case, which only timeouts end.
    proxy.blackHole();
    const cutAt = performance.now();
    await leading(b);
    await guard.stop();

    const stoppedAt = a.stopped[0] ?? Infinity;
    const startedAt = b.started[0] ?? -Infinity;
    assert.ok(stoppedAt < startedAt, 'the old leader stopped before the new one started');
    assert.ok(
      stoppedAt - cutAt <= timing.renewDeadlineMs + 100,
      `stepped down ${Math.round(stoppedAt - cutAt)} ms after the cut (renewDeadline 2000 ms)`,
    );
    assert.match(String(a.signals[0]?.reason), /renew deadline passed/);
    assert.ok(errors.includes('renew'), 'failed renewals are reported');
    assert.equal(rawLease(namespace).spec.holderIdentity, 'replica-b');
  });

  it('takes over a Lease another holder let expire and leaves a live one alone', async (t) => {
    const namespace = await testNamespace(t, 'lease-foreign');
    const longAgo = formatMicroTime(new Date(Date.now() - 3_600_000));
    await coordination.createNamespacedLease({
      namespace,
      body: {
        metadata: { name: ONEPASSWORD_LEADER_ELECTION_ID },
        // 1Password's operator left this behind an hour ago; client-node sends strings verbatim.
        spec: {
          holderIdentity: 'onepassword-connect-operator-7d9f_1234',
          leaseDurationSeconds: 15,
          acquireTime: longAgo as unknown as Date,
          renewTime: longAgo as unknown as Date,
          leaseTransitions: 4,
        },
      },
    });
    const a = elector(t, namespace, 'replica-a');
    a.elector.start();
    await leading(a);
    assert.deepEqual(a.newLeaders, ['onepassword-connect-operator-7d9f_1234', 'replica-a']);
    assert.equal(rawLease(namespace).spec.leaseTransitions, 5);
    await a.elector.stop();

    // A live holder (renewed just now, 60 s lease) is left alone.
    const live = await eventually('a live foreign lease', async () => {
      const lease = await coordination.readNamespacedLease({
        name: ONEPASSWORD_LEADER_ELECTION_ID,
        namespace,
      });
      const now = formatMicroTime(new Date());
      return coordination.replaceNamespacedLease({
        name: ONEPASSWORD_LEADER_ELECTION_ID,
        namespace,
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: 'someone-else',
            leaseDurationSeconds: 60,
            renewTime: now as unknown as Date,
          },
        },
      });
    });
    assert.equal(live.spec?.holderIdentity, 'someone-else');
    const c = elector(t, namespace, 'replica-c');
    c.elector.start();
    await sleep(timing.leaseDurationMs + timing.retryPeriodMs * 2);
    assert.equal(c.elector.isLeader(), false);
    assert.equal(c.elector.leader(), 'someone-else');
    assert.equal(rawLease(namespace).spec.holderIdentity, 'someone-else');
  });

  it('refuses timings that could let two leaders overlap', () => {
    const base = { namespace: 'default', name: 'x', callbacks: { onStartedLeading: () => {} } };
    assert.throws(() => new LeaderElector(client, { ...base, leaseDurationMs: 2_500 }), RangeError);
    assert.throws(
      () => new LeaderElector(client, { ...base, leaseDurationMs: 3_000, renewDeadlineMs: 3_000 }),
      RangeError,
    );
    assert.throws(
      () =>
        new LeaderElector(client, {
          ...base,
          leaseDurationMs: 3_000,
          renewDeadlineMs: 2_000,
          retryPeriodMs: 1_700,
        }),
      RangeError,
    );
    const defaults = new LeaderElector(client, base);
    assert.deepEqual(
      [defaults.leaseDurationMs, defaults.renewDeadlineMs, defaults.retryPeriodMs],
      [15_000, 10_000, 2_000],
    );
    assert.match(defaults.identity, /^.+_[0-9a-f]{8}$/);
  });
});
