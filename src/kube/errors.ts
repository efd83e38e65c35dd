// Errors a reconciler throws to tell its controller how a failure is to be treated.

/**
 * A failure that retrying cannot fix (an itemPath that can never parse, a Secret name taken by an
 * object op-kube does not own): the controller reports it and does not retry it; the key is
 * reconciled again only when something enqueues it anew (an edit, a resync).
 */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
  /** A CamelCase machine reason, as a condition's reason: `InvalidItemPath`. */
  readonly reason: string;

  constructor(reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * The TerminalError `error` is or wraps through `cause` (as Go's errors.As), so a reconciler may
 * add context to one without turning it into a retryable error.
 */
export function terminalCause(error: unknown): TerminalError | undefined {
  const seen = new Set<unknown>();
  for (let current = error; current instanceof Error && !seen.has(current);) {
    if (current instanceof TerminalError) return current;
    seen.add(current);
    current = current.cause;
  }
  return undefined;
}
