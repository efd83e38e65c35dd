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

  /** Items in use, each once. */
  refs(): ItemRef[] {
    return [...new Map([...this.#refs.values()].map((ref) => [refKey(ref), ref])).values()];
  }

  keysUsing(ref: ItemRef): string[] {
    const wanted = refKey(ref);
    return [...this.#refs].filter(([, used]) => refKey(used) === wanted).map(([key]) => key);
  }
}
