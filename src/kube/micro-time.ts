// Kubernetes timestamps on the wire: metav1.MicroTime (exactly six fractional digits) and metav1.Time.
//
// The apiserver parses MicroTime fields (Lease renewTime/acquireTime, Event eventTime and
// series.lastObservedTime) with Go's RFC3339Micro layout and answers 400 to anything else, so the
// three digits of `Date.toISOString()` are refused. @kubernetes/client-node 2.x does not convert
// these fields: its serializer has no model for `V1MicroTime`, passes the value through untouched
// and lets `JSON.stringify` call `toJSON()`. A plain Date therefore goes out with three digits, a
// string goes out verbatim, and it hands back what the server sent as a string even though the
// field is typed `Date`. `MicroTime` below is a Date whose JSON form is the six-digit string, so
// typed request bodies stay typed and still serialise correctly.

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function checkDate(date: Date): void {
  if (Number.isNaN(date.getTime())) throw new RangeError('invalid Date');
  const year = date.getUTCFullYear();
  // RFC 3339 has four-digit years only.
  if (year < 0 || year > 9999) throw new RangeError(`year ${year} is outside RFC 3339's 0000–9999`);
}

function checkMicroseconds(microseconds: number): void {
  if (!Number.isInteger(microseconds) || microseconds < 0 || microseconds > 999) {
    throw new RangeError(`microseconds must be an integer in 0–999, got ${microseconds}`);
  }
}

function formatSeconds(date: Date): string {
  return (
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}` +
    `T${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}`
  );
}

/**
 * RFC 3339 in UTC with exactly six fractional digits, the only form the apiserver accepts for a
 * MicroTime: `2026-11-22T15:04:05.123456Z`. `microseconds` (0–999) is the part below the Date's
 * millisecond.
 */
export function formatMicroTime(date: Date, microseconds = 0): string {
  checkDate(date);
  checkMicroseconds(microseconds);
  return `${formatSeconds(date)}.${pad(date.getUTCMilliseconds(), 3)}${pad(microseconds, 3)}Z`;
}

/**
 * RFC 3339 in UTC to the second, the form metav1.Time takes on the wire (`lastTransitionTime`,
 * `creationTimestamp`); the sub-second part is dropped, as Go's marshaller drops it.
 */
export function formatTime(date: Date): string {
  checkDate(date);
  return `${formatSeconds(date)}Z`;
}

export interface ParsedMicroTime {
  /** The instant to the millisecond. */
  readonly date: Date;
  /** The microseconds below `date`'s millisecond (0–999); nanoseconds are truncated. */
  readonly microseconds: number;
}

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
}

/**
 * Parses an RFC 3339 timestamp as the apiserver writes Time and MicroTime values: any number of
 * fractional digits up to nine, `Z` or a numeric offset. Throws a RangeError on anything else, so a
 * malformed timestamp is never mistaken for an old (expired) or a far-future one.
 */
export function parseMicroTime(text: string): ParsedMicroTime {
  const match = RFC3339.exec(text);
  if (!match) throw new RangeError(`not an RFC 3339 timestamp: ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, fraction = '', zulu, sign, offsetHours, offsetMinutes] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const offHours = Number(offsetHours ?? 0);
  const offMinutes = Number(offsetMinutes ?? 0);
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    offHours > 23 ||
    offMinutes > 59
  ) {
    throw new RangeError(`not a valid RFC 3339 timestamp: ${JSON.stringify(text)}`);
  }
  const digits = fraction.padEnd(6, '0');
  const milliseconds = Number(digits.slice(0, 3));
  const microseconds = Number(digits.slice(3, 6));
  const offsetMs = zulu ? 0 : (sign === '-' ? -1 : 1) * (offHours * 60 + offMinutes) * 60_000;
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear does not.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, milliseconds);
  return { date: new Date(date.getTime() - offsetMs), microseconds };
}

/**
 * Reads a Time or MicroTime field from an object client-node returned: typed `Date` but, for
 * MicroTime fields, a string at run time. Undefined when the field is absent.
 */
export function readTimestamp(value: Date | string | undefined | null): Date | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new RangeError('invalid Date');
    return value;
  }
  return parseMicroTime(value).date;
}

/**
 * A Date that client-node sends as a six-digit MicroTime (through `toJSON` → `toISOString`), for
 * typed bodies such as `V1Lease` and `EventsV1Event` whose MicroTime fields are declared as Dates.
 */
export class MicroTime extends Date {
  readonly microseconds: number;

  /** Defaults to the current wall-clock time (Date.now has millisecond resolution). */
  constructor(date: Date = new Date(), microseconds = 0) {
    checkDate(date);
    checkMicroseconds(microseconds);
    super(date.getTime());
    this.microseconds = microseconds;
  }

  override toISOString(): string {
    return formatMicroTime(this, this.microseconds);
  }
}
