// The JSON logger every long-running op-kube command uses, with credentials redacted.
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
