// What the poller knows of Connect's health: when to poll next, and when the operator stops being ready.
//
// A failed poll is repeated soon (1 s, doubling up to the polling interval) so that recovery is seen
// within seconds even with the default 600 s interval. Readiness turns false only after several
// failures in a row and true again after one success, so one lost packet never flaps the pod while
// a real outage still shows in `kubectl get pods` (the items' conditions show it at the first one).

export interface ConnectHealthOptions {
  readonly pollingIntervalMs: number;
  /** Consecutive failed polls after which /readyz fails. Default 3. */
  readonly unreadyAfterFailures?: number;
  /** Delay before the first repeat of a failed poll. Default 1 s. */
  readonly firstRetryMs?: number;
  /**
   * What is polled, in /readyz and log messages: 'Connect' (default), or in service-account mode
   * '1Password' (the SDK's servers).
   */
  readonly sourceName?: string;
}

export type PollVerdict =
  /** The first failure after a success (or at start): every item should report it now. */
  | 'failed-first'
  | 'failed-again'
  /** A success after failures: every item should get its Synced condition back. */
  | 'recovered'
  | 'ok';

export class ConnectHealth {
  readonly #intervalMs: number;
  readonly #unreadyAfter: number;
  readonly #firstRetryMs: number;
  readonly sourceName: string;
  #failures = 0;
  #polled = false;

  constructor(options: ConnectHealthOptions) {
    this.#intervalMs = options.pollingIntervalMs;
    this.#unreadyAfter = Math.max(1, options.unreadyAfterFailures ?? 3);
    this.#firstRetryMs = Math.max(1, options.firstRetryMs ?? 1000);
    this.sourceName = options.sourceName ?? 'Connect';
  }

  /** Undefined before the first poll and while Connect answers; false once a poll failed. */
  get up(): boolean | undefined {
    return this.#polled ? this.#failures === 0 : undefined;
  }

  succeeded(): PollVerdict {
    const recovered = this.#failures > 0;
    this.#failures = 0;
    this.#polled = true;
    return recovered ? 'recovered' : 'ok';
  }

  failed(): PollVerdict {
    this.#failures += 1;
    this.#polled = true;
    return this.#failures === 1 ? 'failed-first' : 'failed-again';
  }

  /** How long to wait before the next poll. */
  nextDelayMs(): number {
    if (this.#failures === 0) return this.#intervalMs;
    const backoff = this.#firstRetryMs * 2 ** Math.min(this.#failures - 1, 30);
    return Math.min(this.#intervalMs, backoff);
  }

  /** Why /readyz should fail, or undefined. */
  notReady(): string | undefined {
    if (this.#failures < this.#unreadyAfter) return undefined;
    return `${this.sourceName} unreachable for the last ${this.#failures} polls`;
  }
}
