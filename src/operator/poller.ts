// Change detection as a runnable: polls Connect, tells which items changed, and when Connect failed or came back.
import type { Logger } from 'pino';
import type { ConnectHealth } from './connect-health.ts';
import type { KeySignal } from '../kube/runtime/builder.ts';
import type { ItemRef, ItemSource } from './item-source.ts';
import { ItemUsers } from './item-users.ts';
import type { OperatorMetrics } from './metrics.ts';

export interface PollerOptions {
  readonly source: ItemSource;
  readonly health: ConnectHealth;
  readonly fullCheckEvery: number;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
}

export type PollerEvent =
  /** An item's version moved (or its vault went or came back): its users must look again. */
  | { readonly type: 'changed'; readonly ref: ItemRef }
  /** The first failed poll, or the first success after failures: every object must say so. */
  | { readonly type: 'failed' | 'recovered' };

/**
 * One poll at a time, each scheduled when the last has settled, since its delay depends on the
 * result (ConnectHealth: the polling interval, or soon after a failure).
 */
export class Poller {
  readonly #options: PollerOptions;
  readonly #listeners: ((event: PollerEvent) => void)[] = [];
  /** One per controller: which item each of its keys uses. The refs never leave the poller. */
  readonly #trackers: ItemUsers[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: PollerOptions) {
    this.#options = options;
  }

  /** A tracker for one controller's reconciler: it says which item each key uses. */
  tracker(): ItemUsers {
    const tracker = new ItemUsers();
    this.#trackers.push(tracker);
    return tracker;
  }

  /**
   * A controller's key signal: the keys in `tracker` whose item changed, and every key (`all`, at
   * low priority) when Connect first failed or came back, so each object reports it.
   */
  keysFor(tracker: ItemUsers, all: () => string[]): KeySignal {
    return (enqueue) =>
      this.#listeners.push((event) =>
        event.type === 'changed' ? enqueue(tracker.keysUsing(event.ref)) : enqueue(all(), 'low'),
      );
  }

  start(): void {
    this.#running = true;
    void this.#loop();
  }

  stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    return Promise.resolve();
  }

  async #loop(): Promise<void> {
    await this.#poll();
    if (this.#running)
      this.#timer = setTimeout(() => void this.#loop(), this.#options.health.nextDelayMs());
  }

  async #poll(): Promise<void> {
    const { source, health, metrics, logger } = this.#options;
    try {
      const watched = this.#trackers.flatMap((tracker) => tracker.refs());
      const changed = await source.poll(watched, this.#options.fullCheckEvery);
      for (const ref of changed) this.#emit({ type: 'changed', ref });
      metrics.poll('success', changed.length);
      // Recovered: every item that reported the failure gets its Synced condition back.
      if (health.succeeded() === 'recovered') {
        logger.info(`${health.sourceName} answers again`);
        this.#emit({ type: 'recovered' });
      }
    } catch (error) {
      metrics.poll('error', 0);
      const verdict = health.failed();
      logger.warn(
        {
          err: error instanceof Error ? { message: error.message } : undefined,
          retryInMs: health.nextDelayMs(),
        },
        `polling ${health.sourceName} failed`,
      );
      // Items whose Secrets may now be stale report the failure through a reconcile.
      if (verdict === 'failed-first') this.#emit({ type: 'failed' });
    }
    metrics.connectUp(health.up);
  }

  #emit(event: PollerEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
