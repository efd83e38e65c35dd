// Runs the real `op-kube webhook` as a child process against the test control plane, registered by URL.
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch, type Response } from 'undici';
import { freePort } from '../../tools/cluster/ports.ts';
import type { ControlPlane } from '../../tools/cluster/plane.ts';
import { testPlane } from './cluster.ts';
import { spawnOpKube } from './op-kube-process.ts';

export interface WebhookHandle {
  readonly port: number;
  readonly url: string;
  /** Everything the webhook logged so far (JSON lines). */
  logs(): string;
  ready(): Promise<boolean>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
  /** How the process ended (both null while it runs). */
  exit(): { code: number | null; signal: NodeJS.Signals | null };
}

export interface WebhookOptions {
  /** Holds the TLS Secret and the Lease. */
  readonly namespace: string;
  /** The https URL the apiserver is told to call (the webhook itself, or a proxy in front). */
  readonly registerUrl?: (port: number) => string;
  readonly webhookConfigName: string;
  readonly args?: readonly string[];
  readonly plane?: ControlPlane;
  /** Wait for /readyz (default true). */
  readonly waitReady?: boolean;
  readonly port?: number;
}

// The webhook serves a certificate from its own CA; probes do not verify it, as the kubelet's do not.
const insecure = new Agent({ connect: { rejectUnauthorized: false } });

export async function startWebhook(
  registrar: { after(fn: () => Promise<void>): void },
  options: WebhookOptions,
): Promise<WebhookHandle> {
  const plane = options.plane ?? testPlane();
  const port = options.port ?? (await freePort());
  const url = `https://127.0.0.1:${port}`;
  const { child, stop, output } = spawnOpKube(
    registrar,
    [
      'webhook',
      '--bind-address=127.0.0.1',
      `--port=${port}`,
      `--namespace=${options.namespace}`,
      `--webhook-config-name=${options.webhookConfigName}`,
      `--register-url=${options.registerUrl?.(port) ?? `${url}/inject`}`,
      '--connect-host=http://onepassword-connect:8080',
      '--log-level=debug',
      '--shutdown-delay=0s',
      ...(options.args ?? []),
    ],
    { ...process.env, KUBECONFIG: plane.kubeconfigPath },
  );
  const get = (path: string): Promise<Response> => fetch(`${url}${path}`, { dispatcher: insecure });
  const ready = (): Promise<boolean> =>
    get('/readyz').then(
      (response) => response.ok,
      () => false,
    );
  if (options.waitReady ?? true) {
    const deadline = Date.now() + 60_000;
    while (!(await ready())) {
      if (child.exitCode !== null) {
        throw new Error(`webhook exited (${child.exitCode}):\n${output()}`);
      }
      if (Date.now() > deadline) throw new Error(`webhook not ready after 60 s:\n${output()}`);
      await sleep(100);
    }
  }
  return {
    port,
    url,
    logs: () => output(),
    ready,
    metrics: async () => (await get('/metrics')).text(),
    stop,
    exit: () => ({ code: child.exitCode, signal: child.signalCode }),
  };
}
