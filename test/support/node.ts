// The worker node for node tests: started (or reused) with the images built here imported, and the names tests install with.
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { nodeWithImages, type NodeWithImages } from '../../tools/images/node.ts';
import { eventually, helm, kubectl, testPlane } from './cluster.ts';

export type TestNode = NodeWithImages;

let prepared: Promise<TestNode> | undefined;

/**
 * The node and images, made once per process. `npm test` has already built and imported them (its
 * progress lines show); a node test file run by hand builds and imports them here.
 */
export function testNode(log: (line: string) => void = () => {}): Promise<TestNode> {
  prepared ??= nodeWithImages(log);
  return prepared;
}

interface PodList {
  items: PodView[];
}

export interface PodView {
  metadata: {
    name: string;
    uid: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: { containers: { name: string; securityContext?: { readOnlyRootFilesystem?: boolean } }[] };
  status: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number }[];
  };
}

/** Pods of a namespace (optionally by label selector), as kubectl reports them. */
export function pods(namespace: string, selector?: string): PodView[] {
  const result = kubectl([
    'get',
    'pods',
    '-n',
    namespace,
    ...(selector ? ['-l', selector] : []),
    '-o',
    'json',
  ]);
  if (result.status !== 0) throw new Error(`kubectl get pods -n ${namespace}: ${result.stderr}`);
  return (JSON.parse(result.stdout) as PodList).items;
}

export function isReady(pod: PodView): boolean {
  return (
    pod.metadata.deletionTimestamp === undefined &&
    pod.status.phase === 'Running' &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** One line per pod that is not Ready: what a failing wait should show. */
export function describePods(list: readonly PodView[]): string {
  return list
    .map(
      (pod) =>
        `${pod.metadata.name}: ${pod.status.phase ?? '?'} ` +
        (pod.status.containerStatuses ?? [])
          .map((c) => `${c.name} ready=${c.ready} restarts=${c.restartCount}`)
          .join(', '),
    )
    .join('\n');
}

/** Waits until `count` pods (at least) match and all of them are Running and Ready. */
export async function podsReady(
  namespace: string,
  selector: string | undefined,
  count: number,
  timeoutMs = 240_000,
): Promise<PodView[]> {
  let last: PodView[] = [];
  try {
    return await eventually(
      `${count} Ready pod(s) in ${namespace}${selector ? ` (${selector})` : ''}`,
      () => {
        last = pods(namespace, selector).filter((pod) => !pod.metadata.deletionTimestamp);
        return last.length >= count && last.every(isReady) ? last : undefined;
      },
      { timeoutMs, intervalMs: 1000 },
    );
  } catch (error) {
    const events = kubectl(['get', 'events', '-n', namespace, '--sort-by=.lastTimestamp']).stdout;
    throw new Error(
      `${(error as Error).message}\npods:\n${describePods(last)}\nevents:\n${events.slice(-3000)}`,
    );
  }
}

/** Applies a manifest given as an object (or several), failing with kubectl's message. */
export function apply(manifest: object | readonly object[], namespace?: string): void {
  const documents = Array.isArray(manifest) ? manifest : [manifest];
  const result = spawnSync(
    join(testPlane().binDir, 'kubectl'),
    [
      '--kubeconfig',
      testPlane().kubeconfigPath,
      'apply',
      ...(namespace ? ['-n', namespace] : []),
      '-f',
      '-',
    ],
    { input: documents.map((doc) => JSON.stringify(doc)).join('\n---\n'), encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`kubectl apply: ${result.stderr}`);
}

/** helm, failing with its message; the chart's dir and the built images come from the caller. */
export function helmOk(args: readonly string[]): string {
  const result = helm(args);
  if (result.status !== 0) throw new Error(`helm ${args.slice(0, 2).join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/**
 * helm without blocking the event loop (`helm` waits synchronously): for tests that keep working,
 * e.g. creating pods, while an upgrade or rollback runs. Fails with helm's message.
 */
export function helmAsync(args: readonly string[]): Promise<string> {
  const plane = testPlane();
  return new Promise((resolve, reject) => {
    execFile(
      join(plane.binDir, 'helm'),
      ['--kubeconfig', plane.kubeconfigPath, ...args],
      {
        encoding: 'utf8',
        timeout: 300_000,
        env: {
          ...process.env,
          HELM_CACHE_HOME: join(plane.dir, 'helm', 'cache'),
          HELM_CONFIG_HOME: join(plane.dir, 'helm', 'config'),
          HELM_DATA_HOME: join(plane.dir, 'helm', 'data'),
        },
      },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`helm ${args.slice(0, 2).join(' ')}: ${stderr || error.message}`));
        else resolve(stdout);
      },
    );
  });
}

/**
 * A release's namespace, enforcing restricted Pod Security as production clusters do, and its apps
 * namespace (labelled for injection when `injected`).
 */
export function releaseNamespaces(namespace: string, apps: string, injected = true): void {
  apply([
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: namespace,
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'latest',
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: apps, ...(injected ? { labels: { 'secrets-injection': 'enabled' } } : {}) },
    },
  ]);
}

/** Clean-up after a node test: its release uninstalled and its namespaces on their way out. */
export function removeRelease(release: string, namespace: string, apps: string): void {
  helm(['uninstall', release, '-n', namespace, '--ignore-not-found', '--wait']);
  kubectl(['delete', 'namespace', namespace, apps, '--ignore-not-found', '--wait=false']);
}
