// Parsers for flag values written the way Go programs accept them (strconv and time.ParseDuration).

/** strconv.ParseBool: the exact spellings Go accepts; anything else is undefined. */
export function parseGoBool(text: string): boolean | undefined {
  switch (text) {
    case '1':
    case 't':
    case 'T':
    case 'true':
    case 'TRUE':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'false':
    case 'FALSE':
    case 'False':
      return false;
    default:
      return undefined;
  }
}

const INT_PREFIXES: readonly (readonly [RegExp, number])[] = [
  [/^0[xX]/, 16],
  [/^0[oO]/, 8],
  [/^0[bB]/, 2],
  [/^0(?=.)/, 8],
];

/**
 * strconv.ParseInt(text, 0, 64) as Go's flag package uses it for int flags: decimal, `0x`, `0o`,
 * `0b` and a leading-zero octal, underscores only after a base prefix and between digits.
 * Undefined when invalid or outside the safe-integer range.
 */
export function parseGoInt(text: string): number | undefined {
  const negative = text.startsWith('-');
  const unsigned = text.replace(/^[+-]/, '');
  const prefix = INT_PREFIXES.find(([pattern]) => pattern.test(unsigned));
  const [digits, radix] = prefix ? [unsigned.replace(prefix[0], ''), prefix[1]] : [unsigned, 10];
  const digitClass = { 16: '[0-9a-fA-F]', 8: '[0-7]', 2: '[01]', 10: '[0-9]' }[radix];
  const separators = prefix ? '_?' : '';
  const valid = new RegExp(`^${separators}${digitClass}+(?:_${digitClass}+)*$`);
  if (!valid.test(digits)) return undefined;
  const value = Number.parseInt(digits.replaceAll('_', ''), radix);
  if (!Number.isSafeInteger(value)) return undefined;
  return negative ? -value : value;
}

/**
 * strconv.Atoi as 1Password's operator reads POLLING_INTERVAL: an optional sign and decimal digits
 * only (no base prefix, no underscores, no spaces; "010" is ten). Undefined when invalid or
 * outside the safe-integer range (Go's limit is int64; beyond 2^53 nothing here could use it).
 */
export function parseGoAtoi(text: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const DURATION_PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/**
 * time.ParseDuration: a signed sequence of decimal numbers with units ("300ms", "-1.5h",
 * "2h45m"); "0" alone is allowed. Returns milliseconds, or undefined when the text is invalid.
 */
export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const match = DURATION_PART.exec(rest);
    if (!match) return undefined;
    const [whole, amount = '', unit = ''] = match;
    const perUnit = DURATION_UNITS_MS[unit];
    if (perUnit === undefined) return undefined;
    total += Number.parseFloat(amount) * perUnit;
    rest = rest.slice(whole.length);
  }
  return sign * total;
}

/** time.Duration.String for a whole number of milliseconds: "1h0m0s", "1m30s", "1.5s", "300ms". */
export function formatGoDuration(milliseconds: number): string {
  if (milliseconds === 0) return '0s';
  const sign = milliseconds < 0 ? '-' : '';
  let rest = Math.abs(milliseconds);
  if (rest < 1000) return `${sign}${rest}ms`;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const hourPart = hours ? `${hours}h` : '';
  const minutePart = hours || minutes ? `${minutes}m` : '';
  return `${sign}${hourPart}${minutePart}${rest / 1000}s`;
}
