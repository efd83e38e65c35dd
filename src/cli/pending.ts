// Subcommands whose implementation belongs to a later issue: they exist so the CLI's surface is stable.
import { ExitCode } from './errors.ts';
import type { Command } from './command.ts';

/** A subcommand that says plainly it is not built yet, and fails. */
export function pendingCommand(name: string, summary: string, issue: number): Command {
  return {
    name,
    summary,
    flags: [],
    run(_flags, io) {
      io.stderr.write(`op-kube ${name}: not built yet (tracked in issue #${issue})\n`);
      return Promise.resolve(ExitCode.config);
    },
  };
}
