// Change detection as a runnable: polls Connect, tells which items changed, and when Connect failed or came back.
import type { Logger } from 'pino';
import type { ConnectHealth } from './connect-health.ts';
import type { KeySignal } from '../kube/runtime/builder.ts';
import { parseKey } from '../kube/runtime/controller.ts';
import type { ItemRef, ItemSource } from './item-source.ts';
import { ItemUsers } from './item-users.ts';
import type { OperatorMetrics } from './metrics.ts';

export interface PollerOptions {
  readonly fullCheckEvery: number;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
}

/**
 * One token's change detection: its source (one request per idle poll), its health (when to poll
 * next) and, with a token per namespace, which namespaces it serves (undefined: every one).
 */
export interface PollTarget {
  readonly source: ItemSource;
  readonly health: ConnectHealth;
  readonly serves?: (namespace: string) => boolean;
  /** Said in the poll's log lines (never the token): e.g. the namespaces it serves. */
  readonly describe?: () => Record<string, unknown>;
}

export type PollerEvent =
  /** An item's version moved (or its vault went or came back): its users must look again. */
  | { readonly type: 'changed'; readonly ref: ItemRef; readonly target: PollTarget }
  /** The first failed poll, or the first success after failures: every object must say so. */
  | { readonly type: 'failed' | 'recovered'; readonly target: PollTarget };

interface Loop {
  timer: NodeJS.Timeout | undefined;
  removed: boolean;
  /** When the last poll settled, and when the next is due (with `timer` set). */
  settledAt: number;
  dueAt: number;
}

/**
 * One poll at a time per target, each scheduled when the last has settled, since its delay depends
 * on the result (ConnectHealth: the polling interval, or soon after a failure).
 */
export class Poller {
  readonly #options: PollerOptions;
  readonly #listeners: ((event: PollerEvent) => void)[] = [];
  /** One per controller: which item each of its keys uses. The refs never leave the poller. */
  readonly #trackers: ItemUsers[] = [];
  readonly #targets = new Map<PollTarget, Loop>();
  #running = false;
  /** Sources whose switch to full checks was logged. */
  readonly #warnedFullChecks = new WeakSet<ItemSource>();

  constructor(options: PollerOptions) {
    this.#options = options;
  }

