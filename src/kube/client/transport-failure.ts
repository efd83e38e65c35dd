// Sorts the ways an apiserver call can fail without an answer: which mean its pooled connection or HTTP/2 session is broken, and which calls may be sent again.
//
// See docs/decisions/011-apiserver-http-version.md: a connection that keeps failing is replaced
// rather than trusted, and a call that is safe to repeat is repeated once on a fresh connection.

export type TransportFailureKind =
  /**
   * The HTTP/2 session itself refuses work (GOAWAY, a session error, streams reset with
   * ENHANCE_YOUR_CALM): every later call on it would fail the same way.
   */
  | 'session'
  /** The connection broke under this call: reset, closed early, or silent past undici's limits. */
  | 'connection'
  /** The client's own time limit ran out: a stuck connection, or a slow apiserver. */
  | 'timeout'
  /** No connection could be made (refused, no route, DNS): a new pool would not connect either. */
  | 'unreachable'
  /** The caller aborted the call. */
  | 'aborted'
  /** Anything else: TLS verification, a bad argument, a bug. */
  | 'other';

// Node's own HTTP/2 session errors: the session is unusable, whatever stream reported it.
const SESSION_CODES = new Set([
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_HTTP2_INVALID_SESSION',
  'ERR_HTTP2_OUT_OF_STREAMS',
  'ERR_HTTP2_TOO_MANY_INVALID_FRAMES',
]);

const CONNECTION_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_INFO',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The error and its causes, outermost first; bounded so a cyclic chain cannot loop. */
function chain(error: unknown): { name: string; code: string; message: string }[] {
  const links: { name: string; code: string; message: string }[] = [];
  let current: unknown = error;
  while (current instanceof Error && links.length < 8) {
    const code = (current as { code?: unknown }).code;
    links.push({
      name: current.name,
      code: typeof code === 'string' ? code : '',
      message: current.message,
    });
    current = current.cause;
  }
  return links;
}

function kindOf(link: { name: string; code: string; message: string }): TransportFailureKind {
  const { name, code, message } = link;
  // undici reports a proxy's refusal (CONNECT answered 403, 407, 502, …) as an abort: it is a
  // connection that could not be made, not the caller giving up.
  if (
    /^Proxy response \(\d{3}\) !== 200 when HTTP Tunneling|^Proxy Authentication Required/.test(
      message,
    )
  ) {
    return 'unreachable';
  }
  if (name === 'TimeoutError') return 'timeout';
  if (name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') {
    return 'aborted';
  }
  if (SESSION_CODES.has(code)) return 'session';
  // Node resets a stream with ENHANCE_YOUR_CALM when its session is over maxSessionMemory, and
  // keeps doing so for every later stream while the session lives (decision 011).
  if (code.startsWith('ERR_HTTP2_') || code === 'UND_ERR_INFO' || code === 'UND_ERR_SOCKET') {
    if (/ENHANCE_YOUR_CALM|GOAWAY/i.test(message)) return 'session';
  }
  if (CONNECTION_CODES.has(code) || code.startsWith('ERR_HTTP2_')) return 'connection';
  if (UNREACHABLE_CODES.has(code)) return 'unreachable';
  return 'other';
}

/**
 * What kind of failure `error` (as undici or Node raised it, before it became a KubeApiError) is.
 * The first link of the cause chain with a kind other than `other` decides.
 */
export function classifyTransportFailure(error: unknown): TransportFailureKind {
  for (const link of chain(error)) {
    const kind = kindOf(link);
    if (kind !== 'other') return kind;
  }
  return 'other';
}

/** Content types whose PATCH gives the same result however often it is applied. */
const IDEMPOTENT_PATCHES = new Set([
  'application/apply-patch+yaml',
  'application/merge-patch+json',
]);

/**
 * Whether sending the call twice leaves the apiserver as sending it once. GET, PUT and DELETE
 * are; server-side apply and merge patches are (the same document yields the same object). POST
 * (a create, an Event) and JSON or strategic patches (which may append to lists) are not: a call
 * whose answer was lost may already have taken effect.
 */
export function isIdempotent(method: string, contentType: string | undefined): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'PUT':
    case 'DELETE':
      return true;
    case 'PATCH':
      return contentType !== undefined && IDEMPOTENT_PATCHES.has(contentType);
    default:
      return false;
  }
}

/** A failure after which the same call, sent again on a fresh connection, may well succeed. */
export function isRetryableTransportFailure(kind: TransportFailureKind): boolean {
  return kind === 'session' || kind === 'connection';
}
