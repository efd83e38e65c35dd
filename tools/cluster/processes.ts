// Detached child processes that outlive the command which started them, found and stopped by pid.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** State and parent pid from /proc/<pid>/stat (fields 3 and 4, after a name that may hold spaces). */
function statOf(pid: number): { state: string; parent: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state = '', parent = '0'] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state, parent: Number(parent) };
  } catch {
    return undefined;
  }
}

/**
 * Exited, not yet reaped. A multi-threaded (Go) process's leader shows `Z` while its other threads
 * are still exiting, and they hold its files, listening sockets included, until the last one is
 * gone: only then is it really over.
 */
function isZombie(pid: number): boolean {
  if (statOf(pid)?.state !== 'Z') return false;
  try {
    return readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true;
  }
}

/** The argv of a running process, or undefined once it is gone. */
export function commandLineOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** Every live process whose argv contains `marker`, such as a cluster directory's absolute path. */
export function processesMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const argv = commandLineOf(pid);
    if (argv?.some((arg) => arg.includes(marker)) && isAlive(pid)) pids.push(pid);
  }
  return pids;
}

export interface DetachedProcess {
  readonly pid: number;
  /** Resolves with how the process ended, if it ends while this command still watches it. */
  readonly exited: Promise<string>;
  /** Stop watching, so this command can exit while the process runs on. */
  release(): void;
}

/** Starts `binary` in its own process group with stdout and stderr appended to `logFile`. */
export async function spawnDetached(
  binary: string,
  args: readonly string[],
  logFile: string,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DetachedProcess> {
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(binary, args, { cwd, env, detached: true, stdio: ['ignore', log, log] });
    // Listen before looking at the pid: a binary that cannot run reports through 'error'.
    const exited = new Promise<string>((resolve) => {
      child.on('exit', (code, signal) =>
        resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`),
      );
      child.on('error', (error) => resolve(`could not be started: ${error.message}`));
    });
    if (child.pid === undefined) throw new Error(`${binary} ${await exited}`);
    return { pid: child.pid, exited, release: () => child.unref() };
  } finally {
    closeSync(log);
  }
}

/**
 * Sends SIGTERM, waits up to `graceMs`, then SIGKILL. `belongs` guards against a recycled pid:
 * a process that no longer looks like ours is left alone. Resolves to whether it was signalled.
 */
export async function stopProcess(
  pid: number,
  belongs: (argv: readonly string[]) => boolean,
  graceMs = 10_000,
): Promise<boolean> {
  const argv = commandLineOf(pid);
  if (!argv || !belongs(argv) || !isAlive(pid)) return false;
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    signal('SIGKILL');
    const killDeadline = Date.now() + 10_000;
    while (isAlive(pid) && Date.now() < killDeadline) await sleep(50);
    if (isAlive(pid)) throw new Error(`process ${pid} survived SIGKILL for 10 s`);
  }
  // Once its starter has exited, init reaps the process, sometimes after a moment; wait briefly so
  // that, once this returns, the process table no longer lists it (as a zombie) for pgrep. A process
  // whose starter still runs is that starter's to reap.
  const reapDeadline = Date.now() + 5000;
  while (statOf(pid)?.parent === 1 && Date.now() < reapDeadline) await sleep(50);
  return true;
}

/** A process is a component's if its name matches and its argv points into the component's folder. */
export function belongsTo(name: string, dir: string): (argv: readonly string[]) => boolean {
  return (argv) => basename(argv[0] ?? '') === name && argv.some((arg) => arg.includes(`${dir}/`));
}

/** A recorded pid that is alive and still one of ours (a recycled pid is someone else's). */
export function componentStatus(
  pid: number | undefined,
  name: string,
  dir: string,
): { running: boolean; pid?: number } {
  const ours = pid !== undefined && isAlive(pid) && belongsTo(name, dir)(commandLineOf(pid) ?? []);
  return ours ? { running: true, pid } : { running: false };
}
