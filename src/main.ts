// op-kube's commands, dispatched by src/cli: the one module that imports every component's command.
import type { Command, CommandIo } from './cli/command.ts';
import { dispatch, type CommandInference } from './cli/dispatch.ts';
import { ExitCode } from './cli/errors.ts';
import { connectLocalCommand } from './connect-local/index.ts';
import { operatorCommand } from './operator/command.ts';
import { ONEPASSWORD_OPERATOR_FLAGS } from './operator/config.ts';
import { crdsCommand } from './operator/crds-command.ts';
import { webhookCommand } from './webhook/command.ts';
import { ONEPASSWORD_INJECTOR_FLAGS } from './webhook/config.ts';

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

export const commands: readonly Command[] = [
  operatorCommand,
  webhookCommand,
  connectLocalCommand,
  crdsCommand,
  demoCommand,
];

/**
 * 1Password's Deployments with op-kube's image: the injector's passes its flags with no
 * subcommand (they pick `webhook`), the operator's runs `/manager` (bin/manager.js, `operator`),
 * and a flag of its binary given first picks `operator` too.
 */
const inference: CommandInference = {
  impliedBy: new Map([
    ...ONEPASSWORD_INJECTOR_FLAGS.map((flag) => [flag, webhookCommand.name] as const),
    ...ONEPASSWORD_OPERATOR_FLAGS.map((flag) => [flag, operatorCommand.name] as const),
  ]),
  candidates: [operatorCommand.name, webhookCommand.name],
};

/** Runs `op-kube <args>` and resolves to the exit code; never throws. */
export function main(args: readonly string[], io: CommandIo): Promise<number> {
  return dispatch(commands, args, io, inference);
}
