// `npm run reliability`: runs `npm test` with the fault tests recording what they measure, then writes
// docs/reliability.md from that run — fault, expected, observed, detection and recovery times.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { repoRoot } from '../cluster/paths.ts';
import { KUBERNETES_VERSION } from '../cluster/versions.ts';
import { renderReliability, type RecordedRow } from './render.ts';

const dir = await mkdtemp(join(tmpdir(), 'op-kube-reliability-'));
const out = join(dir, 'rows.jsonl');
let summary = '';
const exitCode = await new Promise<number>((resolve, reject) => {
  const child = spawn(process.execPath, [join(repoRoot, 'tools/test/run.ts')], {
    cwd: repoRoot,
    env: { ...process.env, OP_KUBE_RELIABILITY_OUT: out },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    const line = /^summary: .*$/m.exec(chunk.toString('utf8'));
    if (line) summary = line[0];
  });
  child.on('error', reject);
  child.on('exit', (code) => resolve(code ?? 1));
});

const text = await readFile(out, 'utf8').catch(() => '');
const rows = text
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line) as RecordedRow);
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot })
  .toString()
  .trim();
const markdown = renderReliability(rows, {
  date: new Date().toISOString().slice(0, 10),
  commit,
  machine: `${cpus().length} cores, Node ${process.version}, Kubernetes ${KUBERNETES_VERSION}`,
  summary: summary || `the test run exited with ${exitCode}`,
});
// Formatted as `npm run lint` expects, so a refreshed file can be committed as it is.
const target = join(repoRoot, 'docs/reliability.md');
const options = (await resolveConfig(target)) ?? {};
await writeFile(target, await format(markdown, { ...options, filepath: target }));
await rm(dir, { recursive: true, force: true });
console.log(`\ndocs/reliability.md: ${rows.length} rows from this run (${summary})`);
process.exitCode = exitCode;
