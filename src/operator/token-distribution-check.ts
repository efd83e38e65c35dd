// The token distribution's label selector, checked once by the apiserver at start-up.
import { isKubeApiError } from '../kube/client/api-error.ts';
import type { KubeClient } from '../kube/client/client.ts';
import { ConfigError } from '../cli/errors.ts';

/**
 * Lists at most one Namespace with the selector (with WATCH_NAMESPACE, the first watched one by
 * metadata.name, which is what RBAC allows): a selector the apiserver cannot parse is a 400.
 * @throws ConfigError naming --token-distribution-selector
 */
export async function checkNamespaceSelector(
  kube: KubeClient,
  selector: string,
  watchNamespaces: readonly string[],
): Promise<void> {
  const [first] = watchNamespaces;
  try {
    await kube.request({
      method: 'GET',
      path: '/api/v1/namespaces',
      query: {
        labelSelector: selector,
        limit: '1',
        ...(first === undefined ? {} : { fieldSelector: `metadata.name=${first}` }),
      },
      operation: 'list v1 Namespaces (token distribution selector)',
    });
  } catch (error) {
    if (isKubeApiError(error, 400)) {
      throw new ConfigError(
        '--token-distribution-selector',
        `the apiserver refuses ${JSON.stringify(selector)} as a label selector: ${error instanceof Error ? error.message : ''}`,
      );
    }
    throw error;
  }
}
