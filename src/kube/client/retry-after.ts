// When the apiserver says "not now, try again in N seconds", and whether a call may take it up.
//
// The apiserver answers 429 with Retry-After when priority-and-fairness or max-in-flight sheds a
// call, or a resource's watch cache is still initialising ("storage is (re)initializing"); and 5xx
// with Retry-After while it shuts down (--shutdown-send-retry-after) or when a call timed out.
// client-go waits and resends in every such case, up to ten times. A 429 was never processed, so
// any call is resent; a 5xx may have been (a create that timed out may exist), so only a call that
// is safe to repeat is.

/** As client-go's default: after ten waits the error is the caller's. */
export const MAX_RETRY_AFTER_WAITS = 10;
/** A Retry-After beyond this is not waited out in full: the caller's own timeout still bounds it. */
const MAX_WAIT_SECONDS = 10;

/**
 * The wait in milliseconds before sending the call again, or undefined when this answer is final.
 * `header` is Retry-After as received (only delay-seconds; an HTTP date or garbage is ignored, as
 * client-go does).
 */
export function retryAfterMs(
  status: number,
  header: string | string[] | undefined,
  repeatable: boolean,
): number | undefined {
  if (status !== 429 && !(status >= 500 && status <= 599 && repeatable)) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\s*\d{1,9}\s*$/.test(value)) return undefined;
  return Math.min(Number(value), MAX_WAIT_SECONDS) * 1000;
}
