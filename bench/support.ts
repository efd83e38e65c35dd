// Helpers the benchmarks share: number formatting, taskset pinning, a process's CPU time, and the
// summary of a V8 CPU profile.
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../tools/cluster/paths.ts';

/** The server under test runs on this core, the load generator on the other. */
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

export function format(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

export interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: CallFrame }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** A part of the profiled process's life, in ms since the profile began. */
export interface ProfileWindow {
  readonly fromMs: number;
  readonly toMs: number;
  /** Names the window in the header, e.g. `the idle window`. */
  readonly label: string;
}

function describeFrame(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  const where = frame.url.startsWith('file:')
    ? relative(repoRoot, fileURLToPath(frame.url))
    : frame.url;
  return `${name}  ${where}:${frame.lineNumber + 1}`;
}

/**
 * The functions with the most self time, as "share  ms  function  file:line" lines under a header;
 * shares are of busy time, since idle time (startup, pauses between runs) says nothing about cost.
 */
export function topSelfTime(profile: CpuProfile, count: number, window?: ProfileWindow): string[] {
  const frames = new Map(profile.nodes.map((node) => [node.id, describeFrame(node.callFrame)]));
  const selfMicros = new Map<string, number>();
  let at = 0;
  profile.samples.forEach((nodeId, index) => {
    at += profile.timeDeltas[index] ?? 0;
    if (window && (at < window.fromMs * 1000 || at >= window.toMs * 1000)) return;
    // A sample lasts until the next one (DevTools' convention); the last one is dropped.
    const micros = profile.timeDeltas[index + 1] ?? 0;
    const frame = frames.get(nodeId) ?? '(unknown)';
    selfMicros.set(frame, (selfMicros.get(frame) ?? 0) + micros);
  });
  const idle = selfMicros.get('(idle)') ?? 0;
  selfMicros.delete('(idle)');
  const busy = [...selfMicros.values()].reduce((sum, micros) => sum + micros, 0);
  const ms = (micros: number): string => `${Math.round(micros / 1000)} ms`;
  return [
    `top ${count} functions by self time, of ${ms(busy)} busy (${ms(idle)} idle) in ${window?.label ?? "the server's whole run"}:`,
    ...[...selfMicros]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([frame, micros]) => {
        const share = `${((100 * micros) / busy).toFixed(1)}%`.padStart(6);
        return `  ${share} ${ms(micros).padStart(8)}  ${frame}`;
      }),
  ];
}

/**
 * CPU seconds a process has used (user + system), from /proc; undefined off Linux. Its clock ticks
 * are USER_HZ, which the kernel fixes at 100 for user space.
 */
export async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name start at field 3 (state); utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

export function taskset(args: readonly string[]): boolean {
  return spawnSync('taskset', args, { stdio: 'ignore' }).status === 0;
}

/**
 * CPU seconds all cores together have been busy since boot (everything but idle and iowait), from
 * /proc/stat; undefined off Linux. Less a benchmark's own processes, it tells how much else ran.
 */
export async function machineBusySeconds(): Promise<number | undefined> {
  try {
    const stat = await readFile('/proc/stat', 'utf8');
    const [, ...ticks] = (stat.split('\n', 1)[0] ?? '').trim().split(/\s+/);
    // user nice system idle iowait irq softirq (then steal, guest: not this machine's own work).
    const [user, nice, system, idle, iowait, irq, softirq] = ticks.map(Number);
    const busy = [user, nice, system, irq, softirq].reduce<number>(
      (sum, value) => sum + (value ?? 0),
      0,
    );
    return idle === undefined || iowait === undefined ? undefined : busy / 100;
  } catch {
    return undefined;
  }
}

/**
 * Time a process's main thread (or, with `allThreads`, all its threads together) has spent
 * running and runnable-but-waiting for a CPU, in seconds, from /proc/<pid>/schedstat (needs
 * schedstats in the kernel); undefined where unavailable. The waiting time is what other work on
 * its core cost it.
 */
export async function schedulerSeconds(
  pid: number | 'self' | undefined,
  { allThreads = false }: { readonly allThreads?: boolean } = {},
): Promise<{ running: number; waiting: number } | undefined> {
  const read = async (path: string): Promise<[number, number]> => {
    const [running = Number.NaN, waiting = Number.NaN] = (await readFile(path, 'utf8'))
      .trim()
      .split(' ')
      .map(Number);
    return [running, waiting];
  };
  try {
    const tasks = allThreads ? await readdir(`/proc/${pid}/task`) : undefined;
    const readings = tasks
      ? // A thread may end between the listing and the read.
        await Promise.all(
          tasks.map((task) =>
            read(`/proc/${pid}/task/${task}/schedstat`).catch((): [number, number] => [0, 0]),
          ),
        )
      : [await read(`/proc/${pid}/schedstat`)];
    const running = readings.reduce((sum, [value]) => sum + value, 0);
    const waiting = readings.reduce((sum, [, value]) => sum + value, 0);
    if (Number.isNaN(running) || Number.isNaN(waiting)) return undefined;
    return { running: running / 1e9, waiting: waiting / 1e9 };
  } catch {
    return undefined;
  }
}

/**
 * Compiles src/ to dist/ (what the image runs) and returns the CLI's path there. Benchmarks measure
 * compiled JavaScript: type stripping alone adds about 25 MB and start-up time to a process.
 */
export function buildDist(): string {
  const build = spawnSync(
    process.execPath,
    [
      join(repoRoot, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(repoRoot, 'tsconfig.build.json'),
    ],
    { encoding: 'utf8' },
  );
  if (build.status !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`);
  return join(repoRoot, 'dist', 'cli.js');
}

/**
 * Pins this process (the load generator, all its threads) to LOAD_CORE so it cannot take the
 * server's core; returns notes saying what was pinned. The server is started with
 * `taskset -c SERVER_CORE` by the caller.
 */
export function pinLoadGenerator(server: string, load: string): string[] {
  const notes = [
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}`,
  ];
  if (!taskset(['-V'])) {
    notes.push('taskset not found: neither process is pinned, so this is not a one-core figure');
  } else if (cpus().length < 2) {
    notes.push(`${server} on core ${SERVER_CORE}; only one core, so the load generator shares it`);
  } else {
    const loadPinned = taskset(['-a', '-p', '-c', String(LOAD_CORE), String(process.pid)]);
    notes.push(
      `${server} pinned to core ${SERVER_CORE} (taskset -c ${SERVER_CORE}); ${load} ` +
        (loadPinned ? `pinned to core ${LOAD_CORE}` : 'NOT pinned (taskset -p failed)'),
    );
  }
  return notes;
}

/**
 * connect-local's data file for a benchmark: `vaults` vaults `vault-<v>` of up to `perVault` login
 * items `item-<i>` (username `user-<v>-<i>`, password `pass-<v>-<i>`), `items` in all (vault by vault).
 */
export function benchDataFile(vaults: number, perVault: number, items = vaults * perVault): string {
  const lines = ['vaults:'];
  for (let v = 0; v < vaults; v += 1) {
    lines.push(`  - name: vault-${v}`, '    items:');
    for (let i = 0; i < perVault && v * perVault + i < items; i += 1) {
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
