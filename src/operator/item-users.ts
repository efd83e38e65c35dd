// Which objects (by controller key) use which 1Password item, so a changed item re-queues its users.
import { refKey, type ItemRef } from './item-source.ts';

export class ItemUsers {
  /** Each key's items: one, or several for a OnePasswordItem with spec.extraItems. */
  readonly #refs = new Map<string, readonly ItemRef[]>();
  /**
   * The same, the other way round (by refKey): a poll that finds K items changed asks for their
   * users K times, which a scan of every key made O(K × N) — 10⁸ string builds for 10,000 changed
   * items of 10,000.
   */
  readonly #users = new Map<string, { readonly ref: ItemRef; readonly keys: Set<string> }>();
  /** spec.refreshInterval (ms) of the keys that have one. */
  readonly #refreshMs = new Map<string, number>();
  /** Told when a key's refresh interval is set or changes (the poller may poll sooner). */
  readonly #onRefreshChange: (() => void) | undefined;

  constructor(onRefreshChange?: () => void) {
    this.#onRefreshChange = onRefreshChange;
  }

  /** The item(s) `key` uses, and how often at least they must be checked (undefined: the poll's interval). */
  set(key: string, ref: ItemRef | readonly ItemRef[], refreshMs?: number): void {
    this.#unindex(key);
    const refs: readonly ItemRef[] = Array.isArray(ref) ? ref : [ref as ItemRef];
    this.#refs.set(key, refs);
    for (const one of refs) {
      const wanted = refKey(one);
      const users = this.#users.get(wanted);
      if (users) users.keys.add(key);
      else this.#users.set(wanted, { ref: one, keys: new Set([key]) });
    }
    const previous = this.#refreshMs.get(key);
    if (refreshMs === undefined) this.#refreshMs.delete(key);
    else this.#refreshMs.set(key, refreshMs);
    if (refreshMs !== previous) this.#onRefreshChange?.();
  }

  delete(key: string): void {
    this.#unindex(key);
    this.#refs.delete(key);
    this.#refreshMs.delete(key);
  }

  #unindex(key: string): void {
    for (const ref of this.#refs.get(key) ?? []) {
      const wanted = refKey(ref);
      const users = this.#users.get(wanted);
      users?.keys.delete(key);
      if (users?.keys.size === 0) this.#users.delete(wanted);
    }
  }

  /** The shortest refresh interval among the keys `keys` accepts, or undefined when none has one. */
  shortestRefreshMs(keys: (key: string) => boolean = () => true): number | undefined {
    let shortest: number | undefined;
    for (const [key, ms] of this.#refreshMs) {
      if (keys(key) && (shortest === undefined || ms < shortest)) shortest = ms;
    }
    return shortest;
  }

  /** Items in use (by the keys `keys` accepts, default all), each once. */
  refs(keys?: (key: string) => boolean): ItemRef[] {
    const used: ItemRef[] = [];
    for (const { ref, keys: users } of this.#users.values()) {
      if (keys === undefined) used.push(ref);
      else {
        for (const key of users) {
          if (keys(key)) {
            used.push(ref);
            break;
          }
        }
      }
    }
    return used;
  }

  keysUsing(ref: ItemRef): string[] {
    return [...(this.#users.get(refKey(ref))?.keys ?? [])];
  }
}
