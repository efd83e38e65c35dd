// Failures a test can switch on through the admin listener, to exercise clients against a bad day.
export interface Faults {
  /** Every /v1 call answers 503. */
  outage: boolean;
  /** Added before every /v1 answer. */
  latencyMs: number;
  /** The next N file requests answer 500 "file not yet synced", as a syncing Connect does. */
  fileFaults: number;
}

export function noFaults(): Faults {
  return { outage: false, latencyMs: 0, fileFaults: 0 };
}
