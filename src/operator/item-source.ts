// Items from Connect (or 1Password's SDK in service-account mode) for the reconcilers: each item
// fetched once per version however many OnePasswordItems use it, and change detection that costs
// one request per idle poll.
import type { FullItem, Vault } from '../connect/index.ts';
import { ConnectError, isConnectError, looksLikeId, pickOldestByTitle } from '../connect/index.ts';
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
  /** Every item of the vault with its version (and, from Connect, its title and creation time). */
  listItems(vaultId: string): Promise<readonly ItemListEntry[]>;
  /**
   * A vault by id or title (1Password's rules). Connect's client has it; with it, a burst of item
   * titles is resolved from one list of each vault instead of one filtered lookup per item.
   */
  resolveVault?(vaultIdOrTitle: string): Promise<Vault>;
  getItem(vaultId: string, itemId: string): Promise<FullItem>;
  getFileContent(
    vaultId: string,
    itemId: string,
    fileId: string,
    options: { readonly expectedSize?: number },
  ): Promise<Buffer>;
}

export interface ItemListEntry {
  readonly id: string;
  /** Negative: changed since the item was last read, version not known (service-account mode). */
  readonly version: number;
  readonly title?: string;
  readonly createdAt?: string;
}

type TitleMatch = { readonly id: string; readonly title: string; readonly createdAt: string };
type TitleIndex = ReadonlyMap<string, readonly TitleMatch[]>;

function indexByTitle(list: readonly ItemListEntry[]): TitleIndex | undefined {
  const index = new Map<string, TitleMatch[]>();
  for (const { id, title, createdAt } of list) {
    if (title === undefined || createdAt === undefined) return undefined;
    const key = title.toLowerCase();
    const matches = index.get(key);
    if (matches) matches.push({ id, title, createdAt });
    else index.set(key, [{ id, title, createdAt }]);
  }
  return index;
}

