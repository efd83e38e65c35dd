// The worker node's fixed network layout and names (one node per machine); decision 017 explains it.

/** The Node object's name, also the kubelet's hostname override. */
export const NODE_NAME = 'op-kube-node';

/** The Linux bridge the pods' veths join; it only exists while the node is up. */
export const BRIDGE = 'opk0';

/** Pods get addresses from this range; nothing else on the machine uses it. */
export const POD_CIDR = '10.244.0.0/24';

/**
 * The bridge's own address: the pods' gateway to Service IPs, the Node's InternalIP, the kubelet's
 * listening address and the apiserver's advertise address (the `kubernetes` Service's endpoint).
 */
export const NODE_IP = '10.244.0.1';

/** The apiserver's --service-cluster-ip-range (the plane's, unchanged). */
export const SERVICE_CIDR = '10.96.0.0/16';

/** The `kubernetes` Service's ClusterIP: the first address of SERVICE_CIDR. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';

/** kube-dns's ClusterIP, the kubelet's clusterDNS. */
export const DNS_SERVICE_IP = '10.96.0.10';

export const CLUSTER_DOMAIN = 'cluster.local';

/** The kubelet's API (logs, exec), on NODE_IP only. */
export const KUBELET_PORT = 10250;

/** Every registry host resolves here; nothing listens, so a pull fails at once (refused). */
export const REFUSED_REGISTRY = 'https://127.0.0.1:1';

/** The iptables chains this node adds (filter table), each jumped to from a built-in chain. */
export const GUARD_CHAINS = {
  INPUT: 'OPK-NODE-INPUT',
  FORWARD: 'OPK-NODE-FORWARD',
  OUTPUT: 'OPK-NODE-OUTPUT',
} as const;
