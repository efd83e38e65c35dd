// The one place that pins the local control plane's versions; bump here and the cache key follows.

/** Kubernetes release for kube-apiserver, kube-controller-manager and kubectl. */
export const KUBERNETES_VERSION = '1.36.3';
/** etcd release; Kubernetes 1.31+ needs at least 3.5.11. */
export const ETCD_VERSION = '3.6.16';
/** Helm release (major version 3). */
export const HELM_VERSION = '3.22.0';
