// Enforces the vault access policy where items are looked up: reads the namespace's annotation and
// the vault list (metadata only), asks the rules in vault-policy.ts, and resolves an itemPath only
// through a vault the namespace may use.
import type { Vault } from '../connect/index.ts';
import { ALLOWED_VAULTS_ANNOTATION } from './annotations.ts';
import { SyncBlockedError } from './failure.ts';
import type { ItemPath } from './item-path.ts';
import type { ItemRef } from './item-source.ts';
import {
  allowedVaults,
  confirmVault,
  decideVault,
  type VaultDecision,
  type VaultIdentity,
  type VaultPolicy,
} from './vault-policy.ts';

/** Where a namespace's annotations come from (NamespaceWatch). */
export interface NamespaceAnnotations {
  annotation(namespace: string, annotation: string): Promise<string | null | undefined>;
}

/** What the gate needs of ItemSource. */
export interface VaultSource {
  resolve(path: ItemPath): Promise<ItemRef>;
  vaults(maxAgeMs?: number): Promise<readonly Vault[]>;
}

export interface VaultGateOptions {
  readonly policy: VaultPolicy;
  readonly namespaces: NamespaceAnnotations;
  /** The namespace's source (its own token's with --token-source=namespace); may throw NoTokenError. */
  readonly sourceFor: (namespace: string) => VaultSource;
}

/**
 * A denial judged on a vault list older than this is judged once more on a new list (a vault
 * created or renamed since the last poll); so at most one extra vault list per this period.
 */
export const FRESH_VAULT_LIST_MS = 10_000;

export class VaultGate {
  readonly #options: VaultGateOptions;

  constructor(options: VaultGateOptions) {
    this.#options = options;
  }

  /**
   * The ids of the item at `path`, looked up only when `namespace` may use its vault: for a vault it
   * may not use, nothing but the vault list is ever asked of Connect.
   * @throws SyncBlockedError `VaultNotAllowed`, after `onDenied` (so the caller stops watching)
   */
  async resolve(namespace: string, path: ItemPath, onDenied: () => void): Promise<ItemRef> {
    const { namespaces, policy } = this.#options;
    let source: VaultSource;
    try {
      source = this.#options.sourceFor(namespace);
    } catch (error) {
      // No token: nothing of this namespace is watched until one comes.
      onDenied();
      throw error;
    }
    const allowed = allowedVaults(
      await namespaces.annotation(namespace, ALLOWED_VAULTS_ANNOTATION),
      policy,
    );
    const reference = path.vault;
    const admitted = await this.#decide(source, (vaults) =>
      decideVault({ namespace, allowed, reference, ...(vaults ? { vaults } : {}) }),
    );
    if (admitted.verdict !== 'allow') throw denied(admitted, onDenied);
    const pinned = admitted.vaultId;
    const ref = await source.resolve(pinned === undefined ? path : { ...path, vault: pinned });
    const confirmed = await this.#decide(source, (vaults) =>
      confirmVault({
        namespace,
        allowed,
        reference,
        pinned,
        vaultId: ref.vaultId,
        ...(vaults ? { vaults } : {}),
      }),
    );
    if (confirmed.verdict !== 'allow') throw denied(confirmed, onDenied);
    return ref;
  }

  /** The rule without the vault list, else with the known list, else (on a denial) a new one. */
  async #decide(
    source: VaultSource,
    rule: (vaults: readonly VaultIdentity[] | undefined) => VaultDecision,
  ): Promise<VaultDecision> {
    const first = rule(undefined);
    if (first.verdict !== 'needs-vaults') return first;
    const known = rule(await source.vaults());
    return known.verdict === 'deny' ? rule(await source.vaults(FRESH_VAULT_LIST_MS)) : known;
  }
}

function denied(decision: VaultDecision, onDenied: () => void): SyncBlockedError {
  onDenied();
  // With a vault list every rule decides; anything else is refused all the same.
  const message =
    decision.verdict === 'deny'
      ? decision.message
      : 'the vault could not be checked against the vault access policy';
  return new SyncBlockedError('VaultNotAllowed', message);
}
