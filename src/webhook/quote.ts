// Values quoted into messages, cut short: a message says what is wrong, it does not echo a hostile body back or into the log.

/** Longer than any Kubernetes name (63) or image tag (128 is rare), short enough for one line. */
export const MAX_QUOTED_LENGTH = 80;

/** `value` as JSON, cut to MAX_QUOTED_LENGTH characters with "…" when longer. */
export function quoted(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= MAX_QUOTED_LENGTH ? text : `${text.slice(0, MAX_QUOTED_LENGTH)}…`;
}
