// Rows for docs/reliability.md, recorded by the fault tests themselves when OP_KUBE_RELIABILITY_OUT names a file.
import { appendFile } from 'node:fs/promises';
import type { RecordedRow } from '../../tools/reliability/render.ts';

/** The row docs/reliability.md is rendered from. */
export type ReliabilityRow = RecordedRow;

/**
 * Appends one JSON line (one write of a short line with O_APPEND, so test files running side by side
 * do not interleave). Does nothing unless OP_KUBE_RELIABILITY_OUT is set (`npm run reliability`).
 */
export async function recordReliability(row: ReliabilityRow): Promise<void> {
  const out = process.env.OP_KUBE_RELIABILITY_OUT;
  if (!out) return;
  await appendFile(out, `${JSON.stringify(row)}\n`);
}
