// Change detection as a runnable: polls Connect, tells which items changed, and when Connect failed or came back.
import type { Logger } from 'pino';
import type { ConnectHealth } from './connect-health.ts';
import type { ItemRef, ItemSource } from './item-source.ts';
import type { OperatorMetrics } from './metrics.ts';

export interface PollerOptions {
  readonly source: ItemSource;
  readonly health: ConnectHealth;
  readonly fullCheckEvery: number;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
  /** Items in use now, each once. */
  readonly watched: () => ItemRef[];
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
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: PollerOptions) {
    this.#options = options;
  }

  /** Registers a listener (a controller builder's key signal). */
  onEvent(listener: (event: PollerEvent) => void): void {
    this.#listeners.push(listener);
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
      const changed = await source.poll(this.#options.watched(), this.#options.fullCheckEvery);
      for (const ref of changed) this.#emit({ type: 'changed', ref });
      metrics.poll('success', changed.length);
      // Recovered: every item that reported the failure gets its Synced condition back.
      if (health.succeeded() === 'recovered') {
        logger.info('Connect answers again');
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
        'polling Connect failed',
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
