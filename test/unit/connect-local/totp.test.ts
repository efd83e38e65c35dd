// RFC 6238 test vectors for the OTP codes connect-local returns in a field's `totp`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { totpCode } from '../../../src/connect-local/totp.ts';

const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // base32 of "12345678901234567890"

describe('totpCode', () => {
  const vectors: [number, string][] = [
    [59, '94287082'],
    [1_111_111_109, '07081804'],
    [1_234_567_890, '89005924'],
    [2_000_000_000, '69279037'],
  ];
  for (const [seconds, code] of vectors) {
    it(`SHA-1, 8 digits at T=${seconds} → ${code}`, () => {
      const uri = `otpauth://totp/test?secret=${RFC_SECRET}&digits=8&algorithm=SHA1`;
      assert.equal(totpCode(uri, seconds * 1000), code);
    });
  }

  it('reads a bare base32 secret as 6 digits every 30 s', () => {
    assert.equal(totpCode(RFC_SECRET, 59_000), '287082');
    assert.equal(totpCode(RFC_SECRET.toLowerCase(), 59_000), '287082');
  });

  it('returns undefined for values that are not OTP secrets', () => {
    for (const value of [
      '',
      'not base32!',
      'otpauth://totp/x',
      'otpauth://totp/x?secret=ABC&digits=5',
    ]) {
      assert.equal(totpCode(value, 0), undefined, value);
    }
  });
});