  /** Polled from start() on (at once when already started) until removeTarget. */
  addTarget(target: PollTarget): void {
    if (this.#targets.has(target)) return;
    const loop: Loop = { timer: undefined, removed: false, settledAt: 0, dueAt: 0 };
    this.#targets.set(target, loop);
    if (this.#running) void this.#loop(target, loop);
  }

  removeTarget(target: PollTarget): void {
    const loop = this.#targets.get(target);
    if (!loop) return;
    loop.removed = true;
    if (loop.timer) clearTimeout(loop.timer);
    this.#targets.delete(target);
  }

  /** A tracker for one controller's reconciler: it says which item each key uses. */
  tracker(): ItemUsers {
    const tracker = new ItemUsers(() => this.#reschedule());
    this.#trackers.push(tracker);
    return tracker;
  }

  /**
   * A controller's key signal: the keys in `tracker` whose item changed, and every key (`all`, at
   * low priority) when Connect first failed or came back, so each object reports it; with a token
   * per namespace, only keys of the namespaces the target serves.
   */
  keysFor(tracker: ItemUsers, all: () => string[]): KeySignal {
    return (enqueue) =>
      this.#listeners.push((event) => {
        const served = servedBy(event.target);
        if (event.type === 'changed') enqueue(tracker.keysUsing(event.ref).filter(served));
        else enqueue(all().filter(served), 'low');
      });
  }

  /** Why /readyz should fail: every target's source has failed its last polls (none: ready). */
  notReady(): string | undefined {
    const reasons = [...this.#targets.keys()].map((target) => target.health.notReady());
    if (reasons.length === 0 || reasons.some((reason) => reason === undefined)) return undefined;
    return reasons.length === 1
      ? reasons[0]
      : `${reasons[0]} (every one of the ${reasons.length} tokens in use)`;
  }

  start(): void {
    this.#running = true;
    for (const [target, loop] of this.#targets) void this.#loop(target, loop);
  }

  stop(): Promise<void> {
    this.#running = false;
    for (const loop of this.#targets.values()) if (loop.timer) clearTimeout(loop.timer);
    return Promise.resolve();
  }

  async #loop(target: PollTarget, loop: Loop): Promise<void> {
    loop.timer = undefined;
    await this.#poll(target, loop);
    loop.settledAt = Date.now();
    if (this.#running && !loop.removed) this.#schedule(target, loop, this.#delayFor(target));
  }

  #schedule(target: PollTarget, loop: Loop, delayMs: number): void {
    loop.dueAt = loop.settledAt + delayMs;
    loop.timer = setTimeout(
      () => void this.#loop(target, loop),
      Math.max(0, loop.dueAt - Date.now()),
    );
  }

  /**
   * The polling interval (or the backoff after a failure), shortened to the shortest
   * spec.refreshInterval among the keys the target serves while its source answers: still one
   * request per idle poll, only more polls.
   */
  #delayFor(target: PollTarget): number {
    const base = target.health.nextDelayMs();
    if (target.health.up === false) return base;
    const served = servedBy(target);
    let delay = base;
    for (const tracker of this.#trackers) {
      const shortest = tracker.shortestRefreshMs(served);
      if (shortest !== undefined && shortest < delay) delay = shortest;
    }
    return delay;
  }

  /** A refresh interval was set or changed: a poll due later than it now allows comes sooner. */
  #reschedule(): void {
    for (const [target, loop] of this.#targets) {
      if (loop.timer === undefined || loop.removed) continue;
      const delay = this.#delayFor(target);
      if (loop.settledAt + delay >= loop.dueAt) continue;
      clearTimeout(loop.timer);
      this.#schedule(target, loop, delay);
    }
  }

  async #poll(target: PollTarget, loop: Loop): Promise<void> {
    const { metrics, logger } = this.#options;
    const { source, health } = target;
    const served = servedBy(target);
    try {
      const watched = this.#trackers.flatMap((tracker) => tracker.refs(served));
      // Polls made sooner for a refreshInterval keep the full check at about the same pace in time.
      const healthy = health.up !== false;
      const faster = healthy ? Math.round(health.nextDelayMs() / this.#delayFor(target)) : 1;
      const every = this.#options.fullCheckEvery * Math.max(1, faster);
      const changed = await source.poll(watched, every);
      if (loop.removed) return;
      if (source.fullChecksNeeded && !this.#warnedFullChecks.has(source)) {
        this.#warnedFullChecks.add(source);
        logger.warn(
          { ...target.describe?.(), fullCheckEvery: this.#options.fullCheckEvery },
          `${health.sourceName} changed an item without moving its vault's contentVersion: every --full-check-every-th poll now also lists every watched vault`,
        );
      }
      for (const ref of changed) this.#emit({ type: 'changed', ref, target });
      metrics.poll('success', changed.length);
      // Recovered: every item that reported the failure gets its Synced condition back.
      if (health.succeeded() === 'recovered') {
        logger.info(target.describe?.() ?? {}, `${health.sourceName} answers again`);
        this.#emit({ type: 'recovered', target });
      }
    } catch (error) {
      if (loop.removed) return;
      metrics.poll('error', 0);
      const verdict = health.failed();
      logger.warn(
        {
          ...target.describe?.(),
          err: error instanceof Error ? { message: error.message } : undefined,
          retryInMs: health.nextDelayMs(),
        },
        `polling ${health.sourceName} failed`,
      );
      // Items whose Secrets may now be stale report the failure through a reconcile.
      if (verdict === 'failed-first') this.#emit({ type: 'failed', target });
    }
    metrics.connectUp(this.#up());
  }

  /** Up when any target's last poll answered; undefined before any poll. */
  #up(): boolean | undefined {
    const states = [...this.#targets.keys()].map((target) => target.health.up);
    if (states.includes(true)) return true;
    return states.includes(false) ? false : undefined;
  }

  #emit(event: PollerEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}

/** A filter on controller keys (`namespace/name`) by the namespaces `target` serves. */
function servedBy(target: PollTarget): (key: string) => boolean {
  const { serves } = target;
  return serves === undefined ? () => true : (key) => serves(parseKey(key).namespace);
}
