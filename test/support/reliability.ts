// Rows for docs/reliability.md, recorded by the fault tests themselves when OP_KUBE_RELIABILITY_OUT names a file.
import { appendFile } from 'node:fs/promises';

export interface ReliabilityRow {
  /** The test file or suite that measured it, e.g. `operator-connect-faults`. */
  readonly suite: string;
  /** What the hostile world did. */
  readonly fault: string;
  /** What op-kube must do. */
  readonly expected: string;
  /** What it did, in figures where there are any. */
  readonly observed: string;
  /** From the fault to op-kube reporting it, when measured. */
  readonly detectMs?: number;
  /** From the fault healing to op-kube being back to normal, when measured. */
  readonly recoveryMs?: number;
}

/**
 * Appends one JSON line (one write of a short line with O_APPEND, so test files running side by side
 * do not interleave). Does nothing unless OP_KUBE_RELIABILITY_OUT is set (`npm run reliability`).
 */
export async function recordReliability(row: ReliabilityRow): Promise<void> {
  const out = process.env.OP_KUBE_RELIABILITY_OUT;
  if (!out) return;
  await appendFile(out, `${JSON.stringify(row)}\n`);
}
