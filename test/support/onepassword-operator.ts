// The objects 1Password's operator leaves in a cluster (facts from its sources, written here), for
// the migration tests: its finalizer, the status it writes, and its Secrets.
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';

export const ONEPASSWORD_FINALIZER = 'onepassword.com/finalizer.secret';

/** The status 1Password's operator writes on a synced item: Ready, no reason, no other field. */
export const ONEPASSWORD_READY_STATUS = {
  status: {
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-12-01T00:00:00Z' }],
  },
} as const;

export interface OnePasswordSecretSpec {
  readonly name: string;
  readonly itemPath: string;
  readonly data: Record<string, string>;
  /** Its item or Deployment: apiVersion, kind, name, uid; no controller, no blockOwnerDeletion. */
  readonly owner: V1OwnerReference;
  /** Copied from its object (a Deployment's annotations, with --enable-annotations an item's). */
  readonly annotations?: Record<string, string>;
  /** An item's labels, which 1Password's operator copies. */
  readonly labels?: Record<string, string>;
}

/** A Secret as 1Password's operator writes it (kubernetes_secrets_builder.go); `data` in clear. */
export function onePasswordSecret(spec: OnePasswordSecretSpec): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: spec.name,
      annotations: {
        ...spec.annotations,
        'operator.1password.io/item-path': spec.itemPath,
        'operator.1password.io/item-version': '1',
      },
      ...(spec.labels ? { labels: spec.labels } : {}),
      ownerReferences: [spec.owner],
    },
    data: Object.fromEntries(
      Object.entries(spec.data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
    ),
  };
}
