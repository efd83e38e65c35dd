// The one error base op-kube's typed errors extend, and the controller's rule for terminal failures.

export interface OpKubeErrorOptions extends ErrorOptions {
  /** Retrying cannot fix it; only a change of the object (or of another owner) can. */
  readonly terminal?: boolean;
}

/**
 * A failure with a CamelCase machine reason (a condition's reason, an HTTP Status reason) and a
 * human message; `terminal` when retrying cannot fix it, `cause` for what it wraps. Each typed error
 * extends it and narrows `Reason` to its own vocabulary.
 */
export class OpKubeError<Reason extends string = string> extends Error {
  override readonly name: string = 'OpKubeError';
  readonly reason: Reason;
  // Private, so it shows in no log line or JSON that copies an error's own fields.
  readonly #terminal: boolean;

  constructor(reason: Reason, message: string, options?: OpKubeErrorOptions) {
    super(message, options);
    this.reason = reason;
    this.#terminal = options?.terminal ?? false;
  }

  get terminal(): boolean {
    return this.#terminal;
  }
}

/** `instanceof OpKubeError`, typed: `instanceof` alone leaves the reason `any`. */
export function isOpKubeError(error: unknown): error is OpKubeError {
  return error instanceof OpKubeError;
}

/**
 * A failure that retrying cannot fix (an itemPath that can never parse, a Secret name taken by an
 * object op-kube does not own): the controller reports it and does not retry it; the key is
 * reconciled again only when something enqueues it anew (an edit, a resync).
 */
export class TerminalError extends OpKubeError {
  override readonly name = 'TerminalError';

  constructor(reason: string, message: string, options?: ErrorOptions) {
    super(reason, message, { ...options, terminal: true });
  }
}

/**
 * The terminal error `error` is or wraps through `cause` (as Go's errors.As): a TerminalError or any
 * OpKubeError marked terminal, so a reconciler may add context to one without turning it into a
 * retryable error.
 */
export function terminalCause(error: unknown): OpKubeError | undefined {
  const seen = new Set<unknown>();
  for (let current = error; current instanceof Error && !seen.has(current);) {
    if (isOpKubeError(current) && current.terminal) return current;
    seen.add(current);
    current = current.cause;
  }
  return undefined;
}
