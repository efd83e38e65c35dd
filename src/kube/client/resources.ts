// REST paths of Kubernetes resources, and the kind → resource mapping server-side apply needs.
import type { KubeClient } from './client.ts';

/** Where a resource lives: `/api/v1` for the core group, `/apis/<group>/<version>` otherwise. */
export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

export interface ResourcePathParts {
  /** e.g. `v1`, `apps/v1`, `onepassword.com/v1`. */
  readonly apiVersion: string;
  /** Lower-case plural, e.g. `secrets`. */
  readonly plural: string;
  /** Absent for cluster-scoped resources and for lists across namespaces. */
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
  readonly subresource?: string | undefined;
}

/** The path of a collection, an object or a subresource; names are percent-encoded. */
export function resourcePath(parts: ResourcePathParts): string {
  let path = groupVersionPath(parts.apiVersion);
  if (parts.namespace !== undefined && parts.namespace !== '') {
    path += `/namespaces/${encodeURIComponent(parts.namespace)}`;
  }
  path += `/${parts.plural}`;
  if (parts.name !== undefined) path += `/${encodeURIComponent(parts.name)}`;
  if (parts.subresource !== undefined) path += `/${parts.subresource}`;
  return path;
}

export interface ResourceKind {
  readonly plural: string;
  readonly namespaced: boolean;
}

/** Kinds op-kube writes, so their writes need no discovery request. */
const KNOWN: Readonly<Record<string, ResourceKind>> = {
  'v1/Secret': { plural: 'secrets', namespaced: true },
  'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'v1/Pod': { plural: 'pods', namespaced: true },
  'v1/Service': { plural: 'services', namespaced: true },
  'v1/Event': { plural: 'events', namespaced: true },
  'events.k8s.io/v1/Event': { plural: 'events', namespaced: true },
  'coordination.k8s.io/v1/Lease': { plural: 'leases', namespaced: true },
  'apps/v1/Deployment': { plural: 'deployments', namespaced: true },
  'apps/v1/StatefulSet': { plural: 'statefulsets', namespaced: true },
  'apps/v1/DaemonSet': { plural: 'daemonsets', namespaced: true },
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': {
    plural: 'mutatingwebhookconfigurations',
    namespaced: false,
  },
  'onepassword.com/v1/OnePasswordItem': { plural: 'onepassworditems', namespaced: true },
};

interface ApiResourceList {
  resources?: { name?: string; kind?: string; namespaced?: boolean }[];
}

const discovered = new WeakMap<KubeClient, Map<string, Promise<Map<string, ResourceKind>>>>();

/**
 * The resource of `kind` in `apiVersion`: from the table of kinds op-kube writes, else from the
 * apiserver's discovery document for that group version (fetched once per client).
 */
export async function resourceFor(
  client: KubeClient,
  apiVersion: string,
  kind: string,
): Promise<ResourceKind | undefined> {
  const known = KNOWN[`${apiVersion}/${kind}`];
  if (known !== undefined) return known;
  let byVersion = discovered.get(client);
  if (byVersion === undefined) {
    byVersion = new Map();
    discovered.set(client, byVersion);
  }
  let kinds = byVersion.get(apiVersion);
  if (kinds === undefined) {
    kinds = client
      .request<ApiResourceList>({
        method: 'GET',
        path: groupVersionPath(apiVersion),
        operation: `discover ${apiVersion}`,
      })
      .then((list) => {
        const map = new Map<string, ResourceKind>();
        for (const resource of list.resources ?? []) {
          // Subresources (`secrets/status`) share the kind of their parent.
          if (!resource.name || !resource.kind || resource.name.includes('/')) continue;
          map.set(resource.kind, {
            plural: resource.name,
            namespaced: resource.namespaced === true,
          });
        }
        return map;
      });
    byVersion.set(apiVersion, kinds);
    // A failed discovery is not remembered: the next write asks again.
    kinds.catch(() => byVersion.delete(apiVersion));
  }
  return (await kinds).get(kind);
}
