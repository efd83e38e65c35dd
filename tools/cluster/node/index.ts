// The worker node's API for test runners and tools: start it (reusing one already up), import
// images into it, stop it, and the facts a test needs (names, ranges, addresses, kubeconfig).
import { ensureNodeBinaries, type ProgressLog } from '../build.ts';
import { defaultClusterDir } from '../paths.ts';
import { ControlPlane } from '../plane.ts';
import {
  CLUSTER_DOMAIN,
  DNS_SERVICE_IP,
  NODE_IP,
  NODE_NAME,
  POD_CIDR,
  SERVICE_CIDR,
} from './layout.ts';
import { ensureNodeImages } from './images.ts';
import { LocalNode } from './node.ts';
import { assertNodePrerequisites } from './prerequisites.ts';

export { CLUSTER_DOMAIN, DNS_SERVICE_IP, NODE_IP, NODE_NAME, POD_CIDR, SERVICE_CIDR };

export interface RunningNode {
  /** The admin kubeconfig of the plane the node joined. */
  readonly kubeconfigPath: string;
  /** kubectl and helm, as the plane links them. */
  readonly binDir: string;
  readonly nodeName: string;
  /** The node's address on its bridge (InternalIP; the apiserver's advertise address). */
  readonly nodeIp: string;
  readonly podCidr: string;
  readonly serviceCidr: string;
  readonly dnsServiceIp: string;
  /** Whether this call started anything (false: everything was already up and was reused). */
  readonly started: boolean;
  /**
   * Loads an OCI archive (`buildah commit ... oci-archive:<path>:<name>`, `skopeo copy ...
   * oci-archive:`, or a `docker save` tarball) into the node's containerd, so pods can use the
   * names it carries. Use imagePullPolicy IfNotPresent or Never, and a tag other than `latest`:
   * the node pulls from nowhere, so any pull fails at once.
   */
  importImage(archivePath: string): Promise<void>;
}

/**
 * Brings up the plane (in node mode) and its worker node, reusing whatever already runs; idempotent
 * and safe to call from several processes at once (the plane's lock serialises them).
 */
export async function startNode(
  options: { dir?: string; log?: ProgressLog } = {},
): Promise<RunningNode> {
  const log = options.log ?? (() => {});
  assertNodePrerequisites();
  // Build before taking the plane's lock: a first build takes minutes, a cached one milliseconds.
  const binaries = await ensureNodeBinaries(log);
  await ensureNodeImages(binaries.coredns, log);
  const plane = new ControlPlane(
    options.dir ?? process.env.OP_KUBE_CLUSTER_DIR ?? defaultClusterDir,
    log,
  );
  const outcome = await plane.up({ node: true });
  const node = new LocalNode(plane.dir, log);
  const nodeOutcome = await plane.withLock(async () =>
    node.up({
      dir: plane.dir,
      apiserverPort: Number(new URL(await plane.apiserverUrl()).port),
      kubectl: `${plane.binDir}/kubectl`,
      kubeconfig: plane.kubeconfigPath,
    }),
  );
  return {
    kubeconfigPath: plane.kubeconfigPath,
    binDir: plane.binDir,
    nodeName: NODE_NAME,
    nodeIp: NODE_IP,
    podCidr: POD_CIDR,
    serviceCidr: SERVICE_CIDR,
    dnsServiceIp: DNS_SERVICE_IP,
    started: outcome === 'started' || nodeOutcome === 'started',
    importImage: (archivePath) => node.importImage(binaries, archivePath),
  };
}

/** Tears down the node and the plane (everything `cluster:down` removes). */
export async function stopNode(options: { dir?: string; log?: ProgressLog } = {}): Promise<number> {
  const plane = new ControlPlane(
    options.dir ?? process.env.OP_KUBE_CLUSTER_DIR ?? defaultClusterDir,
    options.log ?? (() => {}),
  );
  return plane.down();
}
