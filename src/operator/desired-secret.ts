// The Secret a OnePasswordItem asks for, and how an existing Secret of that name relates to it.
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import {
  AUTO_RESTART_ANNOTATION,
  ITEM_PATH_ANNOTATION,
  ITEM_VERSION_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  ONEPASSWORD_PREFIX,
  OP_KUBE_PREFIX,
  RESYNC_ANNOTATION,
} from './annotations.ts';
import { formatItemPath } from './item-path.ts';

/** spec.secretMetadata of a OnePasswordItem: what the user adds to its Secret's metadata. */
export interface SecretMetadata {
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Keys op-kube sets itself (or 1Password's tools read): never taken from spec.secretMetadata. */
export function isManagedMetadataKey(key: string): boolean {
  return (
    key.startsWith(ONEPASSWORD_PREFIX) || key.startsWith(OP_KUBE_PREFIX) || key === MANAGED_BY_LABEL
  );
}

function unmanaged(entries: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(entries ?? {}).filter(([key]) => !isManagedMetadataKey(key)),
  );
}

export interface OwnerObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
}

export interface DesiredSecretInput {
  readonly owner: OwnerObject;
  readonly secretName: string;
  readonly type: string;
  readonly vaultId: string;
  readonly itemId: string;
  readonly itemVersion: number;
  readonly data: ReadonlyMap<string, Buffer>;
  /** `--enable-annotations`: copy the owner's annotations too. */
  readonly copyAnnotations: boolean;
  /** spec.secretMetadata: over the owner's labels and copied annotations; op-kube's keys win. */
  readonly secretMetadata?: SecretMetadata;
}

export function ownerReference(owner: OwnerObject): V1OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: false,
  };
}

/**
 * The fields op-kube owns on the Secret, for server-side apply: what is not listed here (labels
 * or annotations other tools add) is left alone, and what op-kube stops listing is removed.
 */
export function desiredSecret(input: DesiredSecretInput): V1Secret {
  const ownerAnnotations = input.owner.metadata.annotations ?? {};
  const autoRestart = ownerAnnotations[AUTO_RESTART_ANNOTATION];
  // 1Password copies an item's auto-restart to its Secret even without --enable-annotations.
  const copied: Record<string, string> = input.copyAnnotations
    ? { ...ownerAnnotations }
    : autoRestart !== undefined
      ? { [AUTO_RESTART_ANNOTATION]: autoRestart }
      : {};
  delete copied[RESYNC_ANNOTATION];
  delete copied['kubectl.kubernetes.io/last-applied-configuration'];
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: input.secretName,
      namespace: input.owner.metadata.namespace,
      labels: {
        ...input.owner.metadata.labels,
        ...unmanaged(input.secretMetadata?.labels),
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
      },
      annotations: {
        ...copied,
        ...unmanaged(input.secretMetadata?.annotations),
        [ITEM_PATH_ANNOTATION]: formatItemPath(input.vaultId, input.itemId),
        [ITEM_VERSION_ANNOTATION]: String(input.itemVersion),
      },
      ownerReferences: [ownerReference(input.owner)],
    },
    type: input.type,
    data: Object.fromEntries(
      [...input.data].map(([key, value]) => [key, value.toString('base64')]),
    ),
  };
}

/** True when applying `desired` would change what the Secret holds or says about itself. */
export function secretDiffers(existing: V1Secret, desired: V1Secret): boolean {
  if ((existing.type ?? 'Opaque') !== desired.type) return true;
  if (!sameData(existing, desired)) return true;
  const has = (
    wanted: Record<string, string> | undefined,
    actual: Record<string, string> | undefined,
  ): boolean => Object.entries(wanted ?? {}).every(([key, value]) => actual?.[key] === value);
  const references = existing.metadata?.ownerReferences ?? [];
  const wantedReference = desired.metadata?.ownerReferences?.[0];
  return (
    !has(desired.metadata?.labels, existing.metadata?.labels) ||
    !has(desired.metadata?.annotations, existing.metadata?.annotations) ||
    !references.some((reference) => reference.uid === wantedReference?.uid && reference.controller)
  );
}

/** Keys the Secret holds that the desired data no longer has (left by another field manager). */
export function staleKeys(existing: V1Secret, desired: V1Secret): string[] {
  const wanted = desired.data ?? {};
  return Object.keys(existing.data ?? {}).filter((key) => !(key in wanted));
}

/** Same keys with the same bytes. */
export function sameData(existing: V1Secret, desired: V1Secret): boolean {
  const actual = existing.data ?? {};
  const wanted = desired.data ?? {};
  const keys = Object.keys(wanted);
  return (
    keys.length === Object.keys(actual).length && keys.every((key) => actual[key] === wanted[key])
  );
}

/** What the apiserver accepts in one Secret's data: 1 MiB, keys excluded. */
export const MAX_SECRET_DATA_BYTES = 1024 * 1024;

/** Why `data` cannot be stored in one Secret, or undefined when it can. */
export function secretSizeProblem(
  data: ReadonlyMap<string, Buffer>,
  secretName: string,
): string | undefined {
  let bytes = 0;
  for (const value of data.values()) bytes += value.length;
  if (bytes <= MAX_SECRET_DATA_BYTES) return undefined;
  // The largest keys, so the message says which field, file or template to look at.
  const largest = [...data]
    .sort(([, a], [, b]) => b.length - a.length)
    .slice(0, 3)
    .map(([key, value]) => `${key} ${value.length}`)
    .join(', ');
  return (
    `the item's data is ${bytes} bytes, over the ${MAX_SECRET_DATA_BYTES}-byte (1 MiB) limit of a ` +
    `Secret (largest keys, in bytes: ${largest}); Secret ${secretName} keeps its last data`
  );
}
