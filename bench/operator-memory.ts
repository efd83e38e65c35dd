// `node bench/operator-memory.ts [--items=N] [--restart] [--probe]`: where the operator's memory
// goes and how long it takes to start, at N OnePasswordItems (0, 1,000, 10,000...). A separate
// script from bench/operator.ts (the timed benchmark), for issue #15's memory work:
//
// - the operator runs as its image runs it (dist/, OPERATOR_NODE_FLAGS, or OP_KUBE_BENCH_NODE_FLAGS);
// - with --probe, a preload (bench/memory-probe.js) writes process.memoryUsage(), V8's heap
//   spaces and code statistics and the modules loaded to a file twice a second;
// - RSS is sampled from /proc every 100 ms: peak while syncing, steady after;
// - startup: spawn → /readyz 200, spawn → every item Ready=Synced; with --restart the operator is
//   stopped and started again over the existing Secrets, and the Secrets' resourceVersions are
//   compared (a restart must not rewrite any).
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { OPERATOR_NODE_FLAGS } from '../src/cli/node-flags.ts';
import { freePort } from '../tools/cluster/ports.ts';
import { repoRoot } from '../tools/cluster/paths.ts';
import { ControlPlane } from '../tools/cluster/plane.ts';
import { launcher, opKube } from '../test/support/connect-local.ts';
import { createOnePasswordItem, installCrd } from '../test/support/operator.ts';
import { benchDataFile, buildDist } from './support.ts';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '1000' },
    vaults: { type: 'string', default: '10' },
    restart: { type: 'boolean', default: false },
    probe: { type: 'boolean', default: false },
    'idle-s': { type: 'string', default: '10' },
    /** A built CLI to run instead of building this checkout's dist/ (e.g. a worktree at a base commit). */
    cli: { type: 'string' },
  },
});
const total = Number(values.items);
const vaults = Number(values.vaults);
const perVault = Math.ceil(total / vaults);

function status(pid: number, field: string): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

const plane = new ControlPlane();
await plane.up();
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(plane.kubeconfigPath);
const core = kubeConfig.makeApiClient(CoreV1Api);
const custom = kubeConfig.makeApiClient(CustomObjectsApi);
const work = await mkdtemp(join(tmpdir(), 'op-kube-bench-memory-'));
const namespace = `benchmem-${Date.now().toString(36)}`;
const children: ChildProcess[] = [];

async function readyItems(): Promise<number> {
  const list = (await custom.listNamespacedCustomObject({
    group: 'onepassword.com',
    version: 'v1',
    namespace,
    plural: 'onepassworditems',
  })) as { items: { status?: { conditions?: { type: string; reason: string }[] } }[] };
  return list.items.filter((item) =>
    item.status?.conditions?.some((c) => c.type === 'Ready' && c.reason === 'Synced'),
  ).length;
}

async function secretVersions(): Promise<Map<string, string>> {
  const list = await core.listNamespacedSecret({ namespace });
  return new Map(
    list.items.map((s) => [s.metadata?.name ?? '', s.metadata?.resourceVersion ?? '']),
  );
}

/** The process's CPU time (user + system) in seconds, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

interface Run {
  readyzMs: number;
  allReadyMs: number;
  /** CPU seconds from spawn to all Ready (less noisy than allReadyMs on a shared machine). */
  syncCpuS: number;
  peakRss: number;
  steadyRss: number;
  anon: number;
  file: number;
  probe?: unknown;
}

