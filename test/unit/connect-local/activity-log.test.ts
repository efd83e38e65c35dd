// ActivityLog: authenticated and anonymous entries bounded apart, interleaved by time, kept on disk.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ACTIVITY_FILE,
  ActivityLog,
  ANONYMOUS_ACTIVITY_FILE,
  mergeByTime,
} from '../../../src/connect-local/activity-log.ts';
import type { ApiRequest } from '../../../src/connect/models.ts';

let clock = Date.parse('2026-01-01T00:00:00Z');

function entry(kind: 'authenticated' | 'anonymous', n: number): ApiRequest {
  clock += 1;
  return {
    requestId: `${kind}-${n}`,
    timestamp: new Date(clock).toISOString(),
    action: 'READ',
    result: kind === 'anonymous' ? 'DENY' : 'SUCCESS',
    actor: {
      id: kind === 'anonymous' ? '' : 'jti-1',
      account: '',
      jti: kind === 'anonymous' ? '' : 'jti-1',
      userAgent: 'test',
      requestIp: '127.0.0.1',
    },
    resource: { type: 'VAULT', vault: { id: 'v'.repeat(26) } },
  };
}

async function stateDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'op-kube-activity-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const ids = (log: ActivityLog): string[] =>
  log.page(0, 1_000_000).map((request) => request.requestId);

describe('ActivityLog', () => {
  it('keeps every authenticated entry through an anonymous flood of 100x the retention', async (t) => {
    const dir = await stateDir(t);
    const log = await ActivityLog.open(dir, { retention: 10, anonymousRetention: 3 });
    for (let n = 0; n < 10; n += 1) log.record(entry('authenticated', n));
    for (let n = 0; n < 1000; n += 1) log.record(entry('anonymous', n));
    const kept = ids(log);
    assert.deepEqual(kept, [
      ...Array.from({ length: 10 }, (_, n) => `authenticated-${n}`),
      'anonymous-997',
      'anonymous-998',
      'anonymous-999',
    ]);
    assert.equal(log.count(), 13);
    await log.close();

    const reopened = await ActivityLog.open(dir, { retention: 10, anonymousRetention: 3 });
    t.after(() => reopened.close());
    assert.deepEqual(ids(reopened), kept);
  });

  it('interleaves both kinds by time and pages over the merged view', async (t) => {
    const log = await ActivityLog.open(await stateDir(t), { retention: 4, anonymousRetention: 2 });
    t.after(() => log.close());
    log.record(entry('authenticated', 0));
    log.record(entry('anonymous', 0));
    log.record(entry('authenticated', 1));
    log.record(entry('anonymous', 1));
    log.record(entry('anonymous', 2));
    log.record(entry('authenticated', 2));
    assert.deepEqual(ids(log), [
      'authenticated-0',
      'authenticated-1',
      'anonymous-1',
      'anonymous-2',
      'authenticated-2',
    ]);
    assert.deepEqual(
      log.page(1, 2).map((request) => request.requestId),
      ['authenticated-1', 'anonymous-1'],
    );
  });

  it('keeps disk use under four times each retention, in separate files, whatever the rate', async (t) => {
    const dir = await stateDir(t);
    const log = await ActivityLog.open(dir, { retention: 5, anonymousRetention: 2 });
    for (let round = 0; round < 20; round += 1) {
      log.record(entry('authenticated', round));
      for (let n = 0; n < 50; n += 1) log.record(entry('anonymous', round * 50 + n));
      await log.flush();
    }
    await log.close();
    const lines = async (name: string): Promise<string[]> =>
      (await readFile(join(dir, name), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const authenticated = [...(await lines(ACTIVITY_FILE)), ...(await lines('activity.1.jsonl'))];
    assert.ok(authenticated.length <= 4 * 5, `${authenticated.length} authenticated lines`);
    assert.ok(authenticated.every((line) => line.includes('"id":"jti-1"')));
    const anonymous = [
      ...(await lines(ANONYMOUS_ACTIVITY_FILE)),
      ...(await lines('activity-anonymous.1.jsonl')),
    ];
    assert.ok(
      anonymous.length > 0 && anonymous.length <= 4 * 2,
      `${anonymous.length} anonymous lines`,
    );
  });

  it('sorts a log written before the split, and drops lines cut short or of another shape', async (t) => {
    const dir = await stateDir(t);
    const old = [
      entry('authenticated', 0),
      entry('anonymous', 0),
      entry('authenticated', 1),
      entry('anonymous', 1),
    ];
    await writeFile(
      join(dir, ACTIVITY_FILE),
      `${old.map((request) => JSON.stringify(request)).join('\n')}\n42\n{"timestamp":1}\n{"requestId":"cut`,
    );
    const log = await ActivityLog.open(dir, { retention: 10, anonymousRetention: 1 });
    t.after(() => log.close());
    assert.deepEqual(ids(log), ['authenticated-0', 'authenticated-1', 'anonymous-1']);
  });

  it('mergeByTime keeps every entry, each list in its order, the whole sorted by time', () => {
    const stamp = fc.integer({ min: 0, max: 50 }).map((n) => new Date(n * 1000).toISOString());
    const sorted = fc
      .array(stamp, { maxLength: 30 })
      .map((stamps) =>
        stamps.sort().map((timestamp, n) => ({ ...entry('anonymous', n), timestamp })),
      );
    fc.assert(
      fc.property(sorted, sorted, (first, second) => {
        const merged = mergeByTime(first, second);
        assert.equal(merged.length, first.length + second.length);
        for (let n = 1; n < merged.length; n += 1) {
          assert.ok((merged[n - 1]?.timestamp ?? '') <= (merged[n]?.timestamp ?? ''));
        }
        assert.deepEqual(
          merged.filter((request) => first.includes(request)),
          first,
        );
      }),
    );
  });
});
