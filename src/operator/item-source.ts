// Items from Connect for the reconcilers: each item fetched once per version however many
// OnePasswordItems use it, and change detection that costs one request per idle poll.
import type { ConnectClient, FullItem } from '../connect/index.ts';
import { isConnectError } from '../connect/index.ts';
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

interface CacheEntry {
  readonly synced: Promise<SyncedItem>;
  /** Set once the poller saw a newer version: the next get() fetches again. */
  stale: boolean;
}

export class ItemSource {
  readonly #client: ConnectClient;
  /** itemPath (as written) → ids, so a title lookup is paid once. */
  readonly #resolved = new Map<string, Promise<ItemRef>>();
  readonly #items = new Map<string, CacheEntry>();
  readonly #vaultVersions = new Map<string, number>();
  readonly #itemVersions = new Map<string, number>();
  #polls = 0;
  #pollFailure: unknown;

  constructor(client: ConnectClient) {
    this.#client = client;
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

  /** The item and its files at their current version; concurrent callers share one fetch. */
  get(ref: ItemRef): Promise<SyncedItem> {
    const key = refKey(ref);
    const cached = this.#items.get(key);
    if (cached && !cached.stale) return cached.synced;
    const synced = this.#fetch(ref);
    this.#items.set(key, { synced, stale: false });
    synced.then(
      (value) => this.#itemVersions.set(key, value.item.version),
      (error: unknown) => {
        if (this.#items.get(key)?.synced === synced) this.#items.delete(key);
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
      files.set(file.id, await this.#client.getFileContent(ref.vaultId, ref.itemId, file.id));
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

    const vaults = await this.#client.listVaults();
    const changed: ItemRef[] = [];
    for (const vault of vaults) {
      const refs = byVault.get(vault.id);
      const previous = this.#vaultVersions.get(vault.id);
      this.#vaultVersions.set(vault.id, vault.contentVersion);
      if (!refs || (!fullCheck && previous === vault.contentVersion)) continue;
      const versions = new Map(
        (await this.#client.listItems(vault.id)).map((summary) => [summary.id, summary.version]),
      );
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
    return changed;
  }
}
