// kubectl against the local control plane's own kubeconfig (never the user's current context),
// and the few fields of the objects the demo reads back.
import { join } from 'node:path';
import type { ControlPlane } from '../cluster/plane.ts';
import { StepFailure, out } from './output.ts';
import { run, type RunResult } from './processes.ts';

export class Kubectl {
  readonly #plane: ControlPlane;

  constructor(plane: ControlPlane) {
    this.#plane = plane;
  }

  get path(): string {
    return join(this.#plane.binDir, 'kubectl');
  }

  run(args: readonly string[], input?: string): Promise<RunResult> {
    return run(this.path, ['--kubeconfig', this.#plane.kubeconfigPath, ...args], {
      ...(input !== undefined ? { input } : {}),
    });
  }

  /** kubectl that must succeed; `show` prints the command as a user would type it. */
  async ok(
    args: readonly string[],
    options: { input?: string; show?: boolean } = {},
  ): Promise<string> {
    if (options.show) out(`    $ kubectl ${args.join(' ')}`);
    const result = await this.run(args, options.input);
    if (result.code !== 0) {
      throw new StepFailure(`kubectl ${args.join(' ')} failed: ${result.stderr.trim()}`);
    }
    return result.stdout;
  }

  /** `kubectl <args> -o json`, parsed; undefined when the object does not exist. */
  async getJson<T>(args: readonly string[]): Promise<T | undefined> {
    const result = await this.run([...args, '-o', 'json']);
    if (result.code !== 0) {
      if (/NotFound|not found/.test(result.stderr)) return undefined;
      throw new StepFailure(`kubectl ${args.join(' ')} failed: ${result.stderr.trim()}`);
    }
    return JSON.parse(result.stdout) as T;
  }

  /** The example's OnePasswordItem and the Secret the operator makes from it. */
  readDatabaseItem(namespace: string): Promise<OnePasswordItem | undefined> {
    return this.getJson<OnePasswordItem>(['get', 'onepassworditem', 'database', '-n', namespace]);
  }

  readDatabaseSecret(namespace: string): Promise<Secret | undefined> {
    return this.getJson<Secret>(['get', 'secret', 'database', '-n', namespace]);
  }
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
export interface OnePasswordItem {
  status?: { conditions?: Condition[]; itemVersion?: number; secretName?: string };
}
export interface Secret {
  metadata: { name: string; annotations?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } };
  }[];
}
export interface Pod {
  metadata: { annotations?: Record<string, string> };
  spec: { containers: Container[]; initContainers?: Container[] };
}

export function readyOf(item: OnePasswordItem | undefined): Condition | undefined {
  return item?.status?.conditions?.find((condition) => condition.type === 'Ready');
}
