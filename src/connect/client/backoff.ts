// Retry delays: exponential backoff with full jitter, so clients that failed together do not retry together.

export interface BackoffOptions {
  /** Cap of the first delay. */
  baseMs?: number;
  /** Cap of every delay. */
  maxMs?: number;
}

/**
 * The delay before the retry that follows failed attempt `attempt` (1-based): uniformly random in
 * [0, min(maxMs, baseMs · 2^(attempt−1))). `random` returns values in [0, 1), as Math.random does.
 */
export function backoffDelay(
  attempt: number,
  { baseMs = 100, maxMs = 5000 }: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  const cap = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.floor(random() * cap);
}
