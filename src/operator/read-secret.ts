// Reads one Secret straight from the apiserver (for names the managed-Secret cache cannot know).
import type { V1Secret } from '@kubernetes/client-node';
import { isKubeApiError } from '../kube/client/api-error.ts';
import type { KubeClient } from '../kube/client/client.ts';
import { resourcePath } from '../kube/client/resources.ts';

/** The Secret, or undefined when there is none. */
export async function readSecret(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<V1Secret | undefined> {
  try {
    return await client.request<V1Secret>({
      method: 'GET',
      path: resourcePath({ apiVersion: 'v1', plural: 'secrets', namespace, name }),
      operation: `get v1 Secret ${namespace}/${name}`,
    });
  } catch (error) {
    if (isKubeApiError(error, 404)) return undefined;
    throw error;
  }
}
