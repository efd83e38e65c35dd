// `npm run bench` smoke run (issue #15): the operator-scale harness at a tiny N, end to end — items
// created, the operator started from dist/, every Secret checked, connect-local's activity log read,
// the raw ceiling measured, the report section and chart written. It checks that the harness works,
// never a timing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { BEGIN, END } from '../../bench/scale-report.ts';

function run(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bench', 'run.ts'), ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('bench harness (smoke)', () => {
  it('measures 20 items and writes its section between the markers, keeping the rest of the file', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-kube-bench-smoke-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'benchmarks.md');
    await writeFile(
      out,
      `# Benchmarks\n\n## Operator memory\n\nkept as written\n\n${BEGIN}\nold\n${END}\n\n## Webhook\n\nkept too\n`,
    );
    const { code, output } = await run([
      'operator-scale',
      '--sizes=20',
      '--polling=1',
      '--idle-polls=2',
      `--out=${out}`,
    ]);
    // Targets are for the real sizes; at 20 items only the harness itself is judged.
    assert.ok(code === 0 || code === 1, output);
    assert.match(output, /operator-scale/);
    const report = await readFile(out, 'utf8');
    assert.match(report, /## Operator memory\n\nkept as written/);
    assert.match(report, /## Webhook\n\nkept too/);
    assert.doesNotMatch(report, /\nold\n/);
    const row = /^\| op-kube \| 20 \| ([^|]+)\|([^\n]+)$/m.exec(report);
    assert.ok(row, report);
    const cells = row[0].split('|').map((cell) => cell.trim());
    // sync Connect requests (from connect-local's log): at least one GET per item.
    assert.ok(Number(cells[10]) >= 20, row[0]);
    // Idle: whole polls counted, one request each.
    assert.equal(cells[13], '1.00', row[0]);
    const svg = await readFile(join(dir, 'benchmarks-scale.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<polyline/);
  });
});
