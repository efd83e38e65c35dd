// Runs the real `op-kube operator` as a child process against the test control plane.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { freePort } from '../../tools/cluster/ports.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from '../../tools/cluster/plane.ts';
import { join } from 'node:path';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { eventually, kubeConfigFor, kubectl, testPlane } from './cluster.ts';
import { itemsListable } from './crd.ts';
import { spawnOpKube } from './op-kube-process.ts';

export interface OperatorHandle {
  readonly metricsUrl: string;
  readonly probeUrl: string;
  /** Everything the operator logged so far (JSON lines). */
  logs(): string;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export interface OperatorOptions {
  readonly connectUrl: string;
  readonly token: string;
  readonly namespaces: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly args?: readonly string[];
  readonly plane?: ControlPlane;
  /** Wait for /readyz (default true). */
  readonly waitReady?: boolean;
}

/** Creates a OnePasswordItem; `body` holds its metadata, spec and optional top-level type. */
export function createOnePasswordItem(
  custom: CustomObjectsApi,
  namespace: string,
  body: Record<string, unknown>,
): Promise<object> {
  return custom.createNamespacedCustomObject({
    group: 'onepassword.com',
    version: 'v1',
    namespace,
    plural: 'onepassworditems',
    body: { apiVersion: 'onepassword.com/v1', kind: 'OnePasswordItem', ...body },
  });
}

/** Applies crds/ (idempotent, safe from test files running side by side) and waits until served. */
export async function installCrd(plane: ControlPlane = testPlane()): Promise<void> {
  const applied = kubectl(
    [
      'apply',
      '--server-side',
      '--field-manager=op-kube-e2e',
      '--force-conflicts',
      '-f',
      join(repoRoot, 'crds'),
    ],
    plane,
  );
  if (applied.status !== 0) throw new Error(`cannot apply the CRD: ${applied.stderr}`);
  await eventually('the OnePasswordItem CRD to be established', () => {
    const established = kubectl(
      [
        'get',
        'crd',
        'onepassworditems.onepassword.com',
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Established")].status}',
      ],
      plane,
    );
    return Promise.resolve(established.stdout === 'True' ? true : undefined);
  });
  await itemsListable(kubeConfigFor(plane));
}

/** Starts the operator watching `namespaces` with a 1 s polling interval; stops it after the test. */
export async function startOperator(
  registrar: { after(fn: () => Promise<void>): void },
  options: OperatorOptions,
): Promise<OperatorHandle> {
  const plane = options.plane ?? testPlane();
  await installCrd(plane);
  const [metricsPort, probePort] = [await freePort(), await freePort()];
  const { child, stop, output } = spawnOpKube(
    registrar,
    [
      'operator',
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      '--zap-log-level=debug',
      // Plain HTTP, so tests read /metrics without a token; `args` may turn it back on.
      '--metrics-secure=false',
      ...(options.args ?? []),
    ],
    {
      ...process.env,
      KUBECONFIG: plane.kubeconfigPath,
      OP_CONNECT_HOST: options.connectUrl,
      OP_CONNECT_TOKEN: options.token,
      WATCH_NAMESPACE: options.namespaces.join(','),
      POLLING_INTERVAL: '1',
      ...options.env,
    },
  );
  const probeUrl = `http://127.0.0.1:${probePort}`;
  if (options.waitReady ?? true) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`operator exited (${child.exitCode}):\n${output()}`);
      const ready = await fetch(`${probeUrl}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`operator not ready after 60 s:\n${output()}`);
      await sleep(100);
    }
  }
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  return {
    metricsUrl,
    probeUrl,
    logs: () => output(),
    metrics: async () => (await fetch(`${metricsUrl}/metrics`)).text(),
    stop,
  };
}
