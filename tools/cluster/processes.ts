// Detached child processes that outlive the command which started them, found and stopped by pid.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isZombie(pid: number): boolean {
  try {
    // Field 3 of /proc/<pid>/stat is the state; the command name before it may contain spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
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
  /** Resolves with the exit code if the process ends while this command still watches it. */
  readonly exited: Promise<number | null>;
  /** Stop watching, so this command can exit while the process runs on. */
  release(): void;
}

/** Starts `binary` in its own process group with stdout and stderr appended to `logFile`. */
export function spawnDetached(
  binary: string,
  args: readonly string[],
  logFile: string,
  cwd: string,
): DetachedProcess {
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(binary, args, { cwd, detached: true, stdio: ['ignore', log, log] });
    if (child.pid === undefined) throw new Error(`could not start ${binary}`);
    const exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
      child.on('error', () => resolve(null));
    });
    return { pid: child.pid, exited, release: () => child.unref() };
  } finally {
    closeSync(log);
  }
}

/**
 * Sends SIGTERM, waits up to `graceMs`, then SIGKILL. `belongs` guards against a recycled pid:
 * a process that no longer looks like ours is left alone.
 */
export async function stopProcess(
  pid: number,
  belongs: (argv: readonly string[]) => boolean,
  graceMs = 10_000,
): Promise<void> {
  const argv = commandLineOf(pid);
  if (!argv || !belongs(argv) || !isAlive(pid)) return;
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
    while (isAlive(pid)) await sleep(50);
  }
  // A detached process is reaped by init, not by us; wait briefly so that, once this returns, the
  // process table no longer lists it (as a zombie) for tools like pgrep.
  const reapDeadline = Date.now() + 5000;
  while (existsSync(`/proc/${pid}`) && Date.now() < reapDeadline) await sleep(50);
}
