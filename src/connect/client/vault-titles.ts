// Remembers which vault id a title resolved to, so item lookups by vault title skip the vault list.
import type { Vault } from '../models.ts';
import { pickOldestByTitle } from './lookup.ts';

/** Keys are lower-cased titles, as titles match case-insensitively. */
export class VaultTitleCache {
  readonly #ids = new Map<string, string>();

  get(title: string): string | undefined {
    return this.#ids.get(title.toLowerCase());
  }

  remember(title: string, vaultId: string): void {
    this.#ids.set(title.toLowerCase(), vaultId);
  }

  /** Drops every title that resolved to a vault the server no longer knows. */
  forgetVault(vaultId: string): void {
    for (const [title, id] of this.#ids) if (id === vaultId) this.#ids.delete(title);
  }

  /**
   * Re-applies the title rule to a complete vault list: a renamed vault, or an older vault that
   * took a cached title, is then picked up without waiting for a 404 that may never come.
   */
  refresh(vaults: readonly Vault[]): void {
    for (const title of this.#ids.keys()) {
      const vault = pickOldestByTitle(vaults, title, (candidate) => candidate.name);
      if (vault === undefined) this.#ids.delete(title);
      else this.#ids.set(title, vault.id);
    }
  }
}
