// Items from Connect (or 1Password's SDK in service-account mode) for the reconcilers: each item
// fetched once per version however many OnePasswordItems use it, and change detection that costs
// one request per idle poll.
import type { FullItem, Vault } from '../connect/index.ts';
import { ConnectError, isConnectError } from '../connect/index.ts';
import type { ItemPath } from './item-path.ts';

export interface ItemRef {
  readonly vaultId: string;
  readonly itemId: string;
}

export interface SyncedItem {
  readonly item: FullItem;
  /** File id → content. */
  readonly files: ReadonlyMap<string, Buffer>;
}

export function refKey(ref: ItemRef): string {
  return `${ref.vaultId}/${ref.itemId}`;
}

/**
 * Where items come from, in Connect's item model: a ConnectClient, or the service-account backend
 * (sdk-items.ts), which maps 1Password's SDK types to this model so the mapping to Secret data is
 * one and the same. Failures are ConnectErrors either way (classifyFailure reads their reason).
 */
export interface ItemBackend {
  /** Ids or titles, by 1Password's lookup rules for the mode. */
  resolveItem(vaultIdOrTitle: string, itemIdOrTitle: string): Promise<FullItem>;
  listVaults(): Promise<readonly Vault[]>;
  /** Every item of the vault with its version. */
  listItems(vaultId: string): Promise<readonly { readonly id: string; readonly version: number }[]>;
  getItem(vaultId: string, itemId: string): Promise<FullItem>;
  getFileContent(
    vaultId: string,
    itemId: string,
    fileId: string,
    options: { readonly expectedSize?: number },
  ): Promise<Buffer>;
}

interface CacheEntry {
  readonly synced: Promise<SyncedItem>;
  /** Set once the poller saw a newer version: the next get() fetches again. */
  stale: boolean;
}

export interface ItemSourceOptions {
  /** Fetches items and resolves paths; its retries ride out a blip during a sync. */
  readonly client: ItemBackend;
  /**
   * Makes the change-detection calls. Give it few retries and a short timeout: a poll that fails
   * is simply made again, and a hung Connect must be reported within seconds, not after every
   * retry of every attempt has timed out. Default: `client`.
   */
  readonly pollClient?: ItemBackend;
}

export class ItemSource {
  readonly #client: ItemBackend;
  readonly #pollClient: ItemBackend;
  /** itemPath (as written) → ids, so a title lookup is paid once. */
  readonly #resolved = new Map<string, Promise<ItemRef>>();
  readonly #items = new Map<string, CacheEntry>();
  readonly #vaultVersions = new Map<string, number>();
  readonly #itemVersions = new Map<string, number>();
  /** Items whose last fetch failed: every poll reports them until a fetch succeeds. */
  readonly #failedFetches = new Set<string>();
  /** Vaults whose item list could not be read: the next poll lists them whatever their version. */
  readonly #relist = new Set<string>();
  /** Vaults a poll listed before and a later poll no longer lists: their items are not served. */
  readonly #vanishedVaults = new Set<string>();
  #polls = 0;
  #pollFailure: unknown;
  /** The last vault list (each poll makes one), for the vault access policy. */
  #vaultList: { readonly vaults: readonly Vault[]; readonly at: number } | undefined;
  #vaultListing: Promise<readonly Vault[]> | undefined;

  constructor(options: ItemSourceOptions) {
    this.#client = options.client;
    this.#pollClient = options.pollClient ?? options.client;
  }

  /**
   * Why the last poll failed (undefined after a successful one). While it is set, cached items may
   * be stale: reconcilers still serve them, so no Secret loses data, but report this failure.
   */
  get pollFailure(): unknown {
    return this.#pollFailure;
  }

