// Renders the node's configuration files (containerd, registry hosts, CNI, kubelet, kube-proxy,
// CoreDNS) from paths and the fixed layout. Pure, so unit tests can read what the node runs with.
import yaml from 'js-yaml';
import {
  CLUSTER_DOMAIN,
  DNS_SERVICE_IP,
  KUBELET_PORT,
  NODE_IP,
  NODE_NAME,
  POD_CIDR,
  BRIDGE,
  REFUSED_REGISTRY,
  SERVICE_CIDR,
} from './layout.ts';

export interface ContainerdPaths {
  readonly root: string;
  readonly state: string;
  readonly socket: string;
  readonly runc: string;
  readonly cniBinDir: string;
  readonly cniConfDir: string;
  readonly registryHostsDir: string;
  readonly sandboxImage: string;
}

const quote = (value: string): string => JSON.stringify(value);

/** containerd 2.x configuration (version 4, the current one in 2.4): CRI with runc on cgroupfs, local CNI, no registry. */
export function containerdConfig(paths: ContainerdPaths): string {
  return `# Written by tools/cluster/node; regenerated on every start.
version = 4
root = ${quote(paths.root)}
state = ${quote(paths.state)}
# No plugin may fetch anything from outside: see [plugins.'io.containerd.cri.v1.images'.registry].
disabled_plugins = ["io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

# Nothing from /etc/containerd: this containerd is the node's alone.
imports = []

[plugins.'io.containerd.server.v1.grpc']
  address = ${quote(paths.socket)}

[plugins.'io.containerd.server.v1.ttrpc']
  address = ${quote(`${paths.socket}.ttrpc`)}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${quote(paths.sandboxImage)}
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = ${quote(paths.registryHostsDir)}

[plugins.'io.containerd.cri.v1.runtime']
  # Pod network namespaces under the state folder, so cluster:down finds and unmounts them.
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = true
  # This machine withholds CAP_SYS_RESOURCE, so no process may lower its OOM score below ours:
  # clamp the kubelet's negative scores (pause: -998) instead of failing every sandbox.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${quote(paths.runc)}
        # runc's own state beside containerd's, not in /run/containerd: cluster:down removes it.
        Root = ${quote(`${paths.state}/runc`)}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${quote(paths.cniBinDir)}]
    conf_dir = ${quote(paths.cniConfDir)}
    max_conf_num = 1
`;
}

/**
 * hosts.toml for the `_default` folder: every registry without its own folder (all of them) is
 * served by REFUSED_REGISTRY, so a pull fails at once with "connection refused" instead of leaving.
 */
export function refusedRegistryHosts(): string {
  return `# Written by tools/cluster/node: this node pulls from nowhere (decision 017).
server = ${quote(REFUSED_REGISTRY)}

[host.${quote(REFUSED_REGISTRY)}]
  capabilities = ["pull", "resolve"]
  skip_verify = true
`;
}

/** The CNI network: a bridge without masquerade whose only route beyond the pod range is Services. */
export function cniConflist(ipamDataDir: string): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'op-kube',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: true,
          isDefaultGateway: false,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: ipamDataDir,
            ranges: [[{ subnet: POD_CIDR, gateway: NODE_IP }]],
            // No default route: pods reach other pods (on-link) and Services, nothing else.
            routes: [{ dst: SERVICE_CIDR }],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: false },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface KubeletPaths {
  readonly caFile: string;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly containerdSocket: string;
  readonly resolvConf: string;
  readonly podLogsDir: string;
}

/** KubeletConfiguration: cgroupfs on cgroup v1, x509 + webhook auth for the apiserver's calls. */
export function kubeletConfig(paths: KubeletPaths): string {
  return yaml.dump({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NODE_IP,
    port: KUBELET_PORT,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    tlsCertFile: paths.tlsCertFile,
    tlsPrivateKeyFile: paths.tlsKeyFile,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: paths.caFile },
    },
    authorization: { mode: 'Webhook' },
    // This machine has cgroup v1 (hybrid); Kubernetes 1.35+ refuses it unless told otherwise.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
    clusterDomain: CLUSTER_DOMAIN,
    clusterDNS: [DNS_SERVICE_IP],
    // An empty file: pods with dnsPolicy Default get no upstream resolver either.
    resolvConf: paths.resolvConf,
    podLogsDir: paths.podLogsDir,
    podCIDR: POD_CIDR,
    hairpinMode: 'hairpin-veth',
    maxPods: 110,
    serializeImagePulls: false,
    // Images are imported, never pulled back: never collect them, never evict over disk space.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    // Mounted Secrets and ConfigMaps follow edits within seconds (tests watch for that).
    syncFrequency: '10s',
    nodeStatusUpdateFrequency: '5s',
    shutdownGracePeriod: '0s',
    shutdownGracePeriodCriticalPods: '0s',
    staticPodPath: '',
    rotateCertificates: false,
    serverTLSBootstrap: false,
  });
}

/** KubeProxyConfiguration: iptables mode that leaves global sysctls alone. */
export function kubeProxyConfig(kubeconfig: string): string {
  return yaml.dump({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig },
    hostnameOverride: NODE_NAME,
    clusterCIDR: POD_CIDR,
    bindAddress: NODE_IP,
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    // NodePorts only on the bridge address, never on the machine's real interfaces.
    nodePortAddresses: [`${NODE_IP}/32`],
    // 0 means "leave the kernel's setting": conntrack tables are shared with the machine.
    conntrack: {
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: '0s',
      tcpCloseWaitTimeout: '0s',
    },
    iptables: { masqueradeAll: false, syncPeriod: '30s', minSyncPeriod: '0s' },
  });
}

/**
 * CoreDNS answers the cluster's own names and reverse zones; every other name gets NXDOMAIN at
 * once from the template plugin. There is no `forward`: no query ever leaves the machine.
 */
export function corefile(): string {
  return `${CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {
    errors
    ready :8181
    health :8080
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        pods insecure
        ttl 5
    }
    cache 5
}
.:53 {
    errors
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`;
}
