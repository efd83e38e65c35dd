// The queue controllers take keys from: deduplicated, one worker per key, delayed and rate-limited adds, two priorities.
import { createDefaultRateLimiter, type RateLimiter } from './rate-limiter.ts';

/**
 * `normal` for keys whose object was created or changed; `low` for every key enqueued at once (an
 * informer resync, the operator re-checking all items when Connect fails or recovers), so that
 * thousands of them do not delay the reaction to an edit.
 */
export type Priority = 'normal' | 'low';

export interface AddOptions {
  /** Default `normal`. */
  readonly priority?: Priority;
}

/** Time for the queue and the controller, injected so tests advance it by hand. */
export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Calls `callback` once, no sooner than `delayMs` from now; the function returned cancels it. */
  setTimer(callback: () => void, delayMs: number): () => void;
}

/** setTimeout's limit; a longer delay would fire at once, with a warning. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Real time. Timers are unref'd: a pending requeue is never what keeps the process alive (watches
 * and servers do), and shutdown must not wait for one.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(callback, delayMs) {
    const due = performance.now() + delayMs;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const left = due - performance.now();
      timer = setTimeout(left > MAX_TIMEOUT_MS ? arm : callback, clamp(left, 0, MAX_TIMEOUT_MS));
      timer.unref();
    };
    arm();
    return () => clearTimeout(timer);
  },
};

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * Callbacks for Prometheus (or anything else), named after client-go's workqueue metrics. They
 * carry no key: keys are unbounded and do not belong in metric labels. A callback that throws is
 * reported as a process warning and otherwise ignored.
 */
export interface WorkQueueMetrics {
  /** Keys waiting to be processed (ready, or re-added while in progress), after every change. */
  readonly depth?: (depth: number) => void;
  /** A key became pending; adds that merge into a key already pending are not counted. */
  readonly add?: (priority: Priority) => void;
  /** A key was re-added after a failure, with `addRateLimited`. */
  readonly retry?: () => void;
  /** From the add that made a key pending until a worker took it. */
  readonly queueDuration?: (ms: number, priority: Priority) => void;
  /** From `get()` handing a key out until its `done()`. */
  readonly workDuration?: (ms: number) => void;
}

export interface WorkQueueOptions<K extends string = string> {
  /** For messages and warnings. */
  readonly name?: string;
  /** Default `createDefaultRateLimiter()` on the queue's clock. */
  readonly rateLimiter?: RateLimiter<K>;
  readonly clock?: Clock;
  readonly metrics?: WorkQueueMetrics;
}

/** A first-in first-out list with O(1) take from the front. */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

/** A binary min-heap. */
class Heap<T> {
  readonly #items: T[] = [];
  readonly #before: (a: T, b: T) => boolean;

  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#before(item, items[parent] as T)) break;
      items[index] = items[parent] as T;
      index = parent;
    }
    items[index] = item;
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child =
        right < items.length && this.#before(items[right] as T, items[left] as T) ? right : left;
      if (!this.#before(items[child] as T, last)) break;
      items[index] = items[child] as T;
      index = child;
    }
    items[index] = last;
    return top;
  }

  clear(): void {
    this.#items.length = 0;
  }
}

interface Pending {
  priority: Priority;
  /** When the key became pending, for `queueDuration`. */
  readonly addedAt: number;
}

/** A key's place in one of the ready lists; dead once the key moved up to `normal`. */
interface Slot<K> extends Pending {
  readonly key: K;
  live: boolean;
}

interface Delayed<K> {
  readonly key: K;
  readonly readyAt: number;
  /** Breaks ties in readyAt by order of the adds. */
  readonly seq: number;
  priority: Priority;
}

type State = 'running' | 'draining' | 'shutDown';

const rank: Record<Priority, number> = { normal: 0, low: 1 };

function higher(a: Priority, b: Priority): Priority {
  return rank[a] <= rank[b] ? a : b;
}

/**
 * client-go's rate-limiting work queue, with two priorities:
 *
 * - A key is pending at most once: adding a pending key merges into it (keeping the higher
 *   priority and the first add's time).
 * - A key handed out by `get()` is not handed out again until its `done()`: no two workers ever
 *   hold one key. A key added meanwhile is pending ("dirty") and becomes ready at its `done()`,
 *   so a change seen during a reconcile is reconciled again afterwards.
 * - `get()` hands out every `normal` key before any `low` one, each in order of adding.
 * - `addAfter` holds a key back; a key already held back until sooner keeps the sooner time.
 * - `addRateLimited` is `addAfter` with the limiter's delay; `forget` resets the key's backoff.
 * - After `shutDown()` nothing is added or handed out; `shutDownWithDrain()` refuses new adds but
 *   hands out the keys already pending, then resolves once every key is done.
 */