/** How long one list of a vault's items answers title lookups (a sync burst), at most. */
const TITLE_LIST_TTL_MS = 5_000;

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
  /**
   * The vault's contentVersion as polled before the fetch that recorded an item's version started
   * (or by the poll that listed that version): a pair that held at one moment.
   */
  readonly #itemVaultVersions = new Map<string, number>();
  /**
   * Vault id → contentVersion as the last poll's vault list read them. A fetch takes the map as it
   * is when it starts: its answer, read by Connect later, is paired with versions read before.
   * Paired with a newer list (one taken while its answer was on the way), a version read before an
   * edit would look like the item changed at that list's contentVersion: a false alarm.
   */
  #polled: ReadonlyMap<string, number> = new Map();
  /**
   * Vaults where a fetch found an item newer than the version recorded, with the contentVersion
   * polled at that record: a next poll still listing that contentVersion proves the server does not
   * move it on every change.
   */
  readonly #suspects = new Map<string, number>();
  /** Set once Connect was seen not to move a contentVersion: from then on the full checks run. */
  #contentVersionDistrusted = false;
  /** Vault id → one list of its items with titles, shared by the title lookups of a burst. */
  readonly #titleLists = new Map<
    string,
    { readonly at: number; readonly list: Promise<TitleIndex | undefined> }
  >();
  /** Vault reference (id or title) → id, for the title lookups of a burst. */
  readonly #vaultIds = new Map<string, { readonly at: number; readonly id: Promise<string> }>();
  /**
   * Items a fetch or a resolution found newer than the version recorded: whoever made it serves the
   * new version, but the item's other users (OnePasswordItems, Deployments) still hold the older
   * one, and the next poll finds the version it lists already recorded. It reports them instead: a
   * poll that started after the record, so it watches every user registered by then.
   */
  #fetchedNewer = new Set<string>();
  /**
   * Versions a poll listed and reported (every user was told), until a fetch records them: fetching
   * one of them is no news to report again.
   */
  readonly #reportedVersions = new Map<string, number>();
  /** Vaults with an item whose version was recorded: listed when they move, watched or not. */
  readonly #vaultsWithItems = new Set<string>();
  /**
   * Vault id → item id → version, where the vault's last listing found a version newer than the
   * one recorded (or none recorded): an answer read before that listing and landing after it with
   * an older version is known to be outdated.
   */
  readonly #listed = new Map<string, Map<string, number>>();
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
      const polled = this.#polled;
      pending = this.#resolveItem(path.vault, path.item).then((item) => {
        this.#remember({ item, files: new Map() }, false, polled);
        return { vaultId: item.vault.id, itemId: item.id };
      });
      this.#resolved.set(key, pending);
      pending.catch(() => this.#resolved.delete(key));
    }
    return pending;
  }

  /**
   * 1Password's lookup (the client's resolveItem) but, for an item title in Connect mode, from one
   * list of the vault's items shared by every lookup within TITLE_LIST_TTL_MS: a sync of N items
   * makes one list per vault and N item GETs instead of N filtered lists and N GETs. Whenever the
   * list cannot decide exactly as the filtered lookup would (no match: maybe created since; two
   * spellings of the title: the server's filter decides; a match gone or renamed since the list),
   * the client's own lookup answers.
   */
  async #resolveItem(vaultRef: string, itemRef: string): Promise<FullItem> {
    const client = this.#client;
    if (!client.resolveVault || looksLikeId(itemRef)) return client.resolveItem(vaultRef, itemRef);
    let vaultId: string;
    let index: TitleIndex | undefined;
    try {
      vaultId = await this.#vaultIdOf(vaultRef);
      index = await this.#titleList(vaultId);
    } catch {
      return client.resolveItem(vaultRef, itemRef);
    }
    // A backend whose list has no titles: its own lookup.
    if (index === undefined) return client.resolveItem(vaultRef, itemRef);
    const wanted = itemRef.toLowerCase();
    const matches = index.get(wanted) ?? [];
    const spellings = new Set(matches.map((match) => match.title));
    const oldest =
      spellings.size === 1 ? pickOldestByTitle(matches, itemRef, (m) => m.title) : undefined;
    if (oldest === undefined) return client.resolveItem(vaultRef, itemRef);
    try {
      const item = await client.getItem(vaultId, oldest.id);
      if (item.title.toLowerCase() === wanted) return item;
    } catch (error) {
      if (!isConnectError(error, 'NotFound')) throw error;
    }
    this.#titleLists.delete(vaultId);
    return client.resolveItem(vaultRef, itemRef);
  }

  #vaultIdOf(vaultRef: string): Promise<string> {
    const now = Date.now();
    const known = this.#vaultIds.get(vaultRef);
    if (known && now - known.at <= TITLE_LIST_TTL_MS) return known.id;
    const id = (this.#client.resolveVault as (ref: string) => Promise<Vault>)(vaultRef).then(
      (vault) => vault.id,
    );
    this.#vaultIds.set(vaultRef, { at: now, id });
    id.catch(() => {
      if (this.#vaultIds.get(vaultRef)?.id === id) this.#vaultIds.delete(vaultRef);
    });
    return id;
  }

  /** The vault's items by lower-cased title, built once per list (undefined: no titles listed). */
  #titleList(vaultId: string): Promise<TitleIndex | undefined> {
    const now = Date.now();
    const known = this.#titleLists.get(vaultId);
    if (known && now - known.at <= TITLE_LIST_TTL_MS) return known.list;
    const list = this.#client.listItems(vaultId).then(indexByTitle);
    this.#titleLists.set(vaultId, { at: now, list });
    list.catch(() => {
      if (this.#titleLists.get(vaultId)?.list === list) this.#titleLists.delete(vaultId);
    });
    return list;
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
    const polled = this.#polled;
    const synced = this.#fetch(ref);
    this.#items.set(key, { synced, stale: false });
    synced.then(
      (value) => {
        const { version } = value.item;
        const before = this.#itemVersions.get(key);
        this.#recordVersion(key, ref.vaultId, version, polled);
        const outdated = this.#outdated(key, ref, version);
        // Another answer took the cache while this one was on the way (a lookup's item, or a later
        // fetch that read earlier): no version in the cache is newer than the one recorded, so
        // the newest, complete, is cached.
        const current = this.#items.get(key);
        if (current && current.synced !== synced && (before === undefined || version >= before)) {
          this.#items.set(key, { synced, stale: outdated });
        } else if (current?.synced === synced && outdated) current.stale = true;
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

  #remember(synced: SyncedItem, complete: boolean, polled: ReadonlyMap<string, number>): void {
    const key = refKey({ vaultId: synced.item.vault.id, itemId: synced.item.id });
    // Read before an edit, landed after a fetch of the newer version: nothing of it is kept (cached,
    // it would be served after the newer one, and for good once the polls have seen the edit).
    const recorded = this.#itemVersions.get(key);
    if (recorded !== undefined && synced.item.version < recorded) return;
    this.#recordVersion(key, synced.item.vault.id, synced.item.version, polled);
    if (
      this.#outdated(
        key,
        { vaultId: synced.item.vault.id, itemId: synced.item.id },
        synced.item.version,
      )
    ) {
      const entry = this.#items.get(key);
      if (entry) entry.stale = true;
      // A resolution brings the item without file contents; only a complete fetch may be served.
    } else if (complete || !(synced.item.files ?? []).length) {
      this.#items.set(key, { synced: Promise.resolve(synced), stale: false });
    } else if (recorded !== synced.item.version) {
      // A newer version seen by a resolution but not kept: the cached one must not be served any
      // more, since the version recorded is what polls compare with (a change otherwise lost).
      const entry = this.#items.get(key);
      if (entry) entry.stale = true;
    }
  }

  /**
   * True when a listing of the vault made after this answer was read found a newer version: the
   * answer must not be served from the cache, and its users (maybe registered after that poll
   * started, so not told) look again at the next poll.
   */
  #outdated(key: string, ref: ItemRef, version: number): boolean {
    const vault = this.#listed.get(ref.vaultId);
    const listed = vault?.get(ref.itemId);
    if (vault === undefined || listed === undefined) return false;
    if (listed <= version) {
      // Caught up: the entry is of no more use (a sync's first list names every item once).
      vault.delete(ref.itemId);
      if (vault.size === 0) this.#listed.delete(ref.vaultId);
      return false;
    }
    this.#fetchedNewer.add(key);
    return true;
  }

  /**
   * An item's version as a fetch found it, with the contentVersions polled before the fetch started.
   * Newer than the one recorded while its vault's contentVersion was C: the change came after C was
   * polled, so the next poll must list a contentVersion other than C (checked in #poll, at no cost
   * in requests).
   */
  #recordVersion(
    key: string,
    vaultId: string,
    version: number,
    polled: ReadonlyMap<string, number>,
  ): void {
    const before = this.#itemVersions.get(key);
    // An answer read before one already recorded: the poll compares with the newer version.
    if (before !== undefined && version < before) return;
    const vaultVersionThen = this.#itemVaultVersions.get(key);
    const reported = this.#reportedVersions.get(key);
    if (reported !== undefined && version >= reported) this.#reportedVersions.delete(key);
    if (before !== undefined && version > before) {
      if (reported === undefined || version > reported) this.#fetchedNewer.add(key);
      if (vaultVersionThen !== undefined && !this.#suspects.has(vaultId)) {
        this.#suspects.set(vaultId, vaultVersionThen);
      }
    }
    this.#itemVersions.set(key, version);
    this.#vaultsWithItems.add(vaultId);
    const vaultVersion = polled.get(vaultId);
    if (vaultVersion === undefined) this.#itemVaultVersions.delete(key);
    else this.#itemVaultVersions.set(key, vaultVersion);
  }

  /** True once Connect was seen not to move a vault's contentVersion on an item change. */
  get fullChecksNeeded(): boolean {
    return this.#contentVersionDistrusted;
  }

  /**
   * One `GET /v1/vaults`; only vaults whose contentVersion moved are listed, and only watched items
   * whose version moved are reported (and marked stale). Once Connect has been seen not to move a
   * contentVersion on an item change (every fetch is compared with the versions polled, free of
   * requests), every `fullCheckEvery`-th poll also lists every watched vault.
   */
  async poll(watched: Iterable<ItemRef>, fullCheckEvery: number): Promise<ItemRef[]> {
    const fetchedNewer = this.#fetchedNewer;
    this.#fetchedNewer = new Set();
    try {
      const changed = await this.#poll(watched, fullCheckEvery, fetchedNewer);
      this.#pollFailure = undefined;
      return changed;
    } catch (error) {
      for (const key of fetchedNewer) this.#fetchedNewer.add(key);
      this.#pollFailure = error;
      throw error;
    }
  }

  async #poll(
    watched: Iterable<ItemRef>,
    fullCheckEvery: number,
    fetchedNewer: ReadonlySet<string>,
  ): Promise<ItemRef[]> {
    this.#polls += 1;
    const fullCheck = this.#contentVersionDistrusted && this.#polls % fullCheckEvery === 0;
    const byVault = new Map<string, ItemRef[]>();
    for (const ref of watched) {
      const refs = byVault.get(ref.vaultId);
      if (refs) refs.push(ref);
      else byVault.set(ref.vaultId, [ref]);
    }
    // Only fetches made before this poll's list can be checked against it.
    const suspects = new Map(this.#suspects);

    const vaults = await this.#pollClient.listVaults();
    this.#vaultList = { vaults, at: Date.now() };
    this.#polled = new Map(vaults.map((vault) => [vault.id, vault.contentVersion]));
    const changed = new Set<ItemRef>();
    const listed = new Set(vaults.map((vault) => vault.id));
    // A vault deleted (or taken out of the token's reach) is in no list, so its items would never
    // be looked at again: report them once when it goes, and once more if it comes back.
    for (const [vaultId, refs] of byVault) {
      const wasListed = this.#vaultVersions.has(vaultId);
      if (!listed.has(vaultId) && wasListed && !this.#vanishedVaults.has(vaultId)) {
        this.#vanishedVaults.add(vaultId);
        this.forgetResolutions();
        for (const ref of refs) changed.add(ref);
      }
    }
    for (const vaultId of this.#vanishedVaults) {
      if (!listed.has(vaultId)) continue;
      this.#vanishedVaults.delete(vaultId);
      this.#vaultVersions.delete(vaultId);
      for (const ref of byVault.get(vaultId) ?? []) {
        const entry = this.#items.get(refKey(ref));
        if (entry) entry.stale = true;
        changed.add(ref);
      }
    }
    for (const vault of vaults) {
      const refs = byVault.get(vault.id);
      const previous = this.#vaultVersions.get(vault.id);
      this.#vaultVersions.set(vault.id, vault.contentVersion);
      const suspect = suspects.get(vault.id);
      if (suspect !== undefined) {
        this.#suspects.delete(vault.id);
        if (suspect === vault.contentVersion) this.#distrustContentVersion();
      }
      const moved = previous !== vault.contentVersion || this.#relist.has(vault.id);
      if (moved) this.#titleLists.delete(vault.id);
      // A vault nobody watched when this poll started may have items cached for users since.
      if ((!refs && !this.#vaultsWithItems.has(vault.id)) || (!fullCheck && !moved)) continue;
      // Recorded before the list is read: a list that fails (or is malformed) is read again next time.
      this.#relist.add(vault.id);
      const versions = new Map(
        (await this.#pollClient.listItems(vault.id)).map((summary) => [
          summary.id,
          summary.version,
        ]),
      );
      this.#relist.delete(vault.id);
      const watchedIds = new Set<string>();
      for (const ref of refs ?? []) {
        watchedIds.add(ref.itemId);
        const key = refKey(ref);
        const now = versions.get(ref.itemId);
        if (now === this.#itemVersions.get(key)) {
          // This version holds at this contentVersion: the baseline a later fetch is checked with.
          this.#itemVaultVersions.set(key, vault.contentVersion);
          continue;
        }
        const entry = this.#items.get(key);
        if (entry) entry.stale = true;
        if (now === undefined) this.#reportedVersions.delete(key);
        else this.#reportedVersions.set(key, listedVersion(now, this.#itemVersions.get(key)));
        if (now === undefined) this.forgetResolutions();
        // A change found by a full check in a vault whose contentVersion stood still.
        else if (!moved) this.#distrustContentVersion();
        changed.add(ref);
      }
      // Items cached for users registered since this poll started (or for none): not served again
      // as they are, and their users (looked up when told) are told once. Versions newer than the
      // ones recorded are kept, to check answers read before this list that land after it.
      const newer = new Map<string, number>();
      for (const [itemId, now] of versions) {
        const ref = { vaultId: vault.id, itemId };
        const key = refKey(ref);
        const recorded = this.#itemVersions.get(key);
        if (recorded === undefined || now > recorded) newer.set(itemId, now);
        if (watchedIds.has(itemId) || recorded === undefined || now === recorded) continue;
        const version = listedVersion(now, recorded);
        if (version < recorded || this.#reportedVersions.get(key) === version) continue;
        this.#reportedVersions.set(key, version);
        const entry = this.#items.get(key);
        if (entry) entry.stale = true;
        changed.add(ref);
      }
      if (newer.size > 0) this.#listed.set(vault.id, newer);
      else this.#listed.delete(vault.id);
    }
    // A version fetched before this poll started: its other users look again (from the cache).
    if (fetchedNewer.size > 0) {
      for (const refs of byVault.values()) {
        for (const ref of refs) {
          const key = refKey(ref);
          if (fetchedNewer.has(key) && !this.#vanishedVaults.has(ref.vaultId)) changed.add(ref);
        }
      }
    }
    // A failed fetch left its Secret at the last good data; try again at every poll until one
    // succeeds, whatever the versions say (the version that failed was already seen).
    if (this.#failedFetches.size > 0) {
      for (const refs of byVault.values()) {
        for (const ref of refs) {
          const retry =
            this.#failedFetches.has(refKey(ref)) && !this.#vanishedVaults.has(ref.vaultId);
          if (retry) changed.add(ref);
        }
      }
    }
    return [...changed];
  }

  #distrustContentVersion(): void {
    this.#contentVersionDistrusted = true;
  }
}

/**
 * A version a list names, as a number to compare with fetched ones: a negative one (changed, version
 * not known) stands for the one after the version recorded.
 */
function listedVersion(listed: number, recorded: number | undefined): number {
  return listed >= 0 ? listed : (recorded ?? 0) + 1;
}

function vanished(vaultId: string): ConnectError {
  // NotFound on the vault list is what classifyFailure reports as VaultNotFound.
  return new ConnectError(
    { status: 404, method: 'GET', endpoint: '/v1/vaults' },
    `vault ${vaultId} is no longer listed by Connect (deleted, or no longer shared with the token); the Secret keeps its last data`,
  );
}
