// The JSON logger every long-running op-kube command uses, with credentials redacted.
import pino, { type Logger } from 'pino';

/**
 * Belt and braces: no code path logs a token, a Secret's data or a private key, and if one ever
 * did, these paths would show `[redacted]` instead.
 */
const REDACTED_PATHS = [
  'token',
  '*.token',
  'headers.authorization',
  '*.headers.authorization',
  'data',
  '*.data',
  'key',
  '*.key',
];

export function createLogger(component: string, level: string): Logger {
  return pino({
    level,
    base: { component },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  });
}
