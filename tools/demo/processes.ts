// The demo's child processes: programs run to completion, and the op-kube services it supervises
// (connect-local, the operator, the webhook), each in its own process group with a log file.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../cluster/paths.ts';
import { out, StepFailure } from './output.ts';

export const LAUNCHER = join(repoRoot, 'bin', 'op-kube.js');

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion; stdin from `input`. Output is returned, never echoed. */
export function run(
  file: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    const stdout: string[] = [];
    const stderr: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: stdout.join(''), stderr: stderr.join('') }),
    );
    child.stdin.end(options.input ?? '');
  });
}

/** A child process of the demo, with its output in a log file. */
export interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<void>;
}

function hasExited(service: Service): boolean {
  return service.child.exitCode !== null || service.child.signalCode !== null;
}

async function tail(file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The services the demo started, in order. */
export class Supervisor {
  readonly list: Service[] = [];
  /** Set by Ctrl-C: nothing new starts, and the step that was running is not reported as failed. */
  interrupted = false;
  readonly #logDir: string;

  constructor(logDir: string) {
    this.#logDir = logDir;
  }

  /** Starts `op-kube <args>` in its own process group, output to `<name>.log` in the work dir. */
  start(name: string, args: readonly string[], env: NodeJS.ProcessEnv): Service {
    if (this.interrupted) throw new StepFailure('interrupted');
    const logFile = join(this.#logDir, `${name}.log`);
    const fd = openSync(logFile, 'a', 0o600);
    const child = spawn(process.execPath, [LAUNCHER, ...args], {
      // Detached: Ctrl-C reaches only the demo, which then stops the services in order.
      detached: true,
      stdio: ['ignore', fd, fd],
      env,
    });
    closeSync(fd);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const service = { name, child, logFile, exited };
    this.list.push(service);
    out(`    ${name}: pid ${child.pid ?? '?'}, log ${logFile}`);
    return service;
  }

  /** SIGTERM, then SIGKILL after 20 s; the webhook removes its own configuration on SIGTERM. */
  static async stop(service: Service): Promise<void> {
    const { child } = service;
    if (!hasExited(service)) {
      child.kill('SIGTERM');
      await Promise.race([service.exited, sleep(20_000)]);
      if (!hasExited(service)) child.kill('SIGKILL');
      await service.exited;
    }
    out(`    stopped ${service.name}`);
  }

  /** --keep: the demo exits and leaves its services running. */
  release(): void {
    for (const service of this.list) service.child.unref();
  }

  async printLogTails(): Promise<void> {
    for (const service of this.list) {
      process.stderr.write(
        `--- last lines of ${service.name}'s log:\n${await tail(service.logFile)}\n`,
      );
    }
  }
}

/**
 * Polls `probe` every 200 ms until it returns a value; fails after the timeout (60 s by default),
 * at once when `service` exits, and on the first StepFailure the probe throws.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs?: number; service?: Service } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: unknown;
  for (;;) {
    const { service } = options;
    if (service && hasExited(service)) {
      throw new StepFailure(
        `${service.name} exited (${service.child.exitCode ?? service.child.signalCode}) while waiting for ${description}`,
      );
    }
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof StepFailure) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new StepFailure(`timed out waiting for ${description}${why}`);
    }
    await sleep(200);
  }
}
