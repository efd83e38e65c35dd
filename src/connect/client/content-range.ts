// Parses the `Content-Range: 1-50/1134` header of `GET /v1/activity` into the page's position.

export interface ActivityRange {
  /** 1-based index of the first entry on this page; absent for an empty page (only a total sent). */
  first?: number;
  last?: number;
  /** Entries in the whole log. */
  total: number;
}

// Connect sends the bare form; the RFC 9110 form with a unit (`items 1-50/1134`) is accepted too.
const CONTENT_RANGE = /^\s*(?:[A-Za-z]+\s+)?(?:(\d+)-(\d+)|\*)\/(\d+)\s*$/;

export function parseContentRange(header: string | undefined): ActivityRange | undefined {
  const match = header === undefined ? null : CONTENT_RANGE.exec(header);
  if (!match) return undefined;
  const total = Number(match[3]);
  if (!Number.isSafeInteger(total)) return undefined;
  if (match[1] === undefined) return { total };
  const [first, last] = [Number(match[1]), Number(match[2])];
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) return undefined;
  return { first, last, total };
}
