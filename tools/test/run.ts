// `npm test`: brings the control plane (and, for the node suite, its worker node and the images built
// here) up before any test runs, runs unit, e2e and node tests, and prints one summary line. A plane
// it started is stopped afterwards; one that was already running is kept.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { glob } from 'node:fs/promises';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { finished } from 'node:stream/promises';
import { COMPONENTS, ControlPlane } from '../cluster/plane.ts';
import { repoRoot } from '../cluster/paths.ts';
import { testNode } from '../../test/support/node.ts';
import { NODE_NAME } from '../cluster/node/layout.ts';
import { LocalNode } from '../cluster/node/node.ts';

type Mode = 'all' | 'unit' | 'e2e' | 'node';

const mode = (process.argv[2] ?? 'all') as Mode;
if (!['all', 'unit', 'e2e', 'node'].includes(mode)) {
  console.error('usage: npm test | npm run test:unit | npm run test:e2e | npm run test:node');
  process.exit(2);
}

async function testFiles(pattern: string): Promise<string[]> {
  const files: string[] = [];
  for await (const file of glob(pattern, { cwd: repoRoot })) files.push(file);
  return files.sort();
}

const log = (line: string): void => {
  process.stderr.write(`[cluster] ${line}\n`);
};

const unitFiles =
  mode === 'all' || mode === 'unit' ? await testFiles('test/unit/**/*.test.ts') : [];
const e2eFiles = mode === 'all' || mode === 'e2e' ? await testFiles('test/e2e/**/*.test.ts') : [];
const nodeFiles =
  mode === 'all' || mode === 'node' ? await testFiles('test/node/**/*.test.ts') : [];

const plane = new ControlPlane(process.env.OP_KUBE_CLUSTER_DIR, log);
let planeFailure: string | undefined;
let nodeFailure: string | undefined;
let stopPlaneAfter = false;
const counts = { passed: 0, failed: 0, skipped: 0, todo: 0 };

async function stopOwnPlane(): Promise<void> {
  if (!stopPlaneAfter) return;
  stopPlaneAfter = false;
  await plane.down();
  log('stopped the control plane this run started (set OP_KUBE_KEEP_CLUSTER=1 to keep it)');
}

// An interrupted run must not leave a plane it started behind (its processes are detached).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stopOwnPlane().finally(() => process.exit(130));
  });
}

const message = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

try {
  if (e2eFiles.length + nodeFiles.length > 0) {
    const before = await plane.status();
    stopPlaneAfter =
      !COMPONENTS.every((component) => before[component].running) &&
      !process.env.OP_KUBE_KEEP_CLUSTER;
    try {
      // A plane started for the node suite is in node mode from the start, so e2e files share it.
      await plane.up({ node: nodeFiles.length > 0 });
      process.env.OP_KUBE_CLUSTER_DIR = plane.dir;
    } catch (error) {
      planeFailure = message(error);
    }
  }
  const files = planeFailure ? unitFiles : [...unitFiles, ...e2eFiles];
  // A node already up (cluster:up -- --node) is cordoned meanwhile, for the same reason as below.
  const cordoned = !planeFailure && e2eFiles.length > 0 && (await cordonRunningNode(true));
  try {
    await runFiles(files, 4, 300_000);
  } finally {
    if (cordoned) await cordonRunningNode(false);
  }
  // The node joins after the e2e files: they expect a plane where pods are stored, never run (a
  // chart they install would otherwise start its operator, take its Lease and fill its Secrets).
  if (nodeFiles.length > 0 && !planeFailure) {
    const started = Date.now();
    try {
      await testNode(log);
      log(`node and images ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    } catch (error) {
      nodeFailure = message(error);
    }
  }
  // The node suite installs cluster-wide objects (webhook configurations, CRDs): one file at a time.
  if (!planeFailure && !nodeFailure && nodeFiles.length > 0) await runFiles(nodeFiles, 1, 900_000);
} finally {
  await stopOwnPlane();
}

/** Cordons (or uncordons) the worker node if its kubelet runs; says whether it did. */
async function cordonRunningNode(cordon: boolean): Promise<boolean> {
  const node = new LocalNode(plane.dir);
  if (!existsSync(node.dir) || !(await node.status()).kubelet.running) return false;
  const result = spawnSync(
    `${plane.binDir}/kubectl`,
    ['--kubeconfig', plane.kubeconfigPath, cordon ? 'cordon' : 'uncordon', NODE_NAME],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (result.status !== 0)
    throw new Error(`kubectl ${cordon ? 'cordon' : 'uncordon'}: ${result.stderr}`);
  log(
    `${cordon ? 'cordoned' : 'uncordoned'} ${NODE_NAME} ${cordon ? 'for' : 'after'} the e2e files`,
  );
  return true;
}

async function runFiles(
  files: readonly string[],
  concurrency: number,
  timeout: number,
): Promise<void> {
  if (files.length === 0) return;
  const stream = run({
    files: files.map((file) => `${repoRoot}/${file}`),
    cwd: repoRoot,
    // Files run in their own processes; e2e files mostly wait on the apiserver, so overlap them.
    concurrency,
    timeout,
  });
  // Suites count only where they say something their tests cannot: a skipped suite never runs its
  // tests, and a suite that fails in its body or hooks may have no failing test to show for it.
  stream.on('test:pass', (event) => {
    const skipped = event.skip !== undefined && event.skip !== false;
    const todo = event.todo !== undefined && event.todo !== false;
    if (skipped) counts.skipped += 1;
    else if (todo) counts.todo += 1;
    else if (event.details.type !== 'suite') counts.passed += 1;
  });
  stream.on('test:fail', (event) => {
    const cause = (event.details.error as { failureType?: string } | undefined)?.failureType;
    if (event.details.type !== 'suite' || cause !== 'subtestsFailed') counts.failed += 1;
  });
  const output = stream.compose(spec);
  output.pipe(process.stdout);
  await finished(output);
}

const problems: string[] = [];
if (planeFailure) {
  counts.failed += 1;
  problems.push(
    `e2e: FAILED before any e2e test ran: the local control plane did not start.\n${planeFailure}\n` +
      `(${e2eFiles.length + nodeFiles.length} e2e and node file(s) not run: ${[...e2eFiles, ...nodeFiles].join(', ')})`,
  );
}
if (nodeFailure) {
  counts.failed += 1;
  problems.push(
    `node: FAILED before any node test ran: the worker node or its images could not be made ready.\n` +
      `${nodeFailure}\n(${nodeFiles.length} node file(s) not run: ${nodeFiles.join(', ')})`,
  );
}
if (counts.skipped + counts.todo > 0) {
  problems.push('skipped or todo tests are not allowed: a test that does not run proves nothing');
}
for (const problem of problems) console.error(`\n${problem}`);
console.log(
  `\nsummary: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped + counts.todo} skipped`,
);
process.exitCode = counts.failed > 0 || problems.length > 0 || counts.passed === 0 ? 1 : 0;
