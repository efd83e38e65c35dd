// Retry delays for work-queue keys: per-key exponential backoff, an overall token bucket, and their max.

/**
 * Decides how long a key waits before it is retried. Pure apart from its own counters: time and
 * randomness come from injected functions, so tests drive them.
 */
export interface RateLimiter<K = string> {
  /** The delay in ms before `key` is retried; counts one failure of `key`. */
  when(key: K): number;
  /** Clears `key`'s failure history, after it succeeded or was given up on. */
  forget(key: K): void;
  /** Failures counted for `key` since it was last forgotten. */
  failures(key: K): number;
}

export interface ExponentialBackoffOptions {
  /** Ceiling of the first delay; default 1 s. */
  readonly baseMs?: number;
  /** Ceiling of every delay; default 5 min. */
  readonly maxMs?: number;
  /**
   * Fraction of the ceiling the jitter may take off, in [0, 1]; default 0.2. Each delay is uniform
   * in (ceiling · (1 − jitter), ceiling].
   */
  readonly jitter?: number;
  /** Values in [0, 1), as Math.random. */
  readonly random?: () => number;
}

function requireNumber(name: string, value: number, min: number, max = Infinity): number {
  if (!(value >= min && value <= max)) {
    throw new RangeError(`${name} must be in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/**
 * client-go's ItemExponentialFailureRateLimiter with jitter: the n-th failure in a row waits up to
 * min(maxMs, baseMs · 2^(n−1)). Jitter only shortens a delay, so the cap stays a hard bound;
 * below 1 it never shortens one to zero, so keys that failed together (a Connect outage fails
 * every item at once) spread out without any of them retrying at once against a server that is
 * down.
 */
export class ExponentialBackoffLimiter<K = string> implements RateLimiter<K> {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #failures = new Map<K, number>();

  constructor(options: ExponentialBackoffOptions = {}) {
    this.#baseMs = requireNumber('baseMs', options.baseMs ?? 1000, 0);
    this.#maxMs = requireNumber('maxMs', options.maxMs ?? 300_000, this.#baseMs);
    this.#jitter = requireNumber('jitter', options.jitter ?? 0.2, 0, 1);
    this.#random = options.random ?? Math.random;
  }

  when(key: K): number {
    const previous = this.#failures.get(key) ?? 0;
    this.#failures.set(key, previous + 1);
    // Past 2^1000 the product is Infinity (or NaN for a zero base); the cap applies long before.
    const ceiling = Math.min(this.#maxMs, this.#baseMs * 2 ** Math.min(previous, 1000));
    return ceiling * (1 - this.#jitter * this.#random());
  }

  forget(key: K): void {
    this.#failures.delete(key);
  }

  failures(key: K): number {
    return this.#failures.get(key) ?? 0;
  }
}

export interface TokenBucketOptions {
  /** Tokens added per second; default 10. */
  readonly qps?: number;
  /** Bucket size, the number of retries allowed at once after a quiet spell; default 100. */
  readonly burst?: number;
  /** Monotonic milliseconds; default performance.now. */
  readonly now?: () => number;
}

/**
 * client-go's BucketRateLimiter (golang.org/x/time/rate `Reserve().Delay()`): every call takes a
 * token, and when none is left it reserves the next one, so the delays of a burst of failures
 * grow by 1/qps each and the overall retry rate stays at qps whatever the number of keys.
 */
export class TokenBucketLimiter<K = string> implements RateLimiter<K> {
  readonly #qps: number;
  readonly #burst: number;
  readonly #now: () => number;
  /** Negative when calls have reserved tokens not yet added. */
  #tokens: number;
  #updatedAt: number;

  constructor(options: TokenBucketOptions = {}) {
    this.#qps = requireNumber('qps', options.qps ?? 10, Number.MIN_VALUE);
    this.#burst = requireNumber('burst', options.burst ?? 100, 1);
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = this.#burst;
    this.#updatedAt = this.#now();
  }

  when(_key: K): number {
    const now = this.#now();
    // max(): a clock that steps back must not take tokens away.
    const elapsedMs = Math.max(0, now - this.#updatedAt);
    this.#updatedAt = Math.max(now, this.#updatedAt);
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsedMs * this.#qps) / 1000) - 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#qps;
  }

  forget(_key: K): void {}

  failures(_key: K): number {
    return 0;
  }
}

/** client-go's MaxOfRateLimiter: every limiter counts the failure; the longest delay wins. */
export class MaxOfLimiter<K = string> implements RateLimiter<K> {
  readonly #limiters: readonly RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    if (limiters.length === 0) throw new RangeError('MaxOfLimiter needs at least one limiter');
    this.#limiters = limiters;
  }

  when(key: K): number {
    // Every limiter is asked, not just until one answers: each has to count the failure.
    return Math.max(...this.#limiters.map((limiter) => limiter.when(key)));
  }

  forget(key: K): void {
    for (const limiter of this.#limiters) limiter.forget(key);
  }

  failures(key: K): number {
    return Math.max(...this.#limiters.map((limiter) => limiter.failures(key)));
  }
}

export interface DefaultRateLimiterOptions {
  readonly backoff?: ExponentialBackoffOptions;
  readonly bucket?: TokenBucketOptions;
}

/**
 * The limiter a controller retries with: per-key backoff from 1 s to 5 min, and no more than 10
 * retries a second overall after a burst of 100 (client-go's DefaultControllerRateLimiter, with a
 * base that does not hammer Connect at 5 ms).
 */
export function createDefaultRateLimiter<K = string>(
  options: DefaultRateLimiterOptions = {},
): RateLimiter<K> {
  return new MaxOfLimiter<K>(
    new ExponentialBackoffLimiter<K>(options.backoff),
    new TokenBucketLimiter<K>(options.bucket),
  );
}
