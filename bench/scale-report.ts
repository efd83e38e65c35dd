// The operator-scale section of docs/benchmarks.md (between its markers, so the other sections
// stay as their authors wrote them) and its chart, a hand-written SVG of sync time and RSS against N.
// The section holds one block per size, each labelled with the run (date, commit) that measured
// it: a run rewrites the blocks of the sizes it measured and keeps the others as they were, and
// the chart is drawn from every block's table. The section is formatted with prettier, so
// `prettier --check` passes on the file as written.
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import * as prettier from 'prettier';
import { repoRoot } from '../tools/cluster/paths.ts';
import { describeChange } from './item-edits.ts';
import type { ScaleResult } from './operator.ts';

export const BEGIN = '<!-- bench:operator-scale:begin (written by npm run bench) -->';
export const END = '<!-- bench:operator-scale:end -->';

export interface ScaleReport {
  readonly results: readonly ScaleResult[];
  readonly mode: 'quick' | 'full' | 'custom';
  readonly pollingSeconds: number;
  readonly versions: Readonly<Record<string, string>>;
  readonly date: Date;
}

const fixed = (value: number, digits = 1): string => value.toFixed(digits);
const int = (value: number): string => Math.round(value).toLocaleString('en-US');

const COLUMNS = {
  operator: 'operator',
  items: 'items',
  tail: 'last item → last Secret s',
  peakRss: 'peak RSS MB',
  change: 'change → Secret p50 / p99 / max s',
} as const;

function row(result: ScaleResult, pollingSeconds: number): string {
  const perPoll =
    result.idleVaultLists > 0 ? fixed(result.idleRequests / result.idleVaultLists, 2) : 'n/a';
  const share = (100 * result.secretsPerSecond) / result.ceilingPerSecond;
  return [
    result.operator,
    int(result.items),
    fixed(result.applySeconds),
    `**${fixed(result.tailSeconds)}**`,
    int(result.secretsPerSecond),
    `${int(result.ceilingPerSecond)} (${fixed(result.ceilingSeconds)} s)`,
    `${fixed(share, 0)} %`,
    int(result.peakRssMb),
    int(result.steadyRssMb),
    int(result.syncRequests),
    fixed(result.syncRequests / result.items, 2),
    `${int(result.idleRequests)} in ${fixed(result.idleSeconds, 0)} s`,
    perPoll,
    result.idleCpuPercent === undefined ? 'n/a' : `${fixed(result.idleCpuPercent, 2)} %`,
    result.change ? describeChange(result.change, pollingSeconds).cell : 'n/a',
  ].join(' | ');
}

const HEADER =
  `| ${COLUMNS.operator} | ${COLUMNS.items} | apply s | ${COLUMNS.tail} | Secrets/s | raw ceiling Secrets/s | of ceiling | ${COLUMNS.peakRss} | steady RSS MB | sync Connect requests | per item | idle Connect requests | per idle poll | idle CPU (one core) | ${COLUMNS.change} |\n` +
  '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';

const VAULTS_NOTE = 'items spread over 10 vaults of connect-local, two fields each';

/** One size's block: heading with the run's date and commit, machine, table, notes, profiles. */
function sizeBlock(report: ScaleReport, size: number): string {
  const results = report.results.filter((result) => result.items === size);
  const when = `${report.date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const lines = [
    `#### ${int(size)} items (${when}, op-kube ${report.versions['op-kube'] ?? '?'}, ${report.mode} mode)`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${int(totalmem() / 2 ** 30)} GiB; ` +
      Object.entries(report.versions)
        .map(([name, version]) => `${name} ${version}`)
        .join(', ') +
      `; POLLING_INTERVAL=${report.pollingSeconds}, ${VAULTS_NOTE}.`,
    '',
    HEADER,
    ...results.map((result) => `| ${row(result, report.pollingSeconds)} |`),
    '',
  ];
  const notes = results.flatMap((result) => [
    ...(result.change
      ? [`- ${result.operator}: ${describeChange(result.change, report.pollingSeconds).line}.`]
      : []),
    ...(result.change && result.change.missing.length > 0
      ? [`- ${result.operator}: never arrived: ${result.change.missing.slice(0, 10).join(', ')}.`]
      : []),
    `- ${result.operator}: apiserver requests per item during the sync: ${result.apiPerItem.join(', ') || 'n/a'}; namespaces deleted in ${fixed(result.cleanupSeconds)} s.`,
  ]);
  if (notes.length > 0) lines.push(...notes, '');
  for (const result of results.filter((candidate) => candidate.profile.length > 0)) {
    lines.push(
      `${result.operator}, ${int(result.items)} items, \`--cpu-prof\` over the whole run:`,
      '',
      '```',
      ...result.profile,
      '```',
      '',
    );
  }
  return lines.join('\n');
}

