// `npm run bench [-- --profile] [name...]`: runs the named benchmarks (all by default) and exits
// non-zero when one misses its target.
import { parseArgs } from 'node:util';
import { connectLocalGetItem } from './connect-local.ts';
import { operatorThousandItems } from './operator.ts';
import { webhookAdmission } from './webhook.ts';
import type { Benchmark, BenchmarkResult } from './benchmark.ts';

const benchmarks: readonly Benchmark[] = [
  connectLocalGetItem,
  operatorThousandItems,
  webhookAdmission,
];

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

const { values, positionals } = parseArgs({
  options: { profile: { type: 'boolean', default: false } },
  allowPositionals: true,
});
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
for (const benchmark of selected) {
  console.log(`running ${benchmark.name}: ${benchmark.description}`);
  results.push({ benchmark, result: await benchmark.run({ profile: values.profile }) });
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
