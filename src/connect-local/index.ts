// The public surface of src/connect-local: the `op-kube connect-local` command.
export { connectLocalCommand } from './command.ts';
