// The bench's reader of connect-local's activity log: it must count every request of the token
// across rotations (connect-local renames a full activity.jsonl to activity.1.jsonl), where reading
// the files at the end kept only the last retention's worth.
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ActivityTail } from '../../../bench/activity-tail.ts';

const entry = (at: number, jti: string, vault = 'v1'): string =>
  JSON.stringify({
    requestId: String(at),
    timestamp: new Date(at).toISOString(),
    action: 'READ',
    result: 'SUCCESS',
    actor: { id: jti, account: 'a', jti, userAgent: 'x', requestIp: '127.0.0.1' },
    resource: { type: 'VAULT', vault: { id: vault } },
  }) + '\n';

describe('bench activity tail', () => {
  it('counts the token’s requests across rotations and partial lines, others’ apart', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-kube-activity-tail-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'activity.jsonl');
    const tail = new ActivityTail(dir, 'op');
    t.after(() => tail.close());
    await tail.read(); // no file yet
    await appendFile(file, entry(1000, 'op') + entry(1001, 'editor') + entry(1002, 'op', ''));
    await tail.read();
    // A line cut in half by a flush, then a rotation with lines appended before it, twice over.
    const half = entry(1003, 'op');
    await appendFile(file, half.slice(0, 20));
    await tail.read();
    await appendFile(file, half.slice(20) + entry(1004, 'op'));
    await rename(file, join(dir, 'activity.1.jsonl'));
    await appendFile(file, entry(2000, 'op', ''));
    await rename(file, join(dir, 'activity.1.jsonl'));
    await appendFile(file, entry(3000, 'op'));
    await tail.read();
    await appendFile(file, entry(3001, 'op'));
    await tail.read();
    // The second rotation replaced activity.1.jsonl before it was read: 2000 is lost, as it would be
    // between two reads a second apart only if a whole retention were written in between.
    assert.equal(tail.count(0, 10_000), 6);
    assert.equal(tail.count(1000, 1004), 3);
    assert.equal(tail.vaultLists(0, 10_000), 1);
  });
});
