// topSelfTime over a window of the process's life: only samples taken inside it count.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { topSelfTime, type CpuProfile } from '../../../bench/support.ts';

const frame = (functionName: string) => ({ functionName, url: '', lineNumber: 0 });
// Sample i is taken at the sum of timeDeltas[0..i] µs and lasts until the next one.
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('sync') },
    { id: 2, callFrame: frame('poll') },
    { id: 3, callFrame: frame('(idle)') },
  ],
  samples: [1, 1, 1, 2, 3, 2, 3],
  timeDeltas: [0, 1000, 1000, 1000, 1000, 1000, 1000],
};

describe('topSelfTime', () => {
  it('counts every sample of the whole run without a window', () => {
    const lines = topSelfTime(profile, 5);
    assert.match(lines[0] ?? '', /of 5 ms busy \(1 ms idle\) in the server's whole run/);
    assert.match(lines[1] ?? '', /60\.0%\s+3 ms\s+sync/);
  });

  it('counts only the samples inside the window, and names it', () => {
    // 1.5–4.5 ms: the samples at 2 (sync), 3 (poll) and 4 ms (idle).
    const lines = topSelfTime(profile, 5, { fromMs: 1.5, toMs: 4.5, label: 'the idle window' });
    assert.match(lines[0] ?? '', /of 2 ms busy \(1 ms idle\) in the idle window/);
    assert.deepEqual(
      lines.slice(1).map((line) => line.trim().split(/\s+/).at(-1)),
      ['sync', 'poll'],
    );
  });
});
