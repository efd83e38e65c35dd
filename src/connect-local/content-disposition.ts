// The Content-Disposition of a file download, for any file name (RFC 6266 with RFC 5987 encoding).

/** Printable ASCII a quoted filename can carry as is; `%` and `/` are left out as clients decode them. */
const PLAIN_NAME = /^[\x20-\x21\x23-\x24\x26-\x2e\x30-\x5b\x5d-\x7e]+$/;
const NOT_PLAIN = /[^\x20-\x21\x23-\x24\x26-\x2e\x30-\x5b\x5d-\x7e]/gu;
const COMBINING_MARKS = /[\u0300-\u036f]/g;
/** encodeURIComponent leaves these alone, but RFC 5987's attr-char does not allow them. */
const NOT_ATTR_CHAR = /['()*]/g;

/**
 * `attachment; filename="<name>"` for a plain printable-ASCII name, as Connect sends it; any other
 * name gets an ASCII fallback (accents dropped, anything else `_`) and the exact name, UTF-8 and
 * percent-encoded, in `filename*`. The result is always a valid header value: a raw non-Latin-1
 * character made Node throw (a 500), and a quote, backslash or CR/LF could break out of the quotes.
 */
export function attachmentDisposition(name: string): string {
  if (PLAIN_NAME.test(name)) return `attachment; filename="${name}"`;
  const fallback =
    name.normalize('NFKD').replace(COMBINING_MARKS, '').replace(NOT_PLAIN, '_') || 'file';
  const encoded = encodeURIComponent(name.toWellFormed()).replace(
    NOT_ATTR_CHAR,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
