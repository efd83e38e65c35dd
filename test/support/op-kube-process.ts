// An `op-kube` subcommand run as a child process for a test: output captured, stopped with SIGTERM (SIGKILL after 20 s) when the test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { launcher } from './connect-local.ts';

export interface OpKubeProcess {
  readonly child: ChildProcess;
  /** Everything it printed so far (JSON log lines). */
  readonly output: () => string;
  readonly stop: () => Promise<void>;
}

export function spawnOpKube(
  registrar: { after(fn: () => Promise<void>): void },
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): OpKubeProcess {
  const child = spawn(process.execPath, [launcher, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    // Unref'd: a pending 20 s timer would otherwise hold the test process open after it exited.
    await Promise.race([exited, sleep(20_000, undefined, { ref: false })]);
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  };
  registrar.after(stop);
  return { child, output: () => output.join(''), stop };
}
