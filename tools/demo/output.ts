// What the demo prints: its narration on stdout and its failures.
import { MissingGoError } from '../cluster/build.ts';

/** A step's expected way to fail: its message is shown alone, without a stack. */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
}

export const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

/** The message a failed step is reported with; a stack only for errors nobody expected. */
export function failureMessage(error: unknown): string {
  if (error instanceof MissingGoError || error instanceof StepFailure) return error.message;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
