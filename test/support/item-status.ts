// A OnePasswordItem's status as the operator wrote it, read as the plane's admin, for e2e tests.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { adminClient, eventually } from './cluster.ts';

/** One status condition; each field absent until the operator sets it. */
export interface ItemCondition {
  readonly type?: string;
  readonly status?: string;
  readonly reason?: string;
  readonly message?: string;
}

export interface ItemStatus {
  readonly conditions?: ItemCondition[];
  readonly itemVersion?: number;
  readonly lastSyncTime?: string;
  readonly secretName?: string;
  readonly observedGeneration?: number;
}

/** The status of OnePasswordItem `namespace/name`; {} before the operator wrote one. */
export async function itemStatus(namespace: string, name: string): Promise<ItemStatus> {
  const object = (await adminClient(CustomObjectsApi).getNamespacedCustomObject({
    group: 'onepassword.com',
    version: 'v1',
    namespace,
    plural: 'onepassworditems',
    name,
  })) as { status?: ItemStatus };
  return object.status ?? {};
}

/** Its Ready condition; {} before the operator set one. */
export async function readyCondition(namespace: string, name: string): Promise<ItemCondition> {
  const { conditions } = await itemStatus(namespace, name);
  return conditions?.find((condition) => condition.type === 'Ready') ?? {};
}

/**
 * Waits until the Ready condition's reason is `reasons` (or one of them; any reason when none is
 * given) and returns the condition.
 */
export function readyWith(
  namespace: string,
  name: string,
  reasons: string | readonly string[] = [],
  { timeoutMs = 30_000 } = {},
): Promise<ItemCondition> {
  const wanted: readonly string[] = typeof reasons === 'string' ? [reasons] : reasons;
  return eventually(
    `${namespace}/${name} Ready ${wanted.length > 0 ? wanted.join(' or ') : 'with a reason'}`,
    async () => {
      const condition = await readyCondition(namespace, name);
      if (!condition.reason) return undefined;
      return wanted.length === 0 || wanted.includes(condition.reason) ? condition : undefined;
    },
    { timeoutMs },
  );
}
