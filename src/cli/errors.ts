// Errors the command line reports before any work starts; each carries the exit code it maps to.

/** Exit codes shared by every subcommand. */
export const ExitCode = {
  ok: 0,
  /** Invalid configuration: a bad value or a missing required setting. */
  config: 1,
  /** Misuse: an unknown subcommand or flag, or malformed flag syntax (as Go's flag package). */
  usage: 2,
} as const;

/** Misuse of the command line; the caller prints usage to stderr and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = ExitCode.usage;
}

/** A setting that parses but cannot be used; the message names the flag or variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly exitCode = ExitCode.config;
  /** The flag (`--name`) or environment variable (`NAME`) at fault. */
  readonly setting: string;

  constructor(setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.setting = setting;
  }
}

/** `-h`/`-help` was given: print usage to stdout and exit 0, as Go programs do. */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
}