export class WorkQueue<K extends string = string> {
  readonly name: string;
  readonly #limiter: RateLimiter<K>;
  readonly #clock: Clock;
  readonly #metrics: WorkQueueMetrics;
  readonly #ready: Record<Priority, Fifo<Slot<K>>> = { normal: new Fifo(), low: new Fifo() };
  /** Keys in #ready, never in #processing. */
  readonly #queued = new Map<K, Slot<K>>();
  /** Keys added while in #processing: ready again at their done(). */
  readonly #redo = new Map<K, Pending>();
  /** Keys handed out and not yet done, with the time they were handed out. */
  readonly #processing = new Map<K, number>();
  readonly #waiters = new Fifo<(key: K | undefined) => void>();
  /** The one live entry of each held-back key; #heap may also hold superseded ones. */
  readonly #delayed = new Map<K, Delayed<K>>();
  readonly #heap = new Heap<Delayed<K>>((a, b) =>
    a.readyAt === b.readyAt ? a.seq < b.seq : a.readyAt < b.readyAt,
  );
  #seq = 0;
  #timer: { readonly at: number; readonly cancel: () => void } | undefined;
  #state: State = 'running';
  readonly #drained: (() => void)[] = [];

  constructor(options: WorkQueueOptions<K> = {}) {
    this.name = options.name ?? 'workqueue';
    this.#clock = options.clock ?? systemClock;
    const now = (): number => this.#clock.now();
    this.#limiter = options.rateLimiter ?? createDefaultRateLimiter<K>({ bucket: { now } });
    this.#metrics = options.metrics ?? {};
  }

  /** Makes `key` pending now, unless it already is. Ignored once shut down. */
  add(key: K, options: AddOptions = {}): void {
    if (this.#state !== 'running') return;
    const priority = options.priority ?? 'normal';
    const queued = this.#queued.get(key);
    if (queued !== undefined) {
      if (priority === 'normal' && queued.priority === 'low') {
        queued.live = false;
        this.#enqueue(key, { priority, addedAt: queued.addedAt });
      }
      return;
    }
    const redo = this.#redo.get(key);
    if (redo !== undefined) {
      redo.priority = higher(redo.priority, priority);
      return;
    }
    this.#emit('add', priority);
    const pending = { priority, addedAt: this.#clock.now() };
    if (this.#processing.has(key)) this.#redo.set(key, pending);
    else this.#enqueue(key, pending);
    this.#emitDepth();
    this.#dispatch();
  }

  /**
   * Adds `key` once `delayMs` have passed (at once if `delayMs` ≤ 0). A key already held back
   * until sooner keeps the sooner time; the higher priority of the two is kept either way.
   */
  addAfter(key: K, delayMs: number, options: AddOptions = {}): void {
    if (Number.isNaN(delayMs)) throw new RangeError(`${this.name}: delay of ${key} is NaN`);
    if (this.#state !== 'running') return;
    const priority = options.priority ?? 'normal';
    if (delayMs <= 0) {
      this.add(key, { priority });
      return;
    }
    const readyAt = this.#clock.now() + delayMs;
    const held = this.#delayed.get(key);
    if (held !== undefined && held.readyAt <= readyAt) {
      held.priority = higher(held.priority, priority);
      return;
    }
    const entry = {
      key,
      readyAt,
      seq: this.#seq++,
      priority: held === undefined ? priority : higher(held.priority, priority),
    };
    this.#delayed.set(key, entry);
    this.#heap.push(entry);
    this.#arm();
  }

  /** Adds `key` after the rate limiter's delay, counting one more failure of it. */
  addRateLimited(key: K): void {
    if (this.#state !== 'running') return;
    this.#emit('retry');
    this.addAfter(key, this.#limiter.when(key));
  }

  /** Resets `key`'s backoff; it does not remove `key` from the queue. */
  forget(key: K): void {
    this.#limiter.forget(key);
  }

  /** Failures of `key` counted by the rate limiter since it was last forgotten. */
  failures(key: K): number {
    return this.#limiter.failures(key);
  }

  /**
   * The next key to process: `normal` before `low`, each oldest first; waits while none is ready.
   * The caller owns the key until it calls `done(key)`. Resolves `undefined` once the queue is
   * shut down (after draining, with `shutDownWithDrain`): the worker should then exit.
   */
  get(): Promise<K | undefined> {
    if (this.#state === 'shutDown') return Promise.resolve(undefined);
    const key = this.#take();
    if (key !== undefined) return Promise.resolve(key);
    if (this.#state === 'draining' && this.#redo.size === 0) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Ends the processing of `key` handed out by `get()`. If `key` was added meanwhile, it becomes
   * ready now. A key not being processed is ignored.
   */
  done(key: K): void {
    const startedAt = this.#processing.get(key);
    if (startedAt === undefined) return;
    this.#processing.delete(key);
    this.#emit('workDuration', this.#clock.now() - startedAt);
    const redo = this.#redo.get(key);
    if (redo !== undefined) {
      this.#redo.delete(key);
      this.#enqueue(key, redo);
    }
    this.#dispatch();
  }

  /** Keys ready to be handed out now: not those being processed, nor those held back. */
  len(): number {
    return this.#queued.size;
  }

  get shuttingDown(): boolean {
    return this.#state !== 'running';
  }

  /**
   * Stops at once: new adds are ignored, pending and held-back keys are dropped, and every `get()`,
   * waiting or later, resolves `undefined`. Unlike client-go's ShutDown, which keeps handing out
   * queued items, so that a stopping controller starts no new reconcile; the keys are not lost
   * for good, as a starting controller lists every object again. Keys being processed may still
   * be marked `done`.
   */
  shutDown(): void {
    this.#state = 'shutDown';
    this.#cancelDelayed();
    this.#queued.clear();
    this.#redo.clear();
    this.#ready.normal.clear();
    this.#ready.low.clear();
    this.#emitDepth();
    this.#release();
    this.#checkDrained();
  }

  /**
   * Refuses new adds and drops held-back keys, but keeps handing out the pending ones (keys added
   * while being processed included); resolves once none is pending or being processed, after
   * which `get()` resolves `undefined`. Workers must keep calling `get()` for it to finish.
   */
  shutDownWithDrain(): Promise<void> {
    if (this.#state === 'running') this.#state = 'draining';
    this.#cancelDelayed();
    this.#dispatch();
    return new Promise((resolve) => {
      this.#drained.push(resolve);
      this.#checkDrained();
    });
  }

  #enqueue(key: K, pending: Pending): void {
    const slot = { key, priority: pending.priority, addedAt: pending.addedAt, live: true };
    this.#queued.set(key, slot);
    this.#ready[pending.priority].push(slot);
  }

  #take(): K | undefined {
    const slot = this.#next(this.#ready.normal) ?? this.#next(this.#ready.low);
    if (slot === undefined) return undefined;
    const now = this.#clock.now();
    this.#queued.delete(slot.key);
    this.#processing.set(slot.key, now);
    this.#emitDepth();
    this.#emit('queueDuration', now - slot.addedAt, slot.priority);
    return slot.key;
  }

  #next(fifo: Fifo<Slot<K>>): Slot<K> | undefined {
    for (let slot = fifo.shift(); slot !== undefined; slot = fifo.shift()) {
      if (slot.live) return slot;
    }
    return undefined;
  }

  /** Hands ready keys to waiting workers; in a drain, releases them once nothing more can come. */
  #dispatch(): void {
    while (this.#waiters.size > 0) {
      const key = this.#take();
      if (key === undefined) break;
      this.#waiters.shift()?.(key);
    }
    if (this.#state === 'draining' && this.#queued.size === 0 && this.#redo.size === 0) {
      this.#release();
    }
    this.#checkDrained();
  }

  #release(): void {
    for (let waiter = this.#waiters.shift(); waiter; waiter = this.#waiters.shift()) {
      waiter(undefined);
    }
  }

  #checkDrained(): void {
    if (this.#state === 'running' || this.#queued.size > 0 || this.#processing.size > 0) return;
    for (const resolve of this.#drained.splice(0)) resolve();
  }

  /** Keeps one timer, for the earliest held-back key. */
  #arm(): void {
    const next = this.#heap.peek();
    if (next === undefined || (this.#timer !== undefined && this.#timer.at <= next.readyAt)) {
      return;
    }
    this.#timer?.cancel();
    const cancel = this.#clock.setTimer(
      () => this.#fire(),
      Math.max(0, next.readyAt - this.#clock.now()),
    );
    this.#timer = { at: next.readyAt, cancel };
  }

  #fire(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    for (let next = this.#heap.peek(); next && next.readyAt <= now; next = this.#heap.peek()) {
      this.#heap.pop();
      if (this.#delayed.get(next.key) !== next) continue; // superseded by a sooner addAfter
      this.#delayed.delete(next.key);
      this.add(next.key, { priority: next.priority });
    }
    this.#arm();
  }

  #cancelDelayed(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#delayed.clear();
    this.#heap.clear();
  }

  #emitDepth(): void {
    this.#emit('depth', this.#queued.size + this.#redo.size);
  }

  #emit<M extends keyof WorkQueueMetrics>(
    metric: M,
    ...args: Parameters<NonNullable<WorkQueueMetrics[M]>>
  ): void {
    const callback = this.#metrics[metric] as ((...values: typeof args) => void) | undefined;
    try {
      callback?.(...args);
    } catch (error) {
      // A broken metric must not take the queue down with it, nor go unnoticed.
      process.emitWarning(error instanceof Error ? error : String(error), {
        code: 'OP_KUBE_WORKQUEUE_METRICS',
        detail: `${this.name}: ${metric} metric callback threw`,
      });
    }
  }
}
