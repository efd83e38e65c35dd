// The operator-scale section of docs/benchmarks.md (between its markers, so the other sections
// stay as their authors wrote them) and its chart, a hand-written SVG of sync time and RSS against N.
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { basename } from 'node:path';
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

function row(result: ScaleResult): string {
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
  ].join(' | ');
}

const HEADER =
  '| operator | items | apply s | last item → last Secret s | Secrets/s | raw ceiling Secrets/s | of ceiling | peak RSS MB | steady RSS MB | sync Connect requests | per item | idle Connect requests | per idle poll | idle CPU (one core) |\n' +
  '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';

export function markdown(report: ScaleReport, chartFile: string): string {
  const sizes = [...new Set(report.results.map((result) => result.items))].sort((a, b) => a - b);
  const lines = [
    BEGIN,
    '',
    `### Results (${report.mode} mode, ${report.date.toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${int(totalmem() / 2 ** 30)} GiB; ` +
      Object.entries(report.versions)
        .map(([name, version]) => `${name} ${version}`)
        .join(', ') +
      `; POLLING_INTERVAL=${report.pollingSeconds}, ${VAULTS_NOTE}.`,
    '',
  ];
  for (const size of sizes) {
    lines.push(`#### ${int(size)} items`, '', HEADER);
    for (const result of report.results.filter((candidate) => candidate.items === size)) {
      lines.push(`| ${row(result)} |`);
    }
    lines.push('');
  }
  lines.push(`![sync time and peak RSS against N](${chartFile})`, '');
  const profiled = report.results.filter((result) => result.profile.length > 0);
  for (const result of profiled) {
    lines.push(
      `${result.operator}, ${int(result.items)} items, \`--cpu-prof\` over the whole run:`,
      '',
      '```',
      ...result.profile,
      '```',
      '',
    );
  }
  lines.push(END);
  return lines.join('\n');
}

const VAULTS_NOTE = 'items spread over 10 vaults of connect-local, two fields each';

/** Two series against N: sync time (last item → last Secret, left axis) and peak RSS (right). */
export function chart(results: readonly ScaleResult[]): string {
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
    set: readonly ScaleResult[],
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
    legend: [`${name}: sync s (solid), peak RSS MB (dashed)`],
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
 * markers are missing) and writes the chart next to it.
 */
export async function writeReport(
  report: ScaleReport,
  docsFile: string,
  chartPath: string,
): Promise<void> {
  await writeFile(chartPath, chart(report.results));
  const section = markdown(report, basename(chartPath));
  let text = '';
  try {
    text = await readFile(docsFile, 'utf8');
  } catch {
    text = '# Benchmarks\n';
  }
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  const next =
    begin !== -1 && end > begin
      ? `${text.slice(0, begin)}${section}${text.slice(end + END.length)}`
      : `${text.trimEnd()}\n\n## operator-scale\n\n${section}\n`;
  await writeFile(docsFile, next);
}