async function runOperator(connectUrl: string, token: string, label: string): Promise<Run> {
  const cli = values.cli ?? buildDist();
  const probePort = await freePort();
  const metricsPort = await freePort();
  const probeOut = join(work, `probe-${label}.json`);
  const flags =
    process.env.OP_KUBE_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? OPERATOR_NODE_FLAGS;
  const started = Date.now();
  const operator = spawn(
    process.execPath,
    [
      ...(values.probe ? ['--import', join(repoRoot, 'bench', 'memory-probe.js')] : []),
      ...flags,
      cli,
      'operator',
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      '--metrics-secure=false',
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      '--zap-log-level=error',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        // As in the image: no SSL_CERT_FILE or NODE_EXTRA_CA_CERTS (a CA bundle read and parsed
        // at start) unless this machine's environment says otherwise on purpose.
        ...Object.fromEntries(
          Object.entries(process.env).filter(
            ([name]) =>
              process.env.OP_KUBE_BENCH_KEEP_CA === '1' ||
              (name !== 'SSL_CERT_FILE' && name !== 'NODE_EXTRA_CA_CERTS'),
          ),
        ),
        KUBECONFIG: plane.kubeconfigPath,
        OP_CONNECT_HOST: connectUrl,
        OP_CONNECT_TOKEN: token,
        WATCH_NAMESPACE: namespace,
        POLLING_INTERVAL: '10',
        OP_KUBE_PROBE_OUT: probeOut,
      },
    },
  );
  children.push(operator);
  let stopping = false;
  let stderr = '';
  operator.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  operator.once('exit', (code, signal) => {
    if (!stopping) console.error(`operator (${label}) exited: ${code ?? signal}\n${stderr}`);
  });
  const pid = operator.pid ?? 0;
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, status(pid, 'VmRSS'));
  }, 100);
  let readyzMs = Number.NaN;
  while (Date.now() - started < 60_000) {
    const ok = await fetch(`http://127.0.0.1:${probePort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) {
      readyzMs = Date.now() - started;
      break;
    }
    await sleep(20);
  }
  // Every item reconciled by this process (on a restart the items are Ready from before) and Ready.
  const reconciled = async (): Promise<number> => {
    const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
      (r) => r.text(),
      () => '',
    );
    let sum = 0;
    for (const match of text.matchAll(/^op_kube_reconciles_total\{[^}]*\} (\d+)$/gm))
      sum += Number(match[1]);
    return sum;
  };
  let allReadyMs = Number.NaN;
  let syncCpuS = Number.NaN;
  while (Date.now() - started < 900_000) {
    if ((await reconciled()) >= total && (await readyItems()) === total) {
      allReadyMs = Date.now() - started;
      syncCpuS = cpuSeconds(pid);
      break;
    }
    await sleep(total > 2000 ? 1000 : 250);
  }
  await sleep(Number(values['idle-s']) * 1000);
  clearInterval(sampler);
  const steadyRss = status(pid, 'VmRSS');
  const run: Run = {
    readyzMs,
    allReadyMs,
    syncCpuS,
    peakRss: Math.max(peakRss, steadyRss),
    steadyRss,
    anon: status(pid, 'RssAnon'),
    file: status(pid, 'RssFile'),
  };
  if (values.probe) run.probe = JSON.parse(await readFile(probeOut, 'utf8').catch(() => 'null'));
  stopping = true;
  operator.kill('SIGTERM');
  await new Promise((resolve) => operator.once('exit', resolve));
  return run;
}

function summary(label: string, run: Run): void {
  const mb = (bytes: number): string => (bytes / 1048576).toFixed(1);
  console.log(
    `${label}: readyz ${run.readyzMs} ms, all ${total} Ready ${(run.allReadyMs / 1000).toFixed(1)} s ` +
      `(CPU ${run.syncCpuS.toFixed(2)} s), ` +
      `peak RSS ${run.peakRss.toFixed(1)} MB, steady ${run.steadyRss.toFixed(1)} MB ` +
      `(anon ${run.anon.toFixed(1)}, file ${run.file.toFixed(1)})`,
  );
  const probe = run.probe as {
    mem: NodeJS.MemoryUsage;
    peak: number;
    spaces: { n: string; used: number; size: number; phys: number }[];
    code: Record<string, number>;
    modules: string[];
  } | null;
  if (!probe) return;
  console.log(
    `  memoryUsage: rss ${mb(probe.mem.rss)} heapTotal ${mb(probe.mem.heapTotal)} heapUsed ${mb(probe.mem.heapUsed)} external ${mb(probe.mem.external)} arrayBuffers ${mb(probe.mem.arrayBuffers)}`,
  );
  console.log(
    `  spaces (used/physical MB): ${probe.spaces.map((s) => `${s.n} ${mb(s.used)}/${mb(s.phys)}`).join(', ')}`,
  );
  console.log(
    `  code: ${Object.entries(probe.code)
      .map(([k, v]) => `${k} ${mb(v)}`)
      .join(', ')}`,
  );
  const packages = new Map<string, number>();
  for (const url of probe.modules) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    const key = m
      ? m[1]
      : url.startsWith('node:')
        ? 'node:'
        : url.includes('/dist/')
          ? 'dist'
          : url;
    packages.set(key ?? url, (packages.get(key ?? url) ?? 0) + 1);
  }
  console.log(
    `  modules ${probe.modules.length}: ${[...packages].map(([k, v]) => `${k} ${v}`).join(', ')}`,
  );
}

try {
  await writeFile(join(work, 'data.yaml'), benchDataFile(vaults, perVault));
  const connectPort = await freePort();
  children.push(
    spawn(
      process.execPath,
      [
        launcher,
        'connect-local',
        `--data=${join(work, 'data.yaml')}`,
        `--state-dir=${join(work, 'state')}`,
        `--port=${connectPort}`,
        '--log-level=warn',
      ],
      { stdio: 'ignore' },
    ),
  );
  const connectUrl = `http://127.0.0.1:${connectPort}`;
  for (let attempt = 0; ; attempt += 1) {
    if (
      await fetch(`${connectUrl}/heartbeat`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (attempt > 300) throw new Error('connect-local did not start');
    await sleep(100);
  }
  const token = opKube([
    'connect-local',
    'token',
    'create',
    'bench',
    `--state-dir=${join(work, 'state')}`,
    ...Array.from({ length: vaults }, (_, v) => `--vault=vault-${v},r`),
  ]).stdout.trim();
  await installCrd(plane);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const createStart = Date.now();
  for (let start = 0; start < total; start += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, total - start) }, (_, offset) => {
        const index = start + offset;
        const v = index % vaults;
        const i = Math.floor(index / vaults);
        return createOnePasswordItem(custom, namespace, {
          metadata: { name: `item-${v}-${i}` },
          spec: { itemPath: `vaults/vault-${v}/items/item-${i}` },
        });
      }),
    );
  }
  console.log(`${total} items created in ${((Date.now() - createStart) / 1000).toFixed(1)} s`);
  const first = await runOperator(connectUrl, token, 'first');
  summary('first start', first);
  if (values.restart) {
    const before = await secretVersions();
    const second = await runOperator(connectUrl, token, 'restart');
    const after = await secretVersions();
    const rewritten = [...after].filter(([name, rv]) => before.get(name) !== rv).length;
    summary(`restart over ${before.size} Secrets`, second);
    console.log(`  Secrets rewritten by the restart: ${rewritten}`);
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
