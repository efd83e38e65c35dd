// op-kube's commands, dispatched by src/cli: the one module that imports every component's command.
// A command named first (`op-kube webhook ...`) loads only its own module: every other command's
// flags, config and imports cost a process that never runs them memory (the webhook: 10 modules,
// 0.8 MB of RSS idle; docs/decisions/028). Everything else (help, --version, a command inferred
// from 1Password's flags, an unknown command) loads them all, as before.
import type { Command, CommandIo } from './cli/command.ts';
import { dispatch, type CommandInference } from './cli/dispatch.ts';
import { ExitCode } from './cli/errors.ts';

/**
 * The demo needs the local control plane of tools/cluster, which only a source checkout has (the
 * package ships bin/, dist/ and crds/): it runs as `npm run demo` there, and this says so.
 */
const demoCommand: Command = {
  name: 'demo',
  summary: 'start a local cluster, Connect and op-kube, and show a sync (`npm run demo`)',
  flags: [],
  run(_flags, io) {
    io.stderr.write(
      'op-kube demo: the demo runs from a source checkout of op-kube: `npm ci && npm run demo`\n',
    );
    return Promise.resolve(ExitCode.config);
  },
};

/** Each command by its name, loading only its own module. */
export const commandLoaders: ReadonlyMap<string, () => Promise<Command>> = new Map([
  ['operator', async () => (await import('./operator/command.ts')).operatorCommand],
  ['webhook', async () => (await import('./webhook/command.ts')).webhookCommand],
  ['connect-local', async () => (await import('./connect-local/index.ts')).connectLocalCommand],
  ['crds', async () => (await import('./operator/crds-command.ts')).crdsCommand],
  ['demo', () => Promise.resolve(demoCommand)],
]);

/** Every command, in the order the usage lists them, and how a command line of flags picks one. */
export async function loadCommands(): Promise<{
  commands: readonly Command[];
  inference: CommandInference;
}> {
  const commands = await Promise.all([...commandLoaders.values()].map((load) => load()));
  const [{ ONEPASSWORD_OPERATOR_FLAGS }, { ONEPASSWORD_INJECTOR_FLAGS }] = await Promise.all([
    import('./operator/config.ts'),
    import('./webhook/config.ts'),
  ]);
  /**
   * 1Password's Deployments with op-kube's image: the injector's passes its flags with no
   * subcommand (they pick `webhook`), the operator's runs `/manager` (bin/manager.js, `operator`),
   * and a flag of its binary given first picks `operator` too.
   */
  const inference: CommandInference = {
    impliedBy: new Map([
      ...ONEPASSWORD_INJECTOR_FLAGS.map((flag) => [flag, 'webhook'] as const),
      ...ONEPASSWORD_OPERATOR_FLAGS.map((flag) => [flag, 'operator'] as const),
    ]),
    candidates: ['operator', 'webhook'],
  };
  return { commands, inference };
}

/** Runs `op-kube <args>` and resolves to the exit code; never throws. */
export async function main(args: readonly string[], io: CommandIo): Promise<number> {
  const load = args[0] === undefined ? undefined : commandLoaders.get(args[0]);
  // Named first, the command is all dispatch looks at: the same help, errors and exit codes.
  if (load) return dispatch([await load()], args, io);
  const { commands, inference } = await loadCommands();
  return dispatch(commands, args, io, inference);
}
