// Reads one Secret straight from the apiserver (for names the managed-Secret cache cannot know).
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { isKubeApiError, kubeCall } from '../kube/apply.ts';

/** The Secret, or undefined when there is none. */
export async function readSecret(
  core: CoreV1Api,
  namespace: string,
  name: string,
): Promise<V1Secret | undefined> {
  try {
    return await kubeCall(`get v1 Secret ${namespace}/${name}`, () =>
      core.readNamespacedSecret({ namespace, name }),
    );
  } catch (error) {
    if (isKubeApiError(error, 404)) return undefined;
    throw error;
  }
}
