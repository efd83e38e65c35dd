// ES256 JSON Web Tokens shaped like Connect's, signed and verified with node:crypto alone.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export const CONNECT_AUDIENCE = 'com.1password.connect';

/** Permission bits in the `1password.com/vts` claim (connect-local's own values). */
export const VAULT_READ = 32;
export const VAULT_WRITE = 64;

export interface VaultScope {
  /** Vault id. */
  readonly u: string;
  /** Permission bits: VAULT_READ | VAULT_WRITE. */
  readonly a: number;
}

export interface ConnectClaims {
  readonly aud: string[];
  readonly sub: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp?: number;
  readonly '1password.com/auuid': string;
  readonly '1password.com/fts': string[];
  readonly '1password.com/vts': VaultScope[];
  readonly '1password.com/token': string;
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

export function signToken(claims: ConnectClaims, privateKeyPem: string, kid: string): string {
  const header = base64url(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' }));
  const payload = base64url(JSON.stringify(claims));
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
    key: createPrivateKey(privateKeyPem),
    dsaEncoding: 'ieee-p1363',
  });
  return `${header}.${payload}.${base64url(signature)}`;
}

export type VerifyFailure = 'malformed' | 'signature';

/** Checks shape, algorithm, key id and signature; expiry and revocation are the caller's. */
export function verifyToken(
  token: string,
  publicKey: KeyObject,
  kid: string,
): { ok: true; claims: ConnectClaims } | { ok: false; failure: VerifyFailure } {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, failure: 'malformed' };
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  let header: { alg?: unknown; kid?: unknown };
  let claims: ConnectClaims;
  try {
    header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as typeof header;
    claims = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8')) as ConnectClaims;
  } catch {
    return { ok: false, failure: 'malformed' };
  }
  const isRecord = (value: unknown): boolean =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isRecord(header) || header.alg !== 'ES256' || !isRecord(claims)) {
    return { ok: false, failure: 'malformed' };
  }
  const signed = verify(
    'sha256',
    Buffer.from(`${headerPart}.${payloadPart}`),
    { key: publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(signaturePart, 'base64url'),
  );
  if (!signed || header.kid !== kid) return { ok: false, failure: 'signature' };
  return { ok: true, claims };
}

export function publicKeyOf(privateKeyPem: string): KeyObject {
  return createPublicKey(createPrivateKey(privateKeyPem));
}
