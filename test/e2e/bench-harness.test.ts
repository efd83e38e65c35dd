// `npm run bench` smoke run (issue #15): the operator-scale harness at a tiny N, end to end — items
// created, the operator started from dist/, every Secret checked, connect-local's activity log read,
// items edited through connect-local's API and each edit timed to its Secret (change → Secret), the
// raw ceiling measured, the report section and chart written. It checks that the harness works,
// never a timing; and that it fails loudly when a Secret never turns right.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as prettier from 'prettier';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { BEGIN, END } from '../../bench/scale-report.ts';

function run(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bench', 'run.ts'), ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/** The cells of the table row of `operator` at 20 items. */
function rowOf(report: string, operator: string): string[] {
  const row = new RegExp(`^\\| ${operator} +\\| +20 \\|[^\\n]+$`, 'm').exec(report);
  assert.ok(row, `no ${operator} row at 20 items in\n${report}`);
  return row[0].split('|').map((cell) => cell.trim());
}

const CHANGE_CELL = /^\d+\.\d \/ \d+\.\d \/ \d+\.\d (PASS|FAIL)$/;

// A 10,000-item block an earlier --full run wrote: a run at other sizes must keep it.
const EARLIER = [
  '#### 10,000 items (2026-01-01 00:00 UTC, op-kube 0000000, full mode)',
  '',
  '| operator | items | last item → last Secret s | peak RSS MB |',
  '| -------- | -----: | ------------------------: | ----------: |',
  '| op-kube  | 10,000 |                  **83.7** |         161 |',
].join('\n');

describe('bench harness (smoke)', () => {
  it(
    'measures 20 items with change → Secret beside a peer that never follows edits, keeps earlier sizes and writes prettier-clean markdown',
    { skip: process.getuid?.() === 0 ? false : 'the peer runs in a mount namespace: needs root' },
    async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'op-kube-bench-smoke-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const out = join(dir, 'benchmarks.md');
      await writeFile(
        out,
        `# Benchmarks\n\n## Operator memory\n\nkept as written\n\n${BEGIN}\n\nold\n\n${EARLIER}\n\n${END}\n\n## Webhook\n\nkept too\n`,
      );
      // The peer: an operator that makes every Secret once and then never polls again.
      const peer = join(dir, 'once-operator');
      await writeFile(
        peer,
        `#!/bin/sh\nexec '${process.execPath}' '${join(repoRoot, 'test/support/bench-once-operator.ts')}'\n`,
      );
      await chmod(peer, 0o755);
      const { code, output } = await run([
        'operator-scale',
        '--sizes=20',
        '--polling=1',
        '--idle-polls=2',
        '--change-timeout=5',
        `--peer-binary=${peer}`,
        `--out=${out}`,
      ]);
      // Targets are for the real sizes; at 20 items only the harness itself is judged.
      assert.ok(code === 0 || code === 1, output);
      assert.match(output, /operator-scale/);
      const report = await readFile(out, 'utf8');
      assert.match(report, /## Operator memory\n\nkept as written/);
      assert.match(report, /## Webhook\n\nkept too/);
      assert.doesNotMatch(report, /\nold\n/);
      // The other size's block, as it was.
      assert.ok(
        report.includes('#### 10,000 items (2026-01-01 00:00 UTC, op-kube 0000000'),
        report,
      );
      assert.match(report, /\| op-kube +\| 10,000 \| +\*\*83\.7\*\* \| +161 \|/);
      // This run's block, labelled with its date and commit.
      assert.match(
        report,
        /#### 20 items \(\d{4}-\d\d-\d\d \d\d:\d\d UTC, op-kube [0-9a-f]+(-dirty)?, custom mode\)/,
      );
      // Written as prettier would write it (the repository's settings).
      const options = (await prettier.resolveConfig(join(repoRoot, 'docs', 'benchmarks.md'))) ?? {};
      assert.ok(await prettier.check(report, { ...options, parser: 'markdown' }), report);

      const ours = rowOf(report, 'op-kube');
      // sync Connect requests (from connect-local's log): at least one GET per item.
      assert.ok(Number(ours[10]) >= 20, ours.join('|'));
      // Idle: whole polls counted, one request each.
      assert.equal(ours[13], '1.00', ours.join('|'));
      // change → Secret: every edit arrived (p50 / p99 / max and the verdict against interval + 1 s).
      assert.match(ours[15] ?? '', CHANGE_CELL, ours.join('|'));
      assert.match(report, /- op-kube: change → Secret over 20 edits: p50 [\d.]+ s, p99 [\d.]+ s/);

      // The peer synced (its row is there) but no edit reached a Secret: said in the table, the
      // notes and the run's output.
      const theirs = rowOf(report, '1Password');
      assert.equal(
        theirs[15],
        'never / never / never FAIL, 20 of 20 never (> 5 s)',
        theirs.join('|'),
      );
      assert.match(report, /- 1Password: never arrived: item-\d-\d/);
      assert.match(
        output,
        /1Password: 20 items: FAIL: 20 of 20 edits never reached their Secret within 5 s/,
      );

      const svg = await readFile(join(dir, 'benchmarks-scale.svg'), 'utf8');
      assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.match(svg, /<polyline/);
      assert.match(svg, /op-kube: [^<]*change → Secret p99: 20: [\d.]+ s</);
      // The kept 10,000-item block is drawn too (read back from its table).
      assert.match(svg, />10,000<\/text>/);
      assert.match(svg, /1Password: [^<]*change → Secret p99: 20: never/);
    },
  );

  it('fails loudly, naming the Secrets, when the operator never makes them right or exits', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-kube-bench-smoke-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'benchmarks.md');
    // No token Secret in the namespace: the operator runs but can make no Secret.
    const stuck = await run(
      ['operator-scale', '--sizes=20', '--polling=1', '--sync-timeout=15', `--out=${out}`],
      { OP_KUBE_BENCH_OPERATOR_ARGS: '--token-source=namespace' },
    );
    assert.equal(stuck.code, 1, stuck.output);
    assert.match(
      stuck.output,
      /FAIL op-kube, 20 items: timed out after 15 s waiting for every Secret right: 0 of 20 Secrets right; not yet: item-0-0, /,
    );
    assert.match(stuck.output, /FAIL operator-scale/);
    // An operator that exits is reported at once, with the end of its output.
    const started = Date.now();
    const exited = await run(['operator-scale', '--sizes=20', '--polling=1', `--out=${out}`], {
      OP_KUBE_BENCH_OPERATOR_ARGS: '--no-such-flag',
    });
    assert.equal(exited.code, 1, exited.output);
    assert.match(
      exited.output,
      /FAIL op-kube, 20 items: the op-kube operator exited \(code 2\); its output \(first and last lines\):\nop-kube operator: flag provided but not defined: -no-such-flag\n/,
    );
    assert.ok(Date.now() - started < 60_000, 'reported within a minute, not at the sync timeout');
  });
});
