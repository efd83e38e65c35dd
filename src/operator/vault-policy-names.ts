// The values of --vault-policy, apart from the rules (vault-policy.ts) so that the flag definitions
// can name them without loading the Connect client those rules use.
export const VAULT_POLICIES = ['allow-unlisted', 'deny-unlisted'] as const;
/** What a namespace without the annotation may use: every vault (1Password's behaviour) or none. */
export type VaultPolicy = (typeof VAULT_POLICIES)[number];
