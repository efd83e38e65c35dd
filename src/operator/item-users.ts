// Which objects (by controller key) use which 1Password item, so a changed item re-queues its users.
import { refKey, type ItemRef } from './item-source.ts';

export class ItemUsers {
  /** Each key's items: one, or several for a OnePasswordItem with spec.extraItems. */
  readonly #refs = new Map<string, readonly ItemRef[]>();

  set(key: string, ref: ItemRef | readonly ItemRef[]): void {
    this.#refs.set(key, Array.isArray(ref) ? ref : [ref as ItemRef]);
  }

  delete(key: string): void {
    this.#refs.delete(key);
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
