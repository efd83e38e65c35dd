// Failures a test can switch on through the admin listener, to exercise clients against a bad day.
export interface Faults {
  /** Every /v1 call answers 503. */
  outage: boolean;
  /** Added before every /v1 answer. */
  latencyMs: number;
  /** The next N file requests answer 500 "file not yet synced", as a syncing Connect does. */
  fileFaults: number;
  /** The next N /v1 calls answer 429, as a rate-limited service does. */
  rateLimited: number;
}

export function noFaults(): Faults {
  return { outage: false, latencyMs: 0, fileFaults: 0, rateLimited: 0 };
}