  /** Ids for a path of ids or titles (1Password's lookup rules, in the client). */
  resolve(path: ItemPath): Promise<ItemRef> {
    const key = `${path.vault}\u0000${path.item}`;
    let pending = this.#resolved.get(key);
    if (!pending) {
      pending = this.#client.resolveItem(path.vault, path.item).then((item) => {
        this.#remember({ item, files: new Map() }, false);
        return { vaultId: item.vault.id, itemId: item.id };
      });
      this.#resolved.set(key, pending);
      pending.catch(() => this.#resolved.delete(key));
    }
    return pending;
  }

  /**
   * The vaults the token reaches (metadata only, no item), as the last poll listed them, or listed
   * now when that list is older than `maxAgeMs` or there is none yet. Callers share one request.
   */
  vaults(maxAgeMs = Number.POSITIVE_INFINITY): Promise<readonly Vault[]> {
    const known = this.#vaultList;
    if (known && Date.now() - known.at <= maxAgeMs) return Promise.resolve(known.vaults);
    this.#vaultListing ??= this.#client
      .listVaults()
      .then((vaults) => {
        this.#vaultList = { vaults, at: Date.now() };
        return vaults;
      })
      .finally(() => (this.#vaultListing = undefined));
    return this.#vaultListing;
  }

  /** The item and its files at their current version; concurrent callers share one fetch. */
  get(ref: ItemRef): Promise<SyncedItem> {
    // A cached copy of an item in a vault that is gone must not keep reporting Synced.
    if (this.#vanishedVaults.has(ref.vaultId)) return Promise.reject(vanished(ref.vaultId));
    const key = refKey(ref);
    const cached = this.#items.get(key);
    if (cached && !cached.stale) return cached.synced;
    const synced = this.#fetch(ref);
    this.#items.set(key, { synced, stale: false });
    synced.then(
      (value) => {
        this.#itemVersions.set(key, value.item.version);
        this.#failedFetches.delete(key);
      },
      (error: unknown) => {
        // Nothing of a failed fetch is kept (a malformed answer least of all).
        if (this.#items.get(key)?.synced === synced) this.#items.delete(key);
        this.#failedFetches.add(key);
        if (isConnectError(error) && error.reason === 'NotFound') this.forgetResolutions();
      },
    );
    return synced;
  }

  /** Forces the next get() of `ref` to fetch from Connect (a user asked for a re-sync). */
  invalidate(ref: ItemRef): void {
    const entry = this.#items.get(refKey(ref));
    if (entry) entry.stale = true;
  }

  /** A path that resolved to an item that is gone may now name another one: look it up again. */
  forgetResolutions(): void {
    this.#resolved.clear();
  }

  async #fetch(ref: ItemRef): Promise<SyncedItem> {
    const item = await this.#client.getItem(ref.vaultId, ref.itemId);
    const files = new Map<string, Buffer>();
    for (const file of item.files ?? []) {
      const content = await this.#client.getFileContent(ref.vaultId, ref.itemId, file.id, {
        expectedSize: file.size,
      });
      files.set(file.id, content);
    }
    return { item, files };
  }

  #remember(synced: SyncedItem, complete: boolean): void {
    const key = refKey({ vaultId: synced.item.vault.id, itemId: synced.item.id });
    // A resolution brings the item without file contents; only a complete fetch may be served.
    if (complete || !(synced.item.files ?? []).length) {
      this.#items.set(key, { synced: Promise.resolve(synced), stale: false });
    }
    this.#itemVersions.set(key, synced.item.version);
  }

  /**
   * One `GET /v1/vaults`; only vaults whose contentVersion moved are listed, and only watched items
   * whose version moved are reported (and marked stale). Every `fullCheckEvery`-th poll also lists
   * every watched vault, in case a server did not bump a contentVersion.
   */
  async poll(watched: Iterable<ItemRef>, fullCheckEvery: number): Promise<ItemRef[]> {
    try {
      const changed = await this.#poll(watched, fullCheckEvery);
      this.#pollFailure = undefined;
      return changed;
    } catch (error) {
      this.#pollFailure = error;
      throw error;
    }
  }

  async #poll(watched: Iterable<ItemRef>, fullCheckEvery: number): Promise<ItemRef[]> {
    this.#polls += 1;
    const fullCheck = this.#polls % fullCheckEvery === 0;
    const byVault = new Map<string, ItemRef[]>();
    for (const ref of watched) byVault.set(ref.vaultId, [...(byVault.get(ref.vaultId) ?? []), ref]);

    const vaults = await this.#pollClient.listVaults();
    this.#vaultList = { vaults, at: Date.now() };
    const changed: ItemRef[] = [];
    const listed = new Set(vaults.map((vault) => vault.id));
    // A vault deleted (or taken out of the token's reach) is in no list, so its items would never
    // be looked at again: report them once when it goes, and once more if it comes back.
    for (const [vaultId, refs] of byVault) {
      const wasListed = this.#vaultVersions.has(vaultId);
      if (!listed.has(vaultId) && wasListed && !this.#vanishedVaults.has(vaultId)) {
        this.#vanishedVaults.add(vaultId);
        this.forgetResolutions();
        changed.push(...refs);
      }
    }
    for (const vaultId of this.#vanishedVaults) {
      if (!listed.has(vaultId)) continue;
      this.#vanishedVaults.delete(vaultId);
      this.#vaultVersions.delete(vaultId);
      for (const ref of byVault.get(vaultId) ?? []) {
        const entry = this.#items.get(refKey(ref));
        if (entry) entry.stale = true;
        changed.push(ref);
      }
    }
    for (const vault of vaults) {
      const refs = byVault.get(vault.id);
      const previous = this.#vaultVersions.get(vault.id);
      this.#vaultVersions.set(vault.id, vault.contentVersion);
      const moved = previous !== vault.contentVersion || this.#relist.has(vault.id);
      if (!refs || (!fullCheck && !moved)) continue;
      // Recorded before the list is read: a list that fails (or is malformed) is read again next time.
      this.#relist.add(vault.id);
      const versions = new Map(
        (await this.#pollClient.listItems(vault.id)).map((summary) => [
          summary.id,
          summary.version,
        ]),
      );
      this.#relist.delete(vault.id);
      for (const ref of refs) {
        const key = refKey(ref);
        const now = versions.get(ref.itemId);
        if (now === this.#itemVersions.get(key)) continue;
        const entry = this.#items.get(key);
        if (entry) entry.stale = true;
        if (now === undefined) this.forgetResolutions();
        changed.push(ref);
      }
    }
    // A failed fetch left its Secret at the last good data; try again at every poll until one
    // succeeds, whatever the versions say (the version that failed was already seen).
    for (const refs of byVault.values()) {
      for (const ref of refs) {
        const retry =
          this.#failedFetches.has(refKey(ref)) && !this.#vanishedVaults.has(ref.vaultId);
        if (retry && !changed.includes(ref)) changed.push(ref);
      }
    }
    return changed;
  }
}

function vanished(vaultId: string): ConnectError {
  // NotFound on the vault list is what classifyFailure reports as VaultNotFound.
  return new ConnectError(
    { status: 404, method: 'GET', endpoint: '/v1/vaults' },
    `vault ${vaultId} is no longer listed by Connect (deleted, or no longer shared with the token); the Secret keeps its last data`,
  );
}
