// Which objects (by controller key) use which 1Password item, so a changed item re-queues its users.
import { refKey, type ItemRef } from './item-source.ts';

export class ItemUsers {
  /** Each key's items: one, or several for a OnePasswordItem with spec.extraItems. */
  readonly #refs = new Map<string, readonly ItemRef[]>();
  /** spec.refreshInterval (ms) of the keys that have one. */
  readonly #refreshMs = new Map<string, number>();
  /** Told when a key's refresh interval is set or changes (the poller may poll sooner). */
  readonly #onRefreshChange: (() => void) | undefined;

  constructor(onRefreshChange?: () => void) {
    this.#onRefreshChange = onRefreshChange;
  }

  /** The item(s) `key` uses, and how often at least they must be checked (undefined: the poll's interval). */
  set(key: string, ref: ItemRef | readonly ItemRef[], refreshMs?: number): void {
    this.#refs.set(key, Array.isArray(ref) ? ref : [ref as ItemRef]);
    const previous = this.#refreshMs.get(key);
    if (refreshMs === undefined) this.#refreshMs.delete(key);
    else this.#refreshMs.set(key, refreshMs);
    if (refreshMs !== previous) this.#onRefreshChange?.();
  }

  delete(key: string): void {
    this.#refs.delete(key);
    this.#refreshMs.delete(key);
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
  refs(keys: (key: string) => boolean = () => true): ItemRef[] {
    const used = [...this.#refs].filter(([key]) => keys(key)).flatMap(([, refs]) => refs);
    return [...new Map(used.map((ref) => [refKey(ref), ref])).values()];
  }

  keysUsing(ref: ItemRef): string[] {
    const wanted = refKey(ref);
    return [...this.#refs]
      .filter(([, used]) => used.some((ref) => refKey(ref) === wanted))
      .map(([key]) => key);
  }
}
