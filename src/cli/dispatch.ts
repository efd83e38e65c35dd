// Dispatches `<program> <command> [flags]` over a list of commands and turns typed errors into Go-compatible exit codes.
import type { Command, CommandIo } from './command.ts';
import { ConfigError, ExitCode, HelpRequested, UsageError } from './errors.ts';
import { formatFlagUsage, parseFlags } from './flags.ts';
import { packageVersion } from './version.ts';

function topLevelUsage(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  const lines = commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`);
  return [
    'Usage: op-kube <command> [flags]',
    '',
    'Commands:',
    ...lines,
    '',
    'Flags:',
    '  -h, --help     show this help (also: op-kube <command> --help)',
    '  --version      print the version',
    '',
    'Flags take one or two dashes and a value as `--name=value` or `--name value`,',
    'as Go programs accept them, so 1Password Deployment arguments work unchanged.',
    '',
  ].join('\n');
}

function commandUsage(command: Command): string {
  const flags = formatFlagUsage(command.flags);
  const details = command.details ? `\n${command.details}\n` : '';
  return `Usage: op-kube ${command.name} [flags]\n\n${command.summary}\n${details}${flags ? `\nFlags:\n${flags}\n` : ''}`;
}

/**
 * Runs the command `args` names with the rest of `args` as its flags and resolves to the exit
 * code; never throws.
 */
export async function dispatch(
  commands: readonly Command[],
  args: readonly string[],
  io: CommandIo,
): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined) {
    io.stderr.write(topLevelUsage(commands));
    return ExitCode.usage;
  }
  if (['-h', '--help', '-help', 'help'].includes(first)) {
    const topic = commands.find((command) => command.name === rest[0]);
    io.stdout.write(topic ? commandUsage(topic) : topLevelUsage(commands));
    return ExitCode.ok;
  }
  if (['--version', '-version', 'version'].includes(first)) {
    io.stdout.write(`op-kube ${packageVersion() ?? 'unknown'}\n`);
    return ExitCode.ok;
  }

  const command = commands.find((candidate) => candidate.name === first);
  if (!command) {
    const problem = first.startsWith('-')
      ? `flag provided but not defined: ${first}`
      : `unknown command ${JSON.stringify(first)}`;
    io.stderr.write(`op-kube: ${problem}\n\n${topLevelUsage(commands)}`);
    return ExitCode.usage;
  }

  try {
    const flags = parseFlags(command.flags, rest);
    if (flags.rest.length > 0 && !command.takesArguments) {
      throw new UsageError(`unexpected argument ${JSON.stringify(flags.rest[0])}`);
    }
    return await command.run(flags, io);
  } catch (error) {
    if (error instanceof HelpRequested) {
      io.stdout.write(commandUsage(command));
      return ExitCode.ok;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`op-kube ${command.name}: ${error.message}\n\n${commandUsage(command)}`);
      return error.exitCode;
    }
    if (error instanceof ConfigError) {
      io.stderr.write(`op-kube ${command.name}: invalid configuration: ${error.message}\n`);
      return error.exitCode;
    }
    // Unexpected: report the failure without dumping objects that might hold request data.
    const message = error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error';
    io.stderr.write(`op-kube ${command.name}: ${message}\n`);
    return ExitCode.config;
  }
}
