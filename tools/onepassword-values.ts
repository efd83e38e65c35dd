// `npm run render:values-table`: the table of 1Password's chart values in charts/op-kube/README.md,
// generated from charts/op-kube/files/onepassword-values.yaml (the file the chart's
// templates/onepassword-values.yaml enforces). test/unit/chart-onepassword-values.test.ts fails when
// the README differs from a fresh render.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import yaml from 'js-yaml';
import { format, resolveConfig } from 'prettier';
import { repoRoot } from './cluster/paths.ts';

export const VALUES_FILE = join(repoRoot, 'charts', 'op-kube', 'files', 'onepassword-values.yaml');
export const CHART_README = join(repoRoot, 'charts', 'op-kube', 'README.md');
export const TABLE_START = '<!-- onepassword-values:start (npm run render:values-table) -->';
export const TABLE_END = '<!-- onepassword-values:end -->';

/** One value name of 1Password's `connect` or `secrets-injector` chart. */
export interface OnePasswordValue {
  name: string;
  status: 'works' | 'refused';
  /** works: op-kube's name for it. */
  op?: string;
  note?: string;
  /** refused: what to use instead (the install error says it). */
  why?: string;
  /** refused: values (1Password's defaults) op-kube already behaves as, which install. */
  accept?: unknown[];
  /** The value tests set. */
  sample: unknown;
  /** Other values set with it in tests. */
  with?: Record<string, unknown>;
  /** works: text the render contains, or lacks, with the sample. */
  expect?: string;
  absent?: string;
}

export async function loadOnePasswordValues(): Promise<OnePasswordValue[]> {
  const rows = yaml.load(await readFile(VALUES_FILE, 'utf8')) as OnePasswordValue[];
  for (const row of rows) {
    if (row.status === 'works' ? !row.op : !row.why) {
      throw new Error(
        `${VALUES_FILE}: ${row.name} (${row.status}) lacks ${row.status === 'works' ? 'op' : 'why'}`,
      );
    }
  }
  return rows;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function code(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `\`${text === '' ? '""' : text}\``;
}

/** The counts the closing note and the README give. */
export function counts(rows: readonly OnePasswordValue[]): { works: number; refused: number } {
  const works = rows.filter((row) => row.status === 'works').length;
  return { works, refused: rows.length - works };
}

export function valuesTable(rows: readonly OnePasswordValue[]): string {
  const { works, refused } = counts(rows);
  const lines = [
    `${rows.length} value names (leaves of both charts' values.yaml, and the names their templates`,
    `read without a default there): ${works} work with 1Password's meaning, ${refused} are refused at`,
    'install with what to use instead (every refused value in one error; values shown as accepted are',
    "1Password's defaults, which op-kube already behaves as). None is ignored.",
    '',
    "| 1Password's value | op-kube |",
    '| --- | --- |',
  ];
  for (const row of rows) {
    const text =
      row.status === 'works'
        ? `${row.op === row.name ? 'same name' : `\`${row.op}\``}${row.note ? `: ${row.note}` : ''}`
        : `**refused**${row.accept?.length ? ` (accepted: ${row.accept.map(code).join(', ')})` : ''}: ${row.why}`;
    lines.push(`| \`${row.name}\` | ${cell(text)} |`);
  }
  return lines.join('\n');
}

/** The README with its table section replaced by a fresh render (prettier-formatted, as committed). */
export async function withTable(readme: string, table: string): Promise<string> {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`${CHART_README} lacks the table markers`);
  const text = `${readme.slice(0, start + TABLE_START.length)}\n\n${table}\n\n${readme.slice(end)}`;
  const options = (await resolveConfig(CHART_README)) ?? {};
  return format(text, { ...options, parser: 'markdown', filepath: CHART_README });
}

async function main(): Promise<void> {
  const readme = await readFile(CHART_README, 'utf8');
  const next = await withTable(readme, valuesTable(await loadOnePasswordValues()));
  if (next !== readme) await writeFile(CHART_README, next);
  process.stdout.write(`rendered the 1Password values table in ${CHART_README}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
