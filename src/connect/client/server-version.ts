// The server version check the Go SDK makes before file calls (their endpoints arrived in Connect 1.3.0).

export const MIN_FILES_VERSION = '1.3.0';

type Version = readonly [number, number, number];

function parseVersion(text: string): Version | undefined {
  const parts = text.trim().split('.');
  if (parts.length !== 3 || !parts.every((part) => /^\d+$/.test(part))) return undefined;
  return [Number(parts[0]), Number(parts[1]), Number(parts[2])];
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/**
 * Why a server that sent `header` cannot serve a call needing `minimum`, or undefined when it can.
 * As in the Go SDK: no header means 1.2.0 or earlier (the header arrived in 1.3.0); a header that
 * does not parse as x.y.z is given the benefit of the doubt.
 */
export function versionShortfall(header: string | undefined, minimum: string): string | undefined {
  const wanted = parseVersion(minimum);
  if (wanted === undefined) throw new RangeError(`invalid minimum version ${minimum}`);
  if (header === undefined || header.trim() === '') {
    return `needs Connect ${minimum} or later; the server sent no version header (1.2.0 or earlier)`;
  }
  const actual = parseVersion(header);
  if (actual === undefined || compare(actual, wanted) >= 0) return undefined;
  return `needs Connect ${minimum} or later; the server is ${header.trim()}`;
}
