// connect-local's vaults and items: held in memory, persisted whole to state.json on every change.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Vault } from '../connect/index.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';
import type { SeedVault } from './data-file.ts';
import { NotFoundError } from './errors.ts';
import { buildItem, presentItem, type StoredItem } from './item-input.ts';
import { applyItemPatch } from './item-patch.ts';

interface VaultRecord {
  vault: Vault;
  items: Map<string, StoredItem>;
}

interface StateFile {
  readonly format: 1;
  readonly vaults: readonly { vault: Vault; items: StoredItem[] }[];
}

export const STATE_FILE = 'state.json';

export class ConnectStore {
  readonly #path: string;
  readonly #vaults = new Map<string, VaultRecord>();
  /** Writes are chained so state.json always ends with the latest state, in order. */
  #writes: Promise<void> = Promise.resolve();

  private constructor(path: string) {
    this.#path = path;
  }

  /** Loads state.json from `stateDir`; when there is none, seeds it (possibly empty) and saves. */
  static async open(
    stateDir: string,
    seed: () => Promise<readonly SeedVault[]>,
  ): Promise<{ store: ConnectStore; seeded: boolean }> {
    const store = new ConnectStore(join(stateDir, STATE_FILE));
    let state: StateFile | undefined;
    try {
      state = JSON.parse(await readFile(store.#path, 'utf8')) as StateFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`cannot read ${store.#path}: ${(error as Error).message}`);
      }
    }
    const entries = state?.vaults ?? (await seed());
    for (const entry of entries) {
      store.#vaults.set(entry.vault.id, {
        vault: entry.vault,
        items: new Map(entry.items.map((item) => [item.id, item])),
      });
    }
    if (!state) await store.#persist();
    return { store, seeded: !state };
  }

  /** Reads state.json without opening a store, for CLI commands that only look up vaults. */
  static async readVaults(stateDir: string): Promise<Vault[] | undefined> {
    try {
      const state = JSON.parse(await readFile(join(stateDir, STATE_FILE), 'utf8')) as StateFile;
      return state.vaults.map((entry) => entry.vault);
    } catch {
      return undefined;
    }
  }

  vaults(): Vault[] {
    return [...this.#vaults.values()].map((record) => this.#presentVault(record));
  }

  vault(vaultId: string): Vault {
    return this.#presentVault(this.#record(vaultId));
  }

  items(vaultId: string): StoredItem[] {
    return [...this.#record(vaultId).items.values()];
  }

  item(vaultId: string, itemId: string): StoredItem {
    const item = this.#record(vaultId).items.get(itemId);
    if (!item) throw new NotFoundError(`item ${itemId} not found`);
    return item;
  }

  async createItem(vaultId: string, input: unknown): Promise<StoredItem> {
    const record = this.#record(vaultId);
    const item = buildItem(input, { vaultId, now: new Date().toISOString() });
    return this.#save(record, { ...item, version: 1 });
  }

  async replaceItem(vaultId: string, itemId: string, input: unknown): Promise<StoredItem> {
    const record = this.#record(vaultId);
    const existing = this.item(vaultId, itemId);
    const item = buildItem(input, { vaultId, existing, now: new Date().toISOString() });
    return this.#save(record, { ...item, version: existing.version + 1 });
  }

  async patchItem(vaultId: string, itemId: string, operations: unknown): Promise<StoredItem> {
    const patched = applyItemPatch(presentItem(this.item(vaultId, itemId)), operations);
    return this.replaceItem(vaultId, itemId, patched);
  }

  /** Replaces an item bypassing the API's category rules (the admin listener's "edit item"). */
  async editItem(vaultId: string, itemId: string, input: unknown): Promise<StoredItem> {
    const record = this.#record(vaultId);
    const existing = this.item(vaultId, itemId);
    const item = buildItem(input, {
      vaultId,
      existing,
      seeding: true,
      now: new Date().toISOString(),
    });
    return this.#save(record, { ...item, version: existing.version + 1 });
  }

  async deleteItem(vaultId: string, itemId: string): Promise<void> {
    const record = this.#record(vaultId);
    this.item(vaultId, itemId);
    record.items.delete(itemId);
    this.#touch(record);
    await this.#persist();
  }

  /** Removes a vault and its items, as deleting a vault in 1Password does (tests: a vault gone). */
  async deleteVault(vaultId: string): Promise<void> {
    this.#record(vaultId);
    this.#vaults.delete(vaultId);
    await this.#persist();
  }

  #record(vaultId: string): VaultRecord {
    const record = this.#vaults.get(vaultId);
    if (!record) throw new NotFoundError(`vault ${vaultId} not found`);
    return record;
  }

  #presentVault(record: VaultRecord): Vault {
    return { ...record.vault, items: record.items.size };
  }

  #touch(record: VaultRecord): void {
    record.vault = {
      ...record.vault,
      contentVersion: record.vault.contentVersion + 1,
      updatedAt: new Date().toISOString(),
    };
  }

  async #save(record: VaultRecord, item: StoredItem): Promise<StoredItem> {
    record.items.set(item.id, item);
    this.#touch(record);
    await this.#persist();
    return item;
  }

  #persist(): Promise<void> {
    const snapshot: StateFile = {
      format: 1,
      vaults: [...this.#vaults.values()].map((record) => ({
        vault: this.#presentVault(record),
        items: [...record.items.values()],
      })),
    };
    const text = JSON.stringify(snapshot);
    // A failed write must not poison the chain: the next change writes the whole state again.
    const write = this.#writes
      .catch(() => undefined)
      .then(() => writeFileAtomic(this.#path, text, 0o600));
    this.#writes = write;
    return write;
  }
}
