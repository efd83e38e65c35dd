// The shape every `op-kube` subcommand has, so the entry point can parse, document and run them alike.
import type { FlagDefinition, ParsedFlags } from './flags.ts';

export interface CommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
}

export interface Command {
  readonly name: string;
  /** One line for the top-level usage. */
  readonly summary: string;
  readonly flags: readonly FlagDefinition[];
  /** Extra usage text, e.g. for nested subcommands. */
  readonly details?: string;
  /** Whether arguments after the flags are the command's (nested subcommands); else misuse. */
  readonly takesArguments?: boolean;
  /** Resolves to the process exit code; throws ConfigError for invalid settings. */
  run(flags: ParsedFlags, io: CommandIo): Promise<number>;
}
