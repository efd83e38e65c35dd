// `op-kube connect-local`: serve, and the `token …` and `server init` commands on the state dir.
// Only the flags are loaded here; the rest (command-run.ts) when a connect-local command runs.
import type { Command } from '../cli/command.ts';
import { serveFlags } from './command-flags.ts';

const DETAILS = `Also:
  op-kube connect-local token create <name> --vault <vault>[,r|,w|,rw] [--vault ...] [--expires-in 30d]
  op-kube connect-local token list [--json]
  op-kube connect-local token revoke <name|id>
  op-kube connect-local token rename <name|id> --name <new name>
  op-kube connect-local server init [--force]
Each takes --state-dir (default .connect-local).`;

export const connectLocalCommand: Command = {
  name: 'connect-local',
  summary: 'run a local Connect-compatible server; manage its tokens',
  flags: Object.values(serveFlags),
  details: DETAILS,
  takesArguments: true,
  async run(flags, io) {
    const { runConnectLocal } = await import('./command-run.ts');
    return runConnectLocal(flags, io);
  },
};
