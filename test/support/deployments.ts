// Deployments that ask the operator for a Secret with 1Password's annotations, for e2e tests.
import type { V1Deployment } from '@kubernetes/client-node';

/** The annotations asking for the item at `itemPath` in a Secret named `secretName`. */
export function secretRequest(itemPath: string, secretName: string): Record<string, string> {
  return {
    'operator.1password.io/item-path': itemPath,
    'operator.1password.io/item-name': secretName,
  };
}

/** A Deployment of one placeholder container, annotated on itself or on its pod template. */
export function annotatedDeployment(
  name: string,
  annotations: Record<string, string>,
  { onPodTemplate = false } = {},
): V1Deployment {
  return {
    metadata: { name, ...(onPodTemplate ? {} : { annotations }) },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, ...(onPodTemplate ? { annotations } : {}) },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    },
  };
}
