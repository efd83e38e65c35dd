// op-kube's commands, dispatched by src/cli: the one module that imports every component's command.
import type { Command, CommandIo } from './cli/command.ts';
import { dispatch } from './cli/dispatch.ts';
import { ExitCode } from './cli/errors.ts';
import { connectLocalCommand } from './connect-local/index.ts';
import { operatorCommand } from './operator/command.ts';
import { webhookCommand } from './webhook/command.ts';

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
  demoCommand,
];

/** Runs `op-kube <args>` and resolves to the exit code; never throws. */
export function main(args: readonly string[], io: CommandIo): Promise<number> {
  return dispatch(commands, args, io);
}
