// Where a reconciler applies the ownership rule: a refused claim becomes an Event on the holder and a SyncBlockedError.
import type { V1Secret } from '@kubernetes/client-node';
import { SyncBlockedError } from './failure.ts';
import type { EventSink } from './ports.ts';
import { claimSecret, holderObject, type SecretClaimant } from './secret-ownership.ts';

/**
 * How `claimant` may write the Secret named `secretName` in `namespace`: `absent`, `owned` or
 * `adoptable`. A Secret held by another claimant gets a Warning Event naming this one (the caller
 * reports on its own object).
 * @throws SyncBlockedError `SecretOwnedByOther` or `SecretNotOwned`
 */
export function claimOrRefuse(
  existing: V1Secret | undefined,
  claimant: SecretClaimant,
  where: {
    readonly namespace: string;
    readonly secretName: string;
    readonly events: EventSink;
  },
): 'absent' | 'owned' | 'adoptable' {
  const claim = claimSecret(existing, claimant);
  switch (claim.kind) {
    case 'ownedByOther':
      where.events.warning(
        holderObject(claim.holder, where.namespace),
        claim.reason,
        `${claimant.kind} ${claimant.name} also asks for Secret ${where.secretName}, which stays with this ${claim.holder.kind}`,
      );
      throw new SyncBlockedError(claim.reason, claim.message);
    case 'foreign':
      throw new SyncBlockedError(claim.reason, claim.message);
    default:
      return claim.kind;
  }
}
