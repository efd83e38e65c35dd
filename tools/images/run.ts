// Runs a build tool to completion: stdout returned, lines passed on for progress, the tail of stderr in errors.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export type ProgressLog = (line: string) => void;

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Each output line (stdout and stderr) as it arrives, for progress. */
  readonly onLine?: (line: string) => void;
}

/** The tool is missing or failed; the message names the command and ends with its last output. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}

export function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: string[] = [];
    const tail: string[] = [];
    const remember = (line: string): void => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      options.onLine?.(line);
    };
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdout.push(line);
      remember(line);
    });
    createInterface({ input: child.stderr }).on('line', remember);
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new ToolError(
              `${command} was not found on PATH; see tools/images/README.md for what to install`,
            )
          : error,
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise(stdout.join('\n'));
      else {
        const shown = [command, ...args].join(' ');
        reject(new ToolError(`${shown} failed (${signal ?? `exit ${code}`}):\n${tail.join('\n')}`));
      }
    });
  });
}
