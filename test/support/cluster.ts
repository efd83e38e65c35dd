// Helpers for e2e tests against the real control plane that `npm test` started before the runner.
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, realpathSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  type ApiConstructor,
  type ApiType,
} from '@kubernetes/client-node';
import { ControlPlane } from '../../tools/cluster/plane.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { loadKubeConfig } from '../../src/kube/client/kubeconfig.ts';

/** The plane this test run uses (OP_KUBE_CLUSTER_DIR, set by the runner, else `.cluster/`). */
export function testPlane(): ControlPlane {
  return new ControlPlane(process.env.OP_KUBE_CLUSTER_DIR);
}

export function kubeConfigFor(plane: ControlPlane = testPlane()): KubeConfig {
  if (!existsSync(plane.kubeconfigPath)) {
    throw new Error(
      `no kubeconfig at ${plane.kubeconfigPath}: run e2e tests through \`npm test\` (it starts the ` +
        'control plane) or start one with `npm run cluster:up`',
    );
  }
  const config = new KubeConfig();
  config.loadFromFile(plane.kubeconfigPath);
  return config;
}

const adminClients = new Map<ApiConstructor<ApiType>, ApiType>();

/** The test plane's admin client of one API kind, made once per test process and shared. */
export function adminClient<T extends ApiType>(api: ApiConstructor<T>): T {
  const made = adminClients.get(api) as T | undefined;
  if (made) return made;
  const client = kubeConfigFor().makeApiClient(api);
  adminClients.set(api, client);
  return client;
}

/**
 * op-kube's own apiserver client for the plane, as the code under test uses it; `server` sends
 * it through a proxy instead. No client-side rate limit: tests measure the code, not the limiter.
 */
export function kubeClientFor(
  plane: ControlPlane = testPlane(),
  options: { server?: string } = {},
): KubeClient {
  const loaded = loadKubeConfig({ kubeconfig: plane.kubeconfigPath, env: {} });
  const cluster = options.server ? { ...loaded.cluster, server: options.server } : loaded.cluster;
  return new KubeClient({ cluster, user: loaded.user }, { qps: 0 });
}

export function isStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}

/** Polls `probe` until it yields a value other than undefined; fails with `description` on timeout. */
export async function eventually<T>(
  description: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 30_000, intervalMs = 200 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(intervalMs);
  }
  const why = last instanceof Error ? `: last error ${last.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${why}`);
}

interface CleanupRegistrar {
  after(fn: () => Promise<void>): void;
}

/**
 * Cleanups for a whole describe block: pass it where a test context is expected, and call
 * `run()` from the block's `after` (last registered, first run).
 */
export function suiteCleanups(): CleanupRegistrar & { run(): Promise<void> } {
  const cleanups: (() => Promise<void>)[] = [];
  return {
    after(fn: () => Promise<void>): void {
      cleanups.unshift(fn);
    },
    async run(): Promise<void> {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    },
  };
}

/**
 * Creates a uniquely named namespace for one test and deletes it when the test ends, so tests that
 * run side by side never see each other's objects.
 */
export async function testNamespace(
  registrar: CleanupRegistrar,
  prefix: string,
  config: KubeConfig = kubeConfigFor(),
): Promise<string> {
  const core = config.makeApiClient(CoreV1Api);
  const name = `${prefix}-${randomBytes(4).toString('hex')}`.slice(0, 63);
  await core.createNamespace({
    body: { metadata: { name, labels: { 'op-kube.test/e2e': 'true' } } },
  });
  registrar.after(async () => {
    await core.deleteNamespace({ name }).catch((error: unknown) => {
      if (!isStatus(error, 404)) throw error;
    });
  });
  return name;
}

/** Pods are refused until the ServiceAccount controller has made the namespace's `default` account. */
export async function waitForDefaultServiceAccount(
  namespace: string,
  config: KubeConfig = kubeConfigFor(),
): Promise<void> {
  const core = config.makeApiClient(CoreV1Api);
  await eventually(`ServiceAccount ${namespace}/default`, async () => {
    try {
      return await core.readNamespacedServiceAccount({ name: 'default', namespace });
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  });
}

export interface ToolResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the plane's own kubectl (same version as the apiserver) against its admin kubeconfig. */
export function kubectl(args: readonly string[], plane: ControlPlane = testPlane()): ToolResult {
  const result = spawnSync(
    join(plane.binDir, 'kubectl'),
    ['--kubeconfig', plane.kubeconfigPath, ...args],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `kubectl auth can-i <check>` (yes or no) for ServiceAccount `account` of `namespace`. */
export function serviceAccountCan(namespace: string, account: string, ...check: string[]): string {
  return kubectl([
    'auth',
    'can-i',
    ...check,
    '--as',
    `system:serviceaccount:${namespace}:${account}`,
  ]).stdout.trim();
}

/** Runs the plane's helm against its admin kubeconfig. */
export function helm(args: readonly string[], plane: ControlPlane = testPlane()): ToolResult {
  const result = spawnSync(
    join(plane.binDir, 'helm'),
    ['--kubeconfig', plane.kubeconfigPath, ...args],
    {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(plane.dir, 'helm', 'cache'),
        HELM_CONFIG_HOME: join(plane.dir, 'helm', 'config'),
        HELM_DATA_HOME: join(plane.dir, 'helm', 'data'),
      },
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A kubeconfig for the plane that authenticates as a ServiceAccount of `namespace`. */
export async function serviceAccountKubeconfig(
  t: CleanupRegistrar,
  namespace: string,
  serviceAccount: string,
): Promise<string> {
  const token = kubectl(['create', 'token', serviceAccount, '-n', namespace]);
  assert.equal(token.status, 0, token.stderr);
  const admin = yaml.load(await readFile(testPlane().kubeconfigPath, 'utf8')) as {
    clusters: { cluster: Record<string, string> }[];
  };
  const cluster = admin.clusters[0]?.cluster;
  assert.ok(cluster);
  const dir = await mkdtemp(join(tmpdir(), 'op-kube-sa-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'kubeconfig');
  await writeFile(
    file,
    yaml.dump({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'plane', cluster }],
      users: [{ name: serviceAccount, user: { token: token.stdout.trim() } }],
      contexts: [{ name: 'sa', context: { cluster: 'plane', user: serviceAccount, namespace } }],
      'current-context': 'sa',
    }),
  );
  return file;
}

/**
 * A control plane of the test file's own, in a fresh temporary folder: for tests that change
 * cluster-wide state (the CRD, a webhook configuration matching every labelled namespace) that the
 * shared plane's other tests rely on. `remove` stops it and deletes the folder.
 */
export function privatePlane(name: string): { plane: ControlPlane; remove: () => Promise<void> } {
  const plane = new ControlPlane(
    realpathSync(mkdtempSync(join(tmpdir(), `op-kube-${name}-plane-`))),
  );
  return {
    plane,
    remove: async () => {
      await plane.down();
      await rm(plane.dir, { recursive: true, force: true });
    },
  };
}
