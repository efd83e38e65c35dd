// `npm run bench [-- --full] [--profile] [--peer-binary=<path>] [--peer-sizes=N,...]
// [--private-plane] [--sizes=N,...] [--out=<file>] [--polling=<s>] [--idle-polls=<n>] [--changes=<n>] [--change-timeout=<s>] [--sync-timeout=<s>]
// [name...]`: runs the named benchmarks (all by default) and exits non-zero when one misses its
// target. Quick mode measures the operator at 1,000 items; --full at 1,000, 10,000 and 30,000.
// The operator's results are written into docs/benchmarks.md (its operator-scale section only:
// the sizes measured, earlier sizes kept) with a chart, docs/benchmarks-scale.svg.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../tools/cluster/paths.ts';
import { ControlPlane } from '../tools/cluster/plane.ts';
import { connectLocalGetItem } from './connect-local.ts';
import { operatorScale, type ScaleSettings } from './operator.ts';
import { writeReport } from './scale-report.ts';
import { webhookAdmission } from './webhook.ts';
import type { Benchmark, BenchmarkResult } from './benchmark.ts';

const { values, positionals } = parseArgs({
  options: {
    profile: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    'peer-binary': { type: 'string' },
    'peer-sizes': { type: 'string' },
    'private-plane': { type: 'boolean', default: false },
    polling: { type: 'string', default: '10' },
    'idle-polls': { type: 'string', default: '3' },
    changes: { type: 'string' },
    'change-timeout': { type: 'string' },
    'sync-timeout': { type: 'string' },
    out: { type: 'string' },
  },
  allowPositionals: true,
});

/** A list of sizes, or exit 2 naming the flag. */
function sizesFlag(name: string, value: string): number[] {
  const list = value.split(',').map((size) => Number(size.replaceAll('_', '')));
  if (list.some((size) => !Number.isInteger(size) || size < 10)) {
    console.error(`--${name}: whole numbers of at least 10, comma-separated; got ${value}`);
    process.exit(2);
  }
  return list;
}
const sizes = values.sizes
  ? sizesFlag('sizes', values.sizes)
  : values.full
    ? [1000, 10_000, 30_000]
    : [1000];
// A plane of the run's own: no other test's requests in the apiserver's counters or CPU, no
// earlier run's objects in etcd; stopped and removed when the run ends.
const planeDir = values['private-plane']
  ? realpathSync(mkdtempSync(join(tmpdir(), 'op-kube-bench-plane-')))
  : undefined;
/** A flag's number, or exit 2 naming the flag. */
function numberFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number < min) {
    console.error(`--${name}: a number of at least ${min}; got ${value}`);
    process.exit(2);
  }
  return number;
}
const changes = numberFlag('changes', values.changes, 0);
const changeTimeout = numberFlag('change-timeout', values['change-timeout'], 1);
const syncTimeout = numberFlag('sync-timeout', values['sync-timeout'], 1);
const settings: ScaleSettings = {
  sizes,
  pollingSeconds: numberFlag('polling', values.polling, 1) ?? 10,
  idlePolls: numberFlag('idle-polls', values['idle-polls'], 1) ?? 3,
  ...(values['peer-binary'] ? { peerBinary: values['peer-binary'] } : {}),
  ...(values['peer-sizes'] ? { peerSizes: sizesFlag('peer-sizes', values['peer-sizes']) } : {}),
  ...(planeDir !== undefined ? { planeDir } : {}),
  ...(changes !== undefined ? { changes } : {}),
  ...(changeTimeout !== undefined ? { changeTimeoutSeconds: changeTimeout } : {}),
  ...(syncTimeout !== undefined ? { syncTimeoutSeconds: syncTimeout } : {}),
};
const scale = operatorScale(settings);

const benchmarks: readonly Benchmark[] = [connectLocalGetItem, scale.benchmark, webhookAdmission];

function printTable(rows: readonly Record<string, string>[]): void {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, index) =>
        index === 0 ? cell.padEnd(widths[index] ?? 0) : cell.padStart(widths[index] ?? 0),
      )
      .join('  ');
  console.log(line(columns));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) console.log(line(columns.map((column) => row[column] ?? '')));
}

const selected = positionals.length
  ? benchmarks.filter((benchmark) => positionals.some((filter) => benchmark.name.includes(filter)))
  : benchmarks;
if (selected.length === 0) {
  console.error(
    `no benchmark matches ${positionals.join(', ')}; known: ${benchmarks.map((b) => b.name).join(', ')}`,
  );
  process.exit(2);
}

const results: { benchmark: Benchmark; result: BenchmarkResult }[] = [];
try {
  for (const benchmark of selected) {
    console.log(`running ${benchmark.name}: ${benchmark.description}`);
    results.push({ benchmark, result: await benchmark.run({ profile: values.profile }) });
  }
} finally {
  if (planeDir !== undefined) {
    await new ControlPlane(planeDir).down();
    rmSync(planeDir, { recursive: true, force: true });
  }
}

console.log('');
printTable(
  results.map(({ benchmark, result }) => ({ benchmark: benchmark.name, ...result.metrics })),
);
for (const { benchmark, result } of results) {
  console.log(`\n${benchmark.name}:`);
  for (const note of result.notes) console.log(`  ${note}`);
}
console.log('');
for (const { benchmark, result } of results) {
  console.log(`${result.passed ? 'PASS' : 'FAIL'} ${benchmark.name}: ${result.verdict}`);
}
process.exitCode = results.every(({ result }) => result.passed) ? 0 : 1;

if (scale.results.length > 0) {
  const out = values.out ?? join(repoRoot, 'docs', 'benchmarks.md');
  const chart = out.replace(/\.md$/, '') + '-scale.svg';
  const version = (command: string, args: string[]): string => {
    try {
      return execFileSync(command, args, { encoding: 'utf8' }).trim().split('\n')[0] ?? '?';
    } catch {
      return '?';
    }
  };
  await writeReport(
    {
      results: scale.results,
      mode: values.sizes ? 'custom' : values.full ? 'full' : 'quick',
      pollingSeconds: settings.pollingSeconds,
      versions: {
        node: process.version,
        'op-kube': version('git', [
          '-C',
          repoRoot,
          'describe',
          '--always',
          '--dirty',
          '--abbrev=7',
        ]),
        'kube-apiserver': scale.apiserverVersion() ?? '?',
      },
      date: new Date(),
    },
    out,
    chart,
  );
  console.log(`wrote ${out} (operator-scale section) and ${chart}`);
}
