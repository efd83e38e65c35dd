// The controller loop: workers take keys from a work queue and reconcile them, retrying failures with backoff.
import { terminalCause } from '../errors.ts';
import {
  systemClock,
  WorkQueue,
  type Clock,
  type Priority,
  type WorkQueueOptions,
} from './workqueue.ts';

export interface ReconcileResult {
  /** Reconcile the key again after this many ms; see Reconciler for the values allowed. */
  readonly requeueAfterMs?: number;
}

/**
 * Brings the world in line with the desired state of one object, named by its key. The contract
 * every reconciler is written against:
 *
 * 1. The input is only the key (`namespace/name`, see keyOf), never the event or the object.
 *    Reconciliation is level-based: read the object's current state (from the informer cache),
 *    compare it with the desired state, act to close the gap. The key may name an object that no
 *    longer exists; that is a normal case (clean up, or do nothing), not an error.
 * 2. It is idempotent: a run with nothing to change changes nothing. Events are coalesced,
 *    duplicated or missed, and any key may be enqueued again at any time (the operator re-enqueues
 *    every key when Connect first fails or recovers), so a key is reconciled any number of times,
 *    and only the state at the time of the run may matter. Nothing resyncs keys periodically
 *    (op-kube gives no informer a `resyncPeriodMs`): a reconcile that must look again later, with
 *    no event to wake it, asks for it with `requeueAfterMs`.
 * 3. It never runs twice at once for one key. Different keys run concurrently, up to the
 *    controller's concurrency, so anything they share must allow that. A key enqueued while it
 *    runs is reconciled again after this run has settled.
 * 4. How the run settles decides what happens to the key:
 *    - resolves `{}` (or `requeueAfterMs: 0`) → `success`: the key's backoff is forgotten; it
 *      runs again only when enqueued again.
 *    - resolves `{ requeueAfterMs: n }` with n > 0 and finite → `requeue`: backoff forgotten, and
 *      the key runs again after n ms, or sooner if enqueued or already due sooner. This is for
 *      state no watch reports: a 1Password item, a token's expiry.
 *    - throws or rejects with a TerminalError (any OpKubeError with `terminal: true`), or an error
 *      whose `cause` chain holds one → `terminal`: reported, backoff forgotten, not retried, until
 *      something enqueues the key anew.
 *    - throws or rejects with anything else → `error`: reported, and retried after the key's
 *      exponential backoff (by default 1 s doubling to 5 min, jittered; a success resets it), or
 *      later while the controller's overall retry rate is used up. A `requeueAfterMs` that is
 *      negative, not a number or infinite is a bug, and lands here as a RangeError.
 *    A synchronous throw is treated as a rejection; nothing a reconciler throws crashes the
 *    process.
 * 5. `signal` aborts when the controller stops and this run outlives the stop timeout. Pass it to
 *    I/O and settle promptly once it has aborted. The outcome of such a run is still reported, but
 *    no requeue or retry is kept: the queue has shut down, and the next start lists everything.
 */
export interface Reconciler<K extends string = string> {
  reconcile(key: K, signal: AbortSignal): Promise<ReconcileResult>;
}

/** How a reconcile settled; see Reconciler. */
export type Outcome = 'success' | 'requeue' | 'error' | 'terminal';

/**
 * Called once per reconcile, after it settled and before the key can run again. `error` is the
 * value thrown, for `error` and `terminal` (`terminalCause(error).reason` names a terminal one).
 * A hook that throws is reported as a process warning.
 */
export type ResultHook<K extends string = string> = (
  key: K,
  outcome: Outcome,
  durationMs: number,
  error?: unknown,
) => void;

export interface ControllerOptions<K extends string = string> {
  /** Names the queue and the controller in messages. */
  readonly name: string;
  readonly reconciler: Reconciler<K>;
  /** Keys reconciled at once; default 4. */
  readonly concurrency?: number;
  /** The queue's clock also times reconciles and the stop timeout. */
  readonly queue?: Omit<WorkQueueOptions<K>, 'name'>;
  /** How long stop() waits for running reconciles before aborting them; default 20 s. */
  readonly stopTimeoutMs?: number;
  readonly onResult?: ResultHook<K>;
}

export interface StopOptions {
  /** Overrides the controller's stopTimeoutMs. */
  readonly timeoutMs?: number;
}

export interface StopResult<K extends string = string> {
  /** Keys whose reconciles were still running at the timeout, and were aborted. */
  readonly aborted: readonly K[];
}

/**
 * Leaves room, under a pod's default 30 s grace period, for releasing the leader lease and
 * flushing logs after the controllers stopped.
 */
const DEFAULT_STOP_TIMEOUT_MS = 20_000;

/**
 * Runs `concurrency` workers, each taking a key from the queue, reconciling it and settling it
 * with the queue as the Reconciler contract says. The queue hands a key to one worker at a time,
 * so one key is never reconciled twice at once.
 */
export class Controller<K extends string = string> {
  readonly name: string;
  readonly #reconciler: Reconciler<K>;
  readonly #concurrency: number;
  readonly #stopTimeoutMs: number;
  readonly #onResult: ResultHook<K> | undefined;
  readonly #clock: Clock;
  readonly #queue: WorkQueue<K>;
  /**
   * The signal of each running reconcile. One per run rather than one for the controller: a
   * listener a reconciler forgets to remove then dies with its run instead of piling up.
   */
  readonly #running = new Map<K, AbortController>();
  #workers: Promise<void>[] | undefined;
  #stopping: Promise<StopResult<K>> | undefined;

