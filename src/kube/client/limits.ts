// The client's default request rate, apart from the client so that flag definitions can name it
// without loading the HTTP stack (`op-kube webhook` and `connect-local` never need it).
export const DEFAULT_KUBE_API_QPS = 500;
export const DEFAULT_KUBE_API_BURST = 1000;
