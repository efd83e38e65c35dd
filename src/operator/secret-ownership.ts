// The one rule both reconcilers follow to decide whether a Secret is theirs to write or delete.
//
// A Secret has exactly one owner kind: one OnePasswordItem (its controller), or the annotated
// Deployments that asked for it and the Deployments that read it (each a non-controller owner, so
// the garbage collector removes it with the last of them; readers never claim it). The first claimant keeps it; a later claimant of the other kind, or a
// Deployment asking for another item under a name Deployments already hold, is refused and told
// who holds it. Nothing is overwritten, re-owned or deleted across that line.
import type { KubernetesObject, V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import {
  FIELD_MANAGER,
  ITEM_PATH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
} from './annotations.ts';
import { formatItemPath } from './item-path.ts';

export const OPI_KIND = 'OnePasswordItem';
export const DEPLOYMENT_KIND = 'Deployment';

/** Who asks to write a Secret, and for which item. */
export interface SecretClaimant {
  readonly kind: typeof OPI_KIND | typeof DEPLOYMENT_KIND;
  readonly name: string;
  readonly uid: string;
  readonly vaultId: string;
  readonly itemId: string;
}

/** The object that holds a Secret another claimant asked for. */
export interface SecretHolder {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

export type SecretClaim =
  | { readonly kind: 'absent' }
  /** Written by op-kube for this claimant (or, for Deployments, for this item): write freely. */
  | { readonly kind: 'owned' }
  /** Left by 1Password's operator for this claimant or item: take it over. */
  | { readonly kind: 'adoptable' }
  /** Held by a claimant of op-kube's: the other OnePasswordItem or Deployment keeps it. */
  | {
      readonly kind: 'ownedByOther';
      readonly reason: 'SecretOwnedByOther';
      readonly holder: SecretHolder;
      readonly message: string;
    }
  /** Not made for any claimant (a user's own Secret, or another controller's). */
  | { readonly kind: 'foreign'; readonly reason: 'SecretNotOwned'; readonly message: string };

const CLAIMANT_KINDS: ReadonlySet<string> = new Set([OPI_KIND, DEPLOYMENT_KIND]);

function writtenByOpKube(secret: V1Secret): boolean {
  return (
    secret.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE &&
    secret.metadata.managedFields?.some((entry) => entry.manager === FIELD_MANAGER) === true
  );
}

function holderOf(reference: V1OwnerReference): SecretHolder {
  return {
    apiVersion: reference.apiVersion,
    kind: reference.kind,
    name: reference.name,
    uid: reference.uid,
  };
}

/** The holder as an object an Event can be about. */
export function holderObject(holder: SecretHolder, namespace: string): KubernetesObject {
  return {
    apiVersion: holder.apiVersion,
    kind: holder.kind,
    metadata: { name: holder.name, namespace, uid: holder.uid },
  };
}

/**
 * How `existing` relates to `claimant`. Pure: the reconcilers read the Secret, call this, and act
 * on the answer (write, adopt, or refuse with the reason).
 */
export function claimSecret(existing: V1Secret | undefined, claimant: SecretClaimant): SecretClaim {
  if (!existing) return { kind: 'absent' };
  const name = existing.metadata?.name ?? '';
  const references = existing.metadata?.ownerReferences ?? [];
  const others = references.filter((reference) => reference.uid !== claimant.uid);
  const ownClaim = references.length > others.length;
  const sameItem =
    existing.metadata?.annotations?.[ITEM_PATH_ANNOTATION] ===
    formatItemPath(claimant.vaultId, claimant.itemId);

  const refuse = (holder: V1OwnerReference): SecretClaim => ({
    kind: 'ownedByOther',
    reason: 'SecretOwnedByOther',
    holder: holderOf(holder),
    message:
      `Secret ${name} belongs to ${holder.kind} ${holder.name}; ` +
      `${claimant.kind} ${claimant.name} cannot write it (a Secret has one owner: rename one of them)`,
  });

  // Another controller (a second OnePasswordItem, or any other program) holds it.
  const controller = others.find((reference) => reference.controller === true);
  if (controller) {
    return CLAIMANT_KINDS.has(controller.kind)
      ? refuse(controller)
      : {
          kind: 'foreign',
          reason: 'SecretNotOwned',
          message: `Secret ${name} is controlled by ${controller.kind} ${controller.name}; it is left untouched`,
        };
  }
  const otherClaimants = others.filter((reference) => CLAIMANT_KINDS.has(reference.kind));
  const otherKind = otherClaimants.find((reference) => reference.kind !== claimant.kind);
  if (otherKind) return refuse(otherKind);

  if (claimant.kind === OPI_KIND) {
    // Deployments never hold a Secret as controller, but an item-path-annotated Secret they share
    // is theirs even when this OnePasswordItem asks for the same item.
    if (ownClaim) return writtenByOpKube(existing) ? { kind: 'owned' } : { kind: 'adoptable' };
    if (sameItem && otherClaimants.length === 0) return { kind: 'adoptable' };
  } else {
    // Deployments share a Secret only for the same item; the sole holder may switch its item.
    const firstOther = otherClaimants[0];
    if (firstOther && !sameItem) return refuse(firstOther);
    if (ownClaim || otherClaimants.length > 0) {
      return writtenByOpKube(existing) ? { kind: 'owned' } : { kind: 'adoptable' };
    }
    if (sameItem) return { kind: 'adoptable' };
  }
  return {
    kind: 'foreign',
    reason: 'SecretNotOwned',
    message: `Secret ${name} exists and was not created for this item; it is left untouched`,
  };
}

/**
 * True when op-kube may delete a Secret that no Deployment asks for any more: it holds only
 * Deployment owners and op-kube wrote it. A Secret with any other owner is never deleted.
 */
export function deletableWhenReleased(secret: V1Secret): boolean {
  const references = secret.metadata?.ownerReferences ?? [];
  return (
    writtenByOpKube(secret) &&
    references.length > 0 &&
    references.every((reference) => reference.kind === DEPLOYMENT_KIND && !reference.controller)
  );
}
