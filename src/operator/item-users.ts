// Which objects (by controller key) use which 1Password item, so a changed item re-queues its users.
import { refKey, type ItemRef } from './item-source.ts';

export class ItemUsers {
  readonly #refs = new Map<string, ItemRef>();

  set(key: string, ref: ItemRef): void {
    this.#refs.set(key, ref);
  }

  delete(key: string): void {
    this.#refs.delete(key);
  }

  /** Items in use (by the keys `keys` accepts, default all), each once. */
  refs(keys: (key: string) => boolean = () => true): ItemRef[] {
    const used = [...this.#refs].filter(([key]) => keys(key)).map(([, ref]) => ref);
    return [...new Map(used.map((ref) => [refKey(ref), ref])).values()];
  }

  keysUsing(ref: ItemRef): string[] {
    const wanted = refKey(ref);
    return [...this.#refs].filter(([, used]) => refKey(used) === wanted).map(([key]) => key);
  }
}
