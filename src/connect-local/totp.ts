// Current one-time codes for OTP fields (RFC 6238), which Connect returns as a field's `totp`.
import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function decodeBase32(text: string): Buffer | undefined {
  const clean = text.replace(/[\s=-]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const bytes: number[] = [];
  for (const character of clean) {
    const index = BASE32.indexOf(character);
    if (index === -1) return undefined;
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return bytes.length ? Buffer.from(bytes) : undefined;
}

interface TotpParameters {
  readonly secret: Buffer;
  readonly digits: number;
  readonly periodSeconds: number;
  readonly algorithm: 'sha1' | 'sha256' | 'sha512';
}

/** An `otpauth://totp/...?secret=...` URI or a bare base32 secret; undefined when neither. */
function parameters(value: string): TotpParameters | undefined {
  if (!value.startsWith('otpauth://')) {
    const secret = decodeBase32(value);
    return secret && { secret, digits: 6, periodSeconds: 30, algorithm: 'sha1' };
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const secret = decodeBase32(url.searchParams.get('secret') ?? '');
  const digits = Number(url.searchParams.get('digits') ?? 6);
  const periodSeconds = Number(url.searchParams.get('period') ?? 30);
  const algorithm = (url.searchParams.get('algorithm') ?? 'SHA1').toLowerCase();
  if (!secret || ![6, 7, 8].includes(digits) || !(periodSeconds > 0)) return undefined;
  if (algorithm !== 'sha1' && algorithm !== 'sha256' && algorithm !== 'sha512') return undefined;
  return { secret, digits, periodSeconds, algorithm };
}

export function totpCode(value: string, now: number = Date.now()): string | undefined {
  const params = parameters(value);
  if (!params) return undefined;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(now / 1000 / params.periodSeconds)));
  const digest = createHmac(params.algorithm, params.secret).update(counter).digest();
  const offset = (digest[digest.length - 1] ?? 0) & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** params.digits).padStart(params.digits, '0');
}
