// The demo's command line and the state its steps share: names, the control plane, kubectl, the
// services it supervises, what to clean up, what earlier steps learnt, and the --keep directions.
import { join } from 'node:path';
import { ControlPlane } from '../cluster/plane.ts';
import { CleanUp } from './cleanup.ts';
import { Kubectl } from './kubectl.ts';
import type { NodeRun } from './node.ts';
import { out, StepFailure } from './output.ts';
import { Supervisor } from './processes.ts';

const USAGE = `Usage: npm run demo [-- [--node] [--keep]]

Starts (or reuses) the local control plane in .cluster/, connect-local, the operator and the
webhook, applies examples/demo/, shows the Secrets and the injected pod, edits an item and shows
the new version arrive. Then removes everything it made (a control plane it started is stopped).

  --keep   leave everything running and print how to explore it
  --node   the system as users run it, on the local worker node: builds the images here (first
           time: minutes), \`helm install\`s charts/op-kube with connect-local, shows its pods
           Running, a Secret's keys, an injected pod printing the names of the keys it received,
           and an item edit arriving; then uninstalls (a node it started is stopped)

It always uses the local control plane's kubeconfig: the webhook it starts listens on this
machine's loopback, which only that apiserver can call, so --kubeconfig is not supported.
OP_KUBE_DEMO_SUFFIX (lowercase letters, digits, '-') is appended to the names it creates.
`;

/** `{ keep, node }`, or the exit code when there is nothing to run (--help, a bad argument). */
export function parseArguments(args: readonly string[]): { keep: boolean; node: boolean } | number {
  let keep = false;
  let node = false;
  for (const arg of args) {
    if (['-h', '--help', '-help'].includes(arg)) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (arg === '--keep' || arg === '-keep') keep = true;
    else if (arg === '--node' || arg === '-node') node = true;
    else {
      process.stderr.write(`demo: unknown argument ${JSON.stringify(arg)}\n\n${USAGE}`);
      return 2;
    }
  }
  return { keep, node };
}

export function suffixFromEnv(): string {
  const suffix = process.env.OP_KUBE_DEMO_SUFFIX ?? '';
  if (!/^[a-z0-9-]{0,20}$/.test(suffix)) {
    throw new StepFailure('OP_KUBE_DEMO_SUFFIX: up to 20 lowercase letters, digits and dashes');
  }
  return suffix;
}

export interface Names {
  readonly namespace: string;
  readonly appsNamespace: string;
  /** A second tenant: its own Connect token, scoped to the Staging vault only. */
  readonly tenantNamespace: string;
  readonly webhookConfigName: string;
}

export function namesWith(suffix: string): Names {
  return {
    namespace: `op-kube-demo${suffix}`,
    appsNamespace: `op-kube-demo-apps${suffix}`,
    tenantNamespace: `op-kube-demo-team-b${suffix}`,
    // The apiserver calls mutating webhooks in the order of their configurations' names. This name
    // sorts after `op-kube-webhook` (the chart's) and `op-kube-e2e-*` (the e2e tests'), so another
    // injector matching the same labelled namespaces goes first and this one then sees an already
    // injected pod and leaves it alone.
    webhookConfigName: `op-kube-webhook-demo${suffix}`,
  };
}

export interface Demo {
  readonly keep: boolean;
  readonly names: Names;
  readonly plane: ControlPlane;
  readonly kubectl: Kubectl;
  readonly services: Supervisor;
  readonly cleanUp: CleanUp;
  /** A fresh temp dir: service logs, connect-local's state, the token file. */
  readonly workDir: string;
  /** The demo started the control plane (and --keep is off): it stops it at the end. */
  stopPlane: boolean;
  connect: { url: string; adminUrl: string };
  token: string;
  /** The item-version of each Secret the operator made, as first shown. */
  itemVersions: Map<string, string>;
  /** --node: what the node steps learnt (the release, the images). */
  nodeRun?: NodeRun;
}

export function newDemo(keep: boolean, names: Names, workDir: string): Demo {
  const plane = new ControlPlane(process.env.OP_KUBE_CLUSTER_DIR, (line) =>
    out(`    [cluster] ${line}`),
  );
  return {
    keep,
    names,
    plane,
    kubectl: new Kubectl(plane),
    services: new Supervisor(workDir),
    cleanUp: new CleanUp(),
    workDir,
    stopPlane: false,
    connect: { url: '', adminUrl: '' },
    token: '',
    itemVersions: new Map(),
  };
}

/** After --keep: how to look around, and how to stop what is still running. */
export function printExplore(demo: Demo): void {
  const { names, plane, connect, workDir, services } = demo;
  const kubectl = `${demo.kubectl.path} --kubeconfig ${plane.kubeconfigPath}`;
  out();
  out('Everything is still running (--keep). Explore:');
  out(`  ${kubectl} get onepassworditems,secrets,deployments -n ${names.namespace}`);
  out(`  ${kubectl} get onepassworditems -n ${names.tenantNamespace}   # team B's own token`);
  out(`  ${kubectl} get pod app -n ${names.appsNamespace} -o yaml`);
  out(
    `  ${kubectl} get secret database -n ${names.namespace} -o jsonpath='{.data.password}' | base64 -d`,
  );
  out(`  connect-local: ${connect.url} (token in ${join(workDir, 'token')})`);
  out(
    `    curl -H "Authorization: Bearer $(cat ${join(workDir, 'token')})" ${connect.url}/v1/vaults`,
  );
  out(`  logs: ${workDir}/*.log`);
  out('Stop it:');
  out(
    `  kill ${services.list.map((service) => service.child.pid).join(' ')}   # ${services.list.map((service) => service.name).join(', ')}`,
  );
  out(
    `  ${kubectl} delete namespace ${names.namespace} ${names.appsNamespace} ${names.tenantNamespace}`,
  );
  out(`  rm -rf ${workDir}`);
  out('  npm run cluster:down   # the control plane');
}
