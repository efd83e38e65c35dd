// Where the control plane keeps its binaries (a per-user cache) and its runtime state (in the repo).
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Repository root, derived from this file's location so any working directory works. */
export const repoRoot = resolve(import.meta.dirname, '..', '..');

/** The default runtime directory: kubeconfig, certificates, logs, pids, etcd data. */
export const defaultClusterDir = join(repoRoot, '.cluster');

/** Built binaries live outside the repo so clones and `git clean` keep them; keyed by version. */
export function binaryCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OP_KUBE_CACHE_DIR) return resolve(env.OP_KUBE_CACHE_DIR);
  const base = env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return join(base, 'op-kube');
}
