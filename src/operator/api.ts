// The OnePasswordItem API (onepassword.com/v1, as 1Password's operator defines it): its names and types.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Condition } from '../kube/conditions.ts';
import type { SecretMetadata } from './desired-secret.ts';
import type { KeysSpec } from './secret-keys.ts';

export const OPI_GROUP = 'onepassword.com';
export const OPI_VERSION = 'v1';
export const OPI_PLURAL = 'onepassworditems';

export interface OnePasswordItemStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  itemVersion?: number;
  lastSyncTime?: string;
  secretName?: string;
}

export interface OnePasswordItem extends KubernetesObject {
  type?: string;
  /** itemPath as 1Password's operator has it; op-kube's optional keys, includeOtherKeys, secretMetadata, extraItems. */
  spec?: {
    itemPath?: string;
    secretMetadata?: SecretMetadata;
    /** A Go duration (30s, 5m): the items are checked at least this often. */
    refreshInterval?: string;
    /** More items into the same Secret, each with its own keys. */
    extraItems?: readonly ({ itemPath?: string } & KeysSpec)[];
  } & KeysSpec;
  status?: OnePasswordItemStatus;
}