  constructor(options: ControllerOptions<K>) {
    this.name = options.name;
    this.#reconciler = options.reconciler;
    this.#concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new RangeError(`${this.name}: concurrency must be a positive integer`);
    }
    this.#stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.#onResult = options.onResult;
    this.#clock = options.queue?.clock ?? systemClock;
    this.#queue = new WorkQueue<K>({ ...options.queue, name: this.name, clock: this.#clock });
  }

  /**
   * Asks for `key` to be reconciled: `normal` for an object created, changed or deleted, `low` when
   * every key is enqueued at once (see Priority). Keys enqueued before start() wait for it; after
   * stop() they are ignored.
   */
  enqueue(key: K, priority: Priority = 'normal'): void {
    this.#queue.add(key, { priority });
  }

  /** Starts the workers; throws if started before or stopped. */
  start(): void {
    if (this.#stopping !== undefined) {
      throw new Error(`controller ${this.name} was stopped; make a new one`);
    }
    if (this.#workers !== undefined) throw new Error(`controller ${this.name} already started`);
    this.#workers = Array.from({ length: this.#concurrency }, () => this.#work());
  }

  /**
   * Stops taking keys and waits for the running reconciles, up to the stop timeout; then aborts
   * their signals and resolves without waiting further (a reconcile that ignores its signal cannot
   * hold the shutdown). Aborted runs settle in the background and are still reported. Keys not
   * yet reconciled are dropped. Calling it again returns the same promise.
   */
  stop(options: StopOptions = {}): Promise<StopResult<K>> {
    this.#stopping ??= this.#stop(options.timeoutMs ?? this.#stopTimeoutMs);
    return this.#stopping;
  }

  async #stop(timeoutMs: number): Promise<StopResult<K>> {
    this.#queue.shutDown();
    let cancelTimer: (() => void) | undefined;
    const timedOut = await Promise.race([
      Promise.all(this.#workers ?? []).then(() => false),
      new Promise<boolean>((resolve) => {
        cancelTimer = this.#clock.setTimer(() => resolve(true), timeoutMs);
      }),
    ]);
    cancelTimer?.();
    if (!timedOut) return { aborted: [] };
    const aborted = [...this.#running.keys()];
    const reason = new DOMException(`controller ${this.name} stopped`, 'AbortError');
    for (const run of this.#running.values()) run.abort(reason);
    return { aborted };
  }

  async #work(): Promise<void> {
    for (let key = await this.#queue.get(); key !== undefined; key = await this.#queue.get()) {
      try {
        await this.#reconcile(key);
      } catch (error) {
        // Only a broken rate limiter gets here; the worker must outlive it.
        this.#warn(error, `settling ${key} failed`);
      }
    }
  }

  async #reconcile(key: K): Promise<void> {
    const abort = new AbortController();
    this.#running.set(key, abort);
    const startedAt = this.#clock.now();
    let outcome: Outcome;
    let error: unknown;
    try {
      try {
        const result = await this.#reconciler.reconcile(key, abort.signal);
        // `?.`: a reconciler in plain JavaScript may resolve nothing at all.
        const after = (result as ReconcileResult | undefined)?.requeueAfterMs ?? 0;
        if (!(Number.isFinite(after) && after >= 0)) {
          throw new RangeError(`requeueAfterMs must be finite and ≥ 0, got ${String(after)}`);
        }
        this.#queue.forget(key);
        if (after > 0) this.#queue.addAfter(key, after);
        outcome = after > 0 ? 'requeue' : 'success';
      } catch (thrown) {
        error = thrown;
        if (terminalCause(thrown) === undefined) {
          outcome = 'error';
          this.#queue.addRateLimited(key);
        } else {
          outcome = 'terminal';
          this.#queue.forget(key);
        }
      }
      this.#report(key, outcome, this.#clock.now() - startedAt, error);
    } finally {
      this.#running.delete(key);
      this.#queue.done(key);
    }
  }

  #report(key: K, outcome: Outcome, durationMs: number, error: unknown): void {
    if (this.#onResult === undefined) return;
    try {
      if (error === undefined) this.#onResult(key, outcome, durationMs);
      else this.#onResult(key, outcome, durationMs, error);
    } catch (hookError) {
      this.#warn(hookError, `onResult hook threw for ${key}`);
    }
  }

  #warn(error: unknown, detail: string): void {
    process.emitWarning(error instanceof Error ? error : String(error), {
      code: 'OP_KUBE_CONTROLLER',
      detail: `${this.name}: ${detail}`,
    });
  }
}

export interface ObjectName {
  /** '' for a cluster-scoped object. */
  readonly namespace: string;
  readonly name: string;
}

/** client-go's MetaNamespaceKeyFunc: `namespace/name`, or `name` for a cluster-scoped object. */
export function keyOf(namespace: string, name: string): string {
  if (name === '' || name.includes('/') || namespace.includes('/')) {
    throw new RangeError(
      `no key for namespace ${JSON.stringify(namespace)}, name ${JSON.stringify(name)}`,
    );
  }
  return namespace === '' ? name : `${namespace}/${name}`;
}

/** The inverse of keyOf; throws a RangeError for a string keyOf cannot return. */
export function parseKey(key: string): ObjectName {
  const parts = key.split('/');
  const [first, second] = parts;
  if (parts.length === 1 && first) return { namespace: '', name: first };
  if (parts.length === 2 && first && second) return { namespace: first, name: second };
  throw new RangeError(`unexpected key format: ${JSON.stringify(key)}`);
}
