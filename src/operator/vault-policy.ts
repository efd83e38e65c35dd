// The vault access policy as pure rules: which vaults a namespace may read (its
// `op-kube.io/allowed-vaults` annotation and the operator's --vault-policy), and whether one
// itemPath's vault is among them, decided before any item is read.
import { looksLikeId, pickOldestByTitle, type Vault } from '../connect/index.ts';
import { ALLOWED_VAULTS_ANNOTATION } from './annotations.ts';

// The policy names live with the flags (config.ts), which must not load the Connect client.
import type { VaultPolicy } from './vault-policy-names.ts';
export { VAULT_POLICIES, type VaultPolicy } from './vault-policy-names.ts';

export type AllowedVaults =
  | { readonly kind: 'all'; readonly why: 'wildcard' | 'unlisted' }
  /** Vault ids or names as the admin wrote them: trimmed, non-empty, each once. */
  | { readonly kind: 'listed'; readonly entries: readonly string[] }
  | { readonly kind: 'none'; readonly why: 'empty' | 'unlisted' | 'no-namespace' };

/** The vault metadata a decision needs (from `GET /v1/vaults`, never from an item). */
export type VaultIdentity = Pick<Vault, 'id' | 'name' | 'createdAt'>;

export type VaultDecision =
  /** `vaultId`: look the item up in this vault only (the vault the decision was made about). */
  | { readonly verdict: 'allow'; readonly vaultId?: string }
  | { readonly verdict: 'deny'; readonly message: string }
  /** The reference is not on the list as written: only the vault list can tell. */
  | { readonly verdict: 'needs-vaults' };

/** Entries shown in a denial; a long list is cut so Events and conditions stay short. */
const SHOWN_ENTRIES = 5;

/**
 * What a namespace may use. `annotation` undefined: the namespace has none; null: there is no such
 * namespace. Entries are separated by commas (a vault whose name holds a comma is listed by its id);
 * a lone `*` allows every vault; an annotation that lists nothing allows nothing.
 */
export function allowedVaults(
  annotation: string | null | undefined,
  policy: VaultPolicy,
): AllowedVaults {
  if (annotation === null) return { kind: 'none', why: 'no-namespace' };
  if (annotation === undefined) {
    return policy === 'allow-unlisted'
      ? { kind: 'all', why: 'unlisted' }
      : { kind: 'none', why: 'unlisted' };
  }
  const entries = new Map<string, string>();
  for (const raw of annotation.split(',')) {
    const entry = raw.trim();
    if (entry === '*') return { kind: 'all', why: 'wildcard' };
    if (entry && !entries.has(fold(entry))) entries.set(fold(entry), entry);
  }
  return entries.size === 0
    ? { kind: 'none', why: 'empty' }
    : { kind: 'listed', entries: [...entries.values()] };
}

/**
 * Whether `reference` (an itemPath's vault part: an id or a title) may be used. A reference written
 * as an entry is allowed as is: the Connect lookup only lands on a vault whose id or title is that
 * reference, and an entry allows exactly the vaults whose id or name it is (case-insensitively, as
 * 1Password matches titles). Any other reference is judged on the vault the lookup would land on,
 * found in `vaults` by 1Password's rules (an id-like reference as an id first, then the oldest vault
 * of that title), and the item is then looked up in that vault only, so a vault list that changed
 * since cannot redirect the read. A reference that matches no vault is denied with the same message
 * as a listed vault that is not allowed, so a denial never tells a tenant which vaults exist.
 */
export function decideVault(input: {
  readonly namespace: string;
  readonly allowed: AllowedVaults;
  readonly reference: string;
  readonly vaults?: readonly VaultIdentity[];
}): VaultDecision {
  const { allowed, reference, vaults } = input;
  if (allowed.kind === 'all') return { verdict: 'allow' };
  if (allowed.kind === 'none') return deny(input.namespace, allowed, `vault ${quote(reference)}`);
  if (allowed.entries.some((entry) => fold(entry) === fold(reference))) return { verdict: 'allow' };
  if (vaults === undefined) return { verdict: 'needs-vaults' };
  const target =
    (looksLikeId(reference) ? vaults.find((vault) => vault.id === reference) : undefined) ??
    pickOldestByTitle(vaults, reference, (vault) => vault.name);
  if (target !== undefined && isListed(allowed.entries, target)) {
    return { verdict: 'allow', vaultId: target.id };
  }
  return deny(input.namespace, allowed, `vault ${quote(reference)}`);
}

/**
 * The same rule for the vault an item actually resolved to, checked once more before the item is
 * used: `vaultId` undefined in `pinned` means the reference was allowed as written.
 */
export function confirmVault(input: {
  readonly namespace: string;
  readonly allowed: AllowedVaults;
  readonly reference: string;
  readonly pinned: string | undefined;
  readonly vaultId: string;
  readonly vaults?: readonly VaultIdentity[];
}): VaultDecision {
  const { allowed, pinned, vaultId, vaults } = input;
  if (allowed.kind === 'all') return { verdict: 'allow' };
  if (allowed.kind === 'none')
    return deny(input.namespace, allowed, `vault ${quote(input.reference)}`);
  if (pinned !== undefined && pinned === vaultId) return { verdict: 'allow' };
  if (allowed.entries.some((entry) => fold(entry) === fold(vaultId))) return { verdict: 'allow' };
  if (vaults === undefined) return { verdict: 'needs-vaults' };
  const vault = vaults.find((candidate) => candidate.id === vaultId);
  if (vault !== undefined && isListed(allowed.entries, vault)) return { verdict: 'allow' };
  return deny(input.namespace, allowed, `vault ${quote(input.reference)} resolved to a vault that`);
}

function isListed(entries: readonly string[], vault: VaultIdentity): boolean {
  return entries.some(
    (entry) => fold(entry) === fold(vault.id) || fold(entry) === fold(vault.name),
  );
}

/** Case-insensitive as 1Password's title lookups (and lower-case ids) are. */
function fold(text: string): string {
  return text.toLowerCase();
}

function quote(text: string): string {
  return JSON.stringify(text);
}

// Names only what the tenant wrote and what the admin set: never a vault the lookup found.
function deny(
  namespace: string,
  allowed: Exclude<AllowedVaults, { kind: 'all' }>,
  subject: string,
): VaultDecision {
  let why: string;
  if (allowed.kind === 'listed') {
    const shown = allowed.entries.slice(0, SHOWN_ENTRIES).join(', ');
    const more =
      allowed.entries.length > SHOWN_ENTRIES ? `, … (${allowed.entries.length} in all)` : '';
    why = `its ${ALLOWED_VAULTS_ANNOTATION} annotation allows ${shown}${more}`;
  } else if (allowed.why === 'empty') {
    why = `its ${ALLOWED_VAULTS_ANNOTATION} annotation allows no vault`;
  } else if (allowed.why === 'unlisted') {
    why = `it has no ${ALLOWED_VAULTS_ANNOTATION} annotation and the operator runs with --vault-policy=deny-unlisted`;
  } else {
    why = 'the namespace was not found';
  }
  return {
    verdict: 'deny',
    message: `${subject} is not allowed in namespace ${namespace}: ${why}`,
  };
}
