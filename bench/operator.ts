// Benchmark: 1,000 OnePasswordItems over 10 vaults, all Ready within 20 s of operator start, RSS
// at most 150 MB, and one Connect request per idle poll.
import { readFileSync } from 'node:fs';
import { freePort } from '../tools/cluster/ports.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { OPERATOR_NODE_FLAGS } from '../src/cli/node-flags.ts';
import { buildDist } from './support.ts';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { ControlPlane } from '../tools/cluster/plane.ts';
import { launcher, opKube } from '../test/support/connect-local.ts';
import { createOnePasswordItem, installCrd } from '../test/support/operator.ts';
import type { Benchmark, BenchmarkResult } from './benchmark.ts';

const VAULTS = 10;
const ITEMS_PER_VAULT = 100;
const TARGET_READY_MS = 20_000;
const TARGET_RSS_MB = 150;

function memoryMb(pid: number, field: 'VmRSS' | 'RssAnon' | 'RssFile'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
}

function rssMb(pid: number): number {
  return memoryMb(pid, 'VmRSS');
}

function dataFile(): string {
  const lines = ['vaults:'];
  for (let v = 0; v < VAULTS; v += 1) {
    lines.push(`  - name: vault-${v}`, '    items:');
    for (let i = 0; i < ITEMS_PER_VAULT; i += 1) {
      lines.push(
        `      - title: item-${i}`,
        '        fields:',
        `          - { label: username, value: "user-${v}-${i}" }`,
        `          - { label: password, value: "pass-${v}-${i}", purpose: PASSWORD }`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function counter(metrics: string, pattern: RegExp): number {
  let total = 0;
  for (const match of metrics.matchAll(pattern)) total += Number(match[1]);
  return total;
}

async function run(): Promise<BenchmarkResult> {
  const plane = new ControlPlane();
  await plane.up();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(plane.kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const work = await mkdtemp(join(tmpdir(), 'op-kube-bench-operator-'));
  const namespace = `bench-${Date.now().toString(36)}`;
  const children: ReturnType<typeof spawn>[] = [];
  try {
    await writeFile(join(work, 'data.yaml'), dataFile());
    const connectPort = await freePort();
    const connect = spawn(
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
    );
    children.push(connect);
    const connectUrl = `http://127.0.0.1:${connectPort}`;
    for (let attempt = 0; ; attempt += 1) {
      if (
        await fetch(`${connectUrl}/heartbeat`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (attempt > 100) throw new Error('connect-local did not start');
      await sleep(100);
    }
    const token = opKube([
      'connect-local',
      'token',
      'create',
      'bench',
      `--state-dir=${join(work, 'state')}`,
      ...Array.from({ length: VAULTS }, (_, v) => `--vault=vault-${v},r`),
    ]).stdout.trim();

    await installCrd(plane);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const total = VAULTS * ITEMS_PER_VAULT;
    for (let start = 0; start < total; start += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, total - start) }, (_, offset) => {
          const index = start + offset;
          const v = Math.floor(index / ITEMS_PER_VAULT);
          const i = index % ITEMS_PER_VAULT;
          return createOnePasswordItem(custom, namespace, {
            metadata: { name: `item-${v}-${i}` },
            spec: { itemPath: `vaults/vault-${v}/items/item-${i}` },
          });
        }),
      );
    }

    // The operator runs as its image runs it: compiled JavaScript from dist/, with the image's Node
    // flags. (From source, type stripping alone adds about 25 MB.)
    const cli = buildDist();
    const metricsPort = await freePort();
    const started = Date.now();
    // OP_KUBE_BENCH_HEAP_DIR: take a heap snapshot of the operator at steady state, for profiling.
    const heapDir = process.env.OP_KUBE_BENCH_HEAP_DIR;
    const operator = spawn(
      process.execPath,
      [
        ...(heapDir ? ['--heapsnapshot-signal=SIGUSR2'] : []),
        // OP_KUBE_BENCH_NODE_FLAGS: extra Node flags for the operator, e.g. --cpu-prof.
        ...(process.env.OP_KUBE_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ??
          OPERATOR_NODE_FLAGS),
        cli,
        'operator',
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        '--metrics-secure=false',
        '--health-probe-bind-address=0',
        '--zap-log-level=error',
      ],
      {
        stdio: 'ignore',
        ...(heapDir ? { cwd: heapDir } : {}),
        env: {
          ...process.env,
          KUBECONFIG: plane.kubeconfigPath,
          OP_CONNECT_HOST: connectUrl,
          OP_CONNECT_TOKEN: token,
          WATCH_NAMESPACE: namespace,
          POLLING_INTERVAL: '2',
        },
      },
    );
    children.push(operator);
    let readyMs = Number.POSITIVE_INFINITY;
    let peakRss = 0;
    while (Date.now() - started < 120_000) {
      peakRss = Math.max(peakRss, rssMb(operator.pid ?? 0));
      const list = (await custom.listNamespacedCustomObject({
        group: 'onepassword.com',
        version: 'v1',
        namespace,
        plural: 'onepassworditems',
      })) as { items: { status?: { conditions?: { type: string; reason: string }[] } }[] };
      const ready = list.items.filter((item) =>
        item.status?.conditions?.some(
          (condition) => condition.type === 'Ready' && condition.reason === 'Synced',
        ),
      ).length;
      if (ready === total) {
        readyMs = Date.now() - started;
        break;
      }
      await sleep(250);
    }

    // Idle: count Connect requests over several polls once everything is in sync.
    await sleep(2500);
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const requests = /op_kube_connect_requests_total\{[^}]*\} (\d+)/g;
    const polls = /op_kube_polls_total\{result="success"\} (\d+)/g;
    // Both ends of the window right after a poll completed: each poll is scheduled when the last one
    // has settled, so a window of fixed length would cut one in half (its request counted, the poll
    // not yet).
    const afterNextPoll = async (): Promise<string> => {
      const start = counter(await (await fetch(metricsUrl)).text(), polls);
      for (;;) {
        await sleep(20);
        const text = await (await fetch(metricsUrl)).text();
        if (counter(text, polls) > start) return text;
      }
    };
    const before = await afterNextPoll();
    await sleep(7000);
    const after = await afterNextPoll();
    const gauge = (name: string): string =>
      (
        counter(
          after,
          new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)$`, 'gm'),
        ) / 1e6
      ).toFixed(0);
    const heapNote = `V8 heap ${gauge('nodejs_heap_size_used_bytes')} MB used of ${gauge('nodejs_heap_size_total_bytes')} MB, external ${gauge('nodejs_external_memory_bytes')} MB`;
    const idlePolls = counter(after, polls) - counter(before, polls);
    const idleRequests = counter(after, requests) - counter(before, requests);
    const steadyRss = rssMb(operator.pid ?? 0);
    if (heapDir) {
      operator.kill('SIGUSR2');
      await sleep(15_000);
    }
    peakRss = Math.max(peakRss, steadyRss);
    const perPoll = idlePolls > 0 ? idleRequests / idlePolls : Number.NaN;
    const passed = readyMs <= TARGET_READY_MS && peakRss <= TARGET_RSS_MB && perPoll === 1;
    return {
      metrics: {
        items: String(total),
        'all Ready s': Number.isFinite(readyMs) ? (readyMs / 1000).toFixed(1) : 'timeout',
        'peak RSS MB': peakRss.toFixed(0),
        'steady RSS MB': steadyRss.toFixed(0),
        'requests/idle poll': Number.isNaN(perPoll) ? 'n/a' : perPoll.toFixed(2),
      },
      passed,
      verdict:
        `all ${total} Ready in ${(readyMs / 1000).toFixed(1)} s (target ${TARGET_READY_MS / 1000} s), ` +
        `peak RSS ${peakRss.toFixed(0)} MB (target ${TARGET_RSS_MB} MB), ${idleRequests} requests over ${idlePolls} idle polls (target 1 each)`,
      notes: [
        `${VAULTS} vaults × ${ITEMS_PER_VAULT} items in connect-local; ${total} OnePasswordItems created before the operator starts`,
        'the clock starts when the operator process is spawned and stops when every item reports Ready=Synced',
        heapNote,
        `steady RSS: ${memoryMb(operator.pid ?? 0, 'RssAnon').toFixed(0)} MB anonymous, ${memoryMb(operator.pid ?? 0, 'RssFile').toFixed(0)} MB file-backed`,
        `operator: node ${(process.env.OP_KUBE_BENCH_NODE_FLAGS ?? OPERATOR_NODE_FLAGS.join(' ')) || '(no flags)'} dist/cli.js operator`,
        `machine: ${cpus().length} cores, node ${process.version}`,
      ],
    };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

export const operatorThousandItems: Benchmark = {
  name: 'operator-1000-items',
  description:
    '1,000 OnePasswordItems over 10 vaults: time to all Ready, RSS, Connect requests per idle poll',
  run,
};
