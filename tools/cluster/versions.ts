// The one place that pins the local control plane's versions; bump here and the cache key follows.

/** Kubernetes release for kube-apiserver, kube-controller-manager and kubectl. */
export const KUBERNETES_VERSION = '1.36.3';
/** etcd release; Kubernetes 1.31+ needs at least 3.5.11. */
export const ETCD_VERSION = '3.6.16';
/** Helm release (major version 3). */
export const HELM_VERSION = '3.22.0';

// The worker node (`cluster:up -- --node`): kubelet, kube-scheduler and kube-proxy follow
// KUBERNETES_VERSION; the rest are pinned here.
/** containerd 2.x (Kubernetes 1.36 no longer supports containerd 1.x). */
export const CONTAINERD_VERSION = '2.4.2';
/** runc, the OCI runtime containerd's shim calls. */
export const RUNC_VERSION = '1.5.3';
/** CNI reference plugins (bridge, host-local, loopback, portmap). */
export const CNI_PLUGINS_VERSION = '1.10.0';
/** CoreDNS, the cluster's DNS server (an in-cluster Deployment). */
export const COREDNS_VERSION = '1.13.2';