/** The blocks of an earlier section, by size (text as written), with its legacy run label. */
export function parseBlocks(section: string): Map<number, string> {
  const blocks = new Map<number, string>();
  const inner = section.replace(BEGIN, '').replace(END, '');
  // Sections written before blocks had their own labels: the run's heading and commit.
  const legacyDate = /^### Results \(([^)]*)\)/m.exec(inner)?.[1];
  const legacyCommit = /op-kube ([0-9a-f]{7,40})/.exec(
    /^Machine: .*$/m.exec(inner)?.[0] ?? '',
  )?.[1];
  const parts = inner.split(/^(?=#### )/m).slice(1);
  for (const part of parts) {
    let text = part.split(/^!\[/m)[0]?.trimEnd() ?? '';
    const heading = /^#### ([\d,]+) items(.*)$/m.exec(text);
    if (!heading) continue;
    const size = Number(heading[1]?.replaceAll(',', ''));
    if ((heading[2] ?? '').trim() === '' && legacyDate) {
      text = text.replace(
        heading[0],
        `#### ${heading[1]} items (${legacyDate}${legacyCommit ? `, op-kube ${legacyCommit}` : ''})`,
      );
    }
    blocks.set(size, text);
  }
  return blocks;
}

/** A row of a block's table, as the chart needs it. */
export interface ChartPoint {
  readonly operator: string;
  readonly items: number;
  readonly tailSeconds: number;
  readonly peakRssMb: number;
  readonly changeP99?: number;
}

/** The chart's points, read back from the tables of the blocks. */
export function pointsOf(blocks: Iterable<string>): ChartPoint[] {
  const points: ChartPoint[] = [];
  const cellsOf = (line: string): string[] =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((cell) => cell.trim());
  for (const block of blocks) {
    const lines = block.split('\n').filter((line) => line.trim().startsWith('|'));
    const header = lines[0] ? cellsOf(lines[0]) : [];
    const at = (name: string): number => header.indexOf(name);
    const number = (cell: string | undefined): number =>
      Number((cell ?? '').replaceAll('*', '').replaceAll(',', '').split(' ')[0]);
    for (const line of lines.slice(2)) {
      const cells = cellsOf(line);
      const change =
        at(COLUMNS.change) >= 0 ? cells[at(COLUMNS.change)]?.split(' / ')[1] : undefined;
      const point: ChartPoint = {
        operator: cells[at(COLUMNS.operator)] ?? '',
        items: number(cells[at(COLUMNS.items)]),
        tailSeconds: number(cells[at(COLUMNS.tail)]),
        peakRssMb: number(cells[at(COLUMNS.peakRss)]),
        ...(change !== undefined
          ? { changeP99: change === 'never' ? Infinity : Number(change) }
          : {}),
      };
      if ([point.items, point.tailSeconds, point.peakRssMb].every(Number.isFinite)) {
        points.push(point);
      }
    }
  }
  return points;
}

/** The section: this run's blocks and the earlier ones it did not re-measure, by size. */
export function markdown(
  report: ScaleReport,
  chartFile: string,
  earlier: ReadonlyMap<number, string> = new Map(),
): { text: string; blocks: Map<number, string> } {
  const blocks = new Map(earlier);
  for (const size of new Set(report.results.map((result) => result.items))) {
    blocks.set(size, sizeBlock(report, size));
  }
  const ordered = new Map([...blocks].sort((a, b) => a[0] - b[0]));
  const lines = [
    BEGIN,
    '',
    '### Results',
    '',
    'One block per size, each from the run that measured it (date and commit in its heading): a run',
    'rewrites the sizes it measures and keeps the others.',
    '',
    ...[...ordered.values()].flatMap((block) => [block, '']),
    `![sync time and peak RSS against N](${chartFile})`,
    '',
    END,
  ];
  return { text: lines.join('\n'), blocks: ordered };
}

/** Two series against N: sync time (last item → last Secret, left axis) and peak RSS (right). */
export function chart(results: readonly ChartPoint[]): string {
  const width = 640;
  const height = 320;
  const left = 60;
  const right = 60;
  const top = 30;
  const bottom = 50;
  const ours = results.filter((result) => result.operator === 'op-kube');
  const peer = results.filter((result) => result.operator === '1Password');
  const maxN = Math.max(1, ...results.map((result) => result.items));
  const maxT = Math.max(1, ...results.map((result) => result.tailSeconds)) * 1.15;
  const maxR = Math.max(1, ...results.map((result) => result.peakRssMb)) * 1.15;
  const x = (n: number): number => left + ((width - left - right) * n) / maxN;
  const yT = (t: number): number => height - bottom - ((height - top - bottom) * t) / maxT;
  const yR = (r: number): number => height - bottom - ((height - top - bottom) * r) / maxR;
  const line = (points: readonly [number, number][], color: string, dash = ''): string => {
    const sorted = [...points].sort((a, b) => a[0] - b[0]);
    const path = sorted.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
    const dots = sorted
      .map(
        ([px, py]) => `<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3" fill="${color}"/>`,
      )
      .join('');
    return `<polyline fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${path}"/>${dots}`;
  };
  const ticks = (max: number, at: (value: number) => number, side: 'left' | 'right'): string =>
    [0, 0.25, 0.5, 0.75, 1]
      .map((share) => {
        const value = max * share;
        const px = side === 'left' ? left - 6 : width - right + 6;
        const anchor = side === 'left' ? 'end' : 'start';
        return `<text x="${px}" y="${(at(value) + 4).toFixed(1)}" text-anchor="${anchor}">${value.toFixed(0)}</text>`;
      })
      .join('');
  const xTicks = [...new Set(results.map((result) => result.items))]
    .map(
      (n) =>
        `<text x="${x(n).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle">${int(n)}</text>`,
    )
    .join('');
  const series = (
    set: readonly ChartPoint[],
    name: string,
    color: string,
  ): { svg: string; legend: string[] } => ({
    svg:
      line(
        set.map((result) => [x(result.items), yT(result.tailSeconds)]),
        color,
      ) +
      line(
        set.map((result) => [x(result.items), yR(result.peakRssMb)]),
        color,
        '5,4',
      ),
    legend: [
      `${name}: sync s (solid), peak RSS MB (dashed)` +
        (set.some((result) => result.changeP99 !== undefined)
          ? `; change → Secret p99: ${[...set]
              .sort((a, b) => a.items - b.items)
              .filter((result) => result.changeP99 !== undefined)
              .map(
                (result) =>
                  `${int(result.items)}: ${Number.isFinite(result.changeP99) ? `${fixed(result.changeP99 ?? 0)} s` : 'never'}`,
              )
              .join(', ')}`
          : ''),
    ],
  });
  const parts = [series(ours, 'op-kube', '#1f6feb')];
  if (peer.length > 0) parts.push(series(peer, '1Password', '#d1242f'));
  const legend = parts
    .flatMap((part, index) =>
      part.legend.map(
        (text) =>
          `<text x="${left + 8}" y="${top + 14 + 16 * index}" fill="${index === 0 ? '#1f6feb' : '#d1242f'}">${text}</text>`,
      ),
    )
    .join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<g stroke="#888" stroke-width="1"><line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}"/><line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}"/><line x1="${width - right}" y1="${top}" x2="${width - right}" y2="${height - bottom}"/></g>`,
    `<g fill="#333">${ticks(maxT, yT, 'left')}${ticks(maxR, yR, 'right')}${xTicks}</g>`,
    `<text x="${width / 2}" y="${height - 12}" text-anchor="middle">OnePasswordItems (N)</text>`,
    `<text x="14" y="${height / 2}" text-anchor="middle" transform="rotate(-90 14 ${height / 2})">last item → last Secret (s)</text>`,
    `<text x="${width - 14}" y="${height / 2}" text-anchor="middle" transform="rotate(90 ${width - 14} ${height / 2})">peak RSS (MB)</text>`,
    ...parts.map((part) => part.svg),
    legend,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * Replaces the section between the markers in `docsFile` (appends it, with its heading, when the
 * markers are missing), keeping the earlier blocks of sizes this run did not measure, formats it
 * with prettier (the repository's settings) and writes the chart next to it from every block.
 */
export async function writeReport(
  report: ScaleReport,
  docsFile: string,
  chartPath: string,
): Promise<void> {
  let text = '';
  try {
    text = await readFile(docsFile, 'utf8');
  } catch {
    text = '# Benchmarks\n';
  }
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  const present = begin !== -1 && end > begin;
  const earlier = present ? parseBlocks(text.slice(begin, end + END.length)) : new Map();
  const { text: raw, blocks } = markdown(report, basename(chartPath), earlier);
  const options = (await prettier.resolveConfig(join(repoRoot, 'docs', 'benchmarks.md'))) ?? {};
  const section = (await prettier.format(raw, { ...options, parser: 'markdown' })).trimEnd();
  const next = present
    ? `${text.slice(0, begin)}${section}${text.slice(end + END.length)}`
    : `${text.trimEnd()}\n\n## operator-scale\n\n${section}\n`;
  await writeFile(docsFile, next);
  await writeFile(chartPath, chart(pointsOf(blocks.values())));
}
