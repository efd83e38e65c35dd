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
    "Without a command, the flags pick it: 1Password's injector flags (-service-name,",
    "-port, glog's -v, -logtostderr, ...) run `webhook`, its operator's (--leader-elect,",
    '--zap-*, --metrics-*, ...) run `operator`; flags of both: name the command.',
    '',
  ].join('\n');
}

function commandUsage(command: Command): string {
  const flags = formatFlagUsage(command.flags);
  const details = command.details ? `\n${command.details}\n` : '';
  return `Usage: op-kube ${command.name} [flags]\n\n${command.summary}\n${details}${flags ? `\nFlags:\n${flags}\n` : ''}`;
}

/**
 * How a command line whose first argument is a flag (1Password's Deployments name no subcommand:
 * the operator's runs `/manager <flags>`, the injector's `<image entrypoint> <flags>`) picks one.
 */
export interface CommandInference {
  /**
   * Flag name → the command it selects whatever else defines it: the flags of 1Password's
   * programs (its injector's select `webhook`, its operator's `operator`).
   */
  readonly impliedBy: ReadonlyMap<string, string>;
  /** The commands that may be inferred; one of op-kube's own flags selects the one defining it. */
  readonly candidates: readonly string[];
}

/** The names of the flags in `args` (up to `--`), help aside; values are not flags. */
function flagNames(args: readonly string[]): string[] {
  const names: string[] = [];
  for (const arg of args) {
    if (arg === '--') break;
    if (arg.length < 2 || !arg.startsWith('-')) continue;
    const body = arg.replace(/^--?/, '');
    const name = body.split('=', 1)[0] ?? '';
    if (name !== '' && !['h', 'help'].includes(name)) names.push(name);
  }
  return names;
}

/**
 * The rule: each flag given names the commands it can belong to (one of 1Password's flags: the
 * command `impliedBy` says; else every candidate defining it; unknown flags name none and are left
 * to the command's parser). The command every known flag names is run; none known, or known flags
 * naming different commands, is misuse.
 */
function inferCommand(
  commands: readonly Command[],
  args: readonly string[],
  inference: CommandInference,
): Command | { problem: string } {
  let owners: Set<string> | undefined;
  const known: string[] = [];
  for (const name of flagNames(args)) {
    const implied = inference.impliedBy.get(name);
    const own = implied
      ? [implied]
      : inference.candidates.filter((candidate) =>
          commands
            .find((command) => command.name === candidate)
            ?.flags.some((flag) => flag.name === name),
        );
    if (own.length === 0) continue;
    known.push(name);
    owners = new Set(owners ? own.filter((owner) => owners?.has(owner)) : own);
  }
  if (owners === undefined) return { problem: `flag provided but not defined: ${args[0] ?? ''}` };
  const [only] = owners;
  const command = commands.find((candidate) => candidate.name === only);
  if (owners.size === 1 && command) return command;
  return {
    problem: `no subcommand given, and the flags ${known.map((name) => `-${name}`).join(' ')} do not belong to one of ${inference.candidates.join(', ')}: name the subcommand (op-kube <command> [flags])`,
  };
}

/**
 * Runs the command `args` names with the rest of `args` as its flags and resolves to the exit
 * code; never throws.
 */
export async function dispatch(
  commands: readonly Command[],
  args: readonly string[],
  io: CommandIo,
  inference?: CommandInference,
): Promise<number> {
  const [first] = args;
  let rest = args.slice(1);
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

  let command = commands.find((candidate) => candidate.name === first);
  if (!command && first.startsWith('-')) {
    const inferred = inference
      ? inferCommand(commands, args, inference)
      : { problem: `flag provided but not defined: ${first}` };
    if ('problem' in inferred) {
      io.stderr.write(`op-kube: ${inferred.problem}\n\n${topLevelUsage(commands)}`);
      return ExitCode.usage;
    }
    command = inferred;
    rest = [...args];
  }
  if (!command) {
    io.stderr.write(
      `op-kube: unknown command ${JSON.stringify(first)}\n\n${topLevelUsage(commands)}`,
    );
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
