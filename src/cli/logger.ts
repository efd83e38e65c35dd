// The JSON logger every long-running op-kube command uses, with credentials redacted; zap's console layout on request.
import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Belt and braces: no code path logs a token, a Secret's data or a private key, and if one ever
 * did, these paths would show `[redacted]` instead. Exact credential names only: a bare `key` is
 * the work queue's `namespace/name` (or a Secret's key name), which an operator must see.
 */
const REDACTED_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  '*.headers.cookie',
  // A Secret's data, and any map of values shaped like it.
  'data',
  '*.data',
  'stringData',
  '*.stringData',
  'password',
  '*.password',
  // Private keys, under names that are only ever private keys.
  'privateKey',
  '*.privateKey',
  'certificate.key',
  '*.certificate.key',
  '["tls.key"]',
  '*["tls.key"]',
  '["ca.key"]',
  '*["ca.key"]',
];

/** Credentials recognisable by their shape, wherever a line carries them (an error message, say). */
const CREDENTIAL_PATTERNS: readonly [RegExp, string][] = [
  // A PEM private key, whole or cut short; in a JSON line its newlines are the two characters `\n`.
  [
    /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[A-Za-z0-9+/=\\\s]*)/g,
    '[redacted private key]',
  ],
  // JWTs: Connect tokens and Kubernetes service account tokens.
  [/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, '[redacted]'],
  // 1Password service account tokens.
  [/ops_[A-Za-z0-9_-]{20,}/g, '[redacted]'],
  // A credential after `Bearer`; not the words of a message such as "Invalid bearer token: …".
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]{16,}/gi, '$1[redacted]'],
];

/** A log line with every credential-shaped string replaced. */
export function scrubCredentials(line: string): string {
  let scrubbed = line;
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) {
    scrubbed = scrubbed.replace(pattern, replacement);
  }
  return scrubbed;
}

export function createLogger(
  component: string,
  level: string,
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { component },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    hooks: { streamWrite: scrubCredentials },
  };
  return destination ? pino(options, destination) : pino(options);
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

function columnText(value: unknown): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * One JSON line as zap's console encoder (`--zap-encoder=console`) lays it out: time, level,
 * component and message separated by tabs, then every other field as JSON. A line that is not a
 * JSON object is passed on unchanged.
 */
export function consoleLine(jsonLine: string): string {
  let record: unknown;
  try {
    record = JSON.parse(jsonLine);
  } catch {
    return jsonLine;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return jsonLine;
  const { time, level, component, msg, ...fields } = record as Record<string, unknown>;
  const columns = [
    typeof time === 'number' ? new Date(time).toISOString() : columnText(time),
    (typeof level === 'number' ? LEVEL_NAMES[level] : undefined) ?? columnText(level),
    columnText(component),
    columnText(msg),
  ];
  if (Object.keys(fields).length > 0) columns.push(JSON.stringify(fields));
  return `${columns.join('\t')}\n`;
}

/**
 * A destination writing zap's console layout to `output` (default stdout). Lines reach it after
 * redaction and scrubbing, as they reach the JSON destination.
 */
export function consoleDestination(
  output: { write(text: string): unknown } = process.stdout,
): DestinationStream {
  return { write: (line: string) => void output.write(consoleLine(line)) };
}
