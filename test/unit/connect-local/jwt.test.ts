// Unit tests for connect-local's ES256 tokens: signToken, verifyToken and publicKeyOf.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, webcrypto } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CONNECT_AUDIENCE,
  VAULT_READ,
  VAULT_WRITE,
  publicKeyOf,
  signToken,
  verifyToken,
  type ConnectClaims,
} from '../../../src/connect-local/jwt.ts';

function newKey(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privatePem: privateKey, publicPem: publicKey };
}

const KEY = newKey();
const OTHER_KEY = newKey();
const KID = 'kid-1';
const PUBLIC = publicKeyOf(KEY.privatePem);

const CLAIMS: ConnectClaims = {
  aud: [CONNECT_AUDIENCE],
  sub: 'serverserverserverserver01',
  jti: 'jtijtijtijtijtijtijtijtiji',
  iat: 1_700_000_000,
  exp: 1_800_000_000,
  '1password.com/auuid': 'ACCOUNT',
  '1password.com/fts': ['vaultaccess'],
  '1password.com/vts': [
    { u: 'vvvvvvvvvvvvvvvvvvvvvvvvvv', a: VAULT_READ | VAULT_WRITE },
    { u: 'wwwwwwwwwwwwwwwwwwwwwwwwww', a: VAULT_READ },
  ],
  '1password.com/token': 'c2VjcmV0',
};

const b64 = (text: string): string => Buffer.from(text).toString('base64url');
const decode = (part: string): unknown =>
  JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

function parts(token: string): [string, string, string] {
  const [header, payload, signature, ...rest] = token.split('.');
  assert.ok(header !== undefined && payload !== undefined && signature !== undefined);
  assert.equal(rest.length, 0);
  return [header, payload, signature];
}

describe('signToken', () => {
  it('produces a compact JWS with an ES256 header carrying the kid', () => {
    const token = signToken(CLAIMS, KEY.privatePem, KID);
    const [header, payload, signature] = parts(token);
    for (const part of [header, payload, signature]) assert.match(part, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decode(header), { alg: 'ES256', kid: KID, typ: 'JWT' });
    assert.deepEqual(decode(payload), CLAIMS);
    // ES256 signatures in JWS are R||S: 64 bytes, not DER.
    assert.equal(Buffer.from(signature, 'base64url').length, 64);
  });

  it('verifies with an independent JOSE-style check (WebCrypto ECDSA P-256, raw signature)', async () => {
    const token = signToken(CLAIMS, KEY.privatePem, KID);
    const [header, payload, signature] = parts(token);
    const key = await webcrypto.subtle.importKey(
      'spki',
      Buffer.from(KEY.publicPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'),
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['verify'],
    );
    const valid = await webcrypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      key,
      Buffer.from(signature, 'base64url'),
      Buffer.from(`${header}.${payload}`),
    );
    assert.equal(valid, true);
  });
});

describe('verifyToken', () => {
  it('round-trips the claims', () => {
    const token = signToken(CLAIMS, KEY.privatePem, KID);
    assert.deepEqual(verifyToken(token, PUBLIC, KID), { ok: true, claims: CLAIMS });
  });

  it('round-trips arbitrary claim strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string(), fc.nat(), (sub, jti, iat) => {
        const claims: ConnectClaims = { ...CLAIMS, sub, jti, iat };
        assert.deepEqual(verifyToken(signToken(claims, KEY.privatePem, KID), PUBLIC, KID), {
          ok: true,
          claims,
        });
      }),
      { numRuns: 50 },
    );
  });

  it('fails with signature when the payload is tampered with', () => {
    const [header, , signature] = parts(signToken(CLAIMS, KEY.privatePem, KID));
    const forged = b64(
      JSON.stringify({
        ...CLAIMS,
        '1password.com/vts': [{ u: 'xxxxxxxxxxxxxxxxxxxxxxxxxx', a: VAULT_WRITE }],
      }),
    );
    assert.deepEqual(verifyToken(`${header}.${forged}.${signature}`, PUBLIC, KID), {
      ok: false,
      failure: 'signature',
    });
  });

  it('fails with signature when the header is tampered with', () => {
    const [, payload, signature] = parts(signToken(CLAIMS, KEY.privatePem, KID));
    const header = b64(JSON.stringify({ alg: 'ES256', kid: KID }));
    assert.deepEqual(verifyToken(`${header}.${payload}.${signature}`, PUBLIC, KID), {
      ok: false,
      failure: 'signature',
    });
  });

  it('fails with signature when any byte of the signature changes', () => {
    const [header, payload, signature] = parts(signToken(CLAIMS, KEY.privatePem, KID));
    const bytes = Buffer.from(signature, 'base64url');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: bytes.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (index, mask) => {
          const changed = Buffer.from(bytes);
          changed[index] = (changed[index] ?? 0) ^ mask;
          assert.deepEqual(
            verifyToken(`${header}.${payload}.${changed.toString('base64url')}`, PUBLIC, KID),
            {
              ok: false,
              failure: 'signature',
            },
          );
        },
      ),
      { numRuns: 50 },
    );
  });

  it('fails with signature for the wrong kid', () => {
    const token = signToken(CLAIMS, KEY.privatePem, KID);
    assert.deepEqual(verifyToken(token, PUBLIC, 'kid-2'), { ok: false, failure: 'signature' });
    const other = signToken(CLAIMS, KEY.privatePem, 'kid-2');
    assert.deepEqual(verifyToken(other, PUBLIC, KID), { ok: false, failure: 'signature' });
  });

  it('fails with signature for a token signed by another key', () => {
    const token = signToken(CLAIMS, OTHER_KEY.privatePem, KID);
    assert.deepEqual(verifyToken(token, PUBLIC, KID), { ok: false, failure: 'signature' });
    assert.deepEqual(verifyToken(token, publicKeyOf(OTHER_KEY.privatePem), KID), {
      ok: true,
      claims: CLAIMS,
    });
  });

  it('fails with signature for an empty or truncated signature', () => {
    const [header, payload, signature] = parts(signToken(CLAIMS, KEY.privatePem, KID));
    for (const bad of ['', signature.slice(0, 40), 'AAAA']) {
      assert.deepEqual(verifyToken(`${header}.${payload}.${bad}`, PUBLIC, KID), {
        ok: false,
        failure: 'signature',
      });
    }
  });

  const token = signToken(CLAIMS, KEY.privatePem, KID);
  const [goodHeader, goodPayload, goodSignature] = parts(token);
  const malformed: ReadonlyArray<readonly [string, string]> = [
    ['an empty string', ''],
    ['garbage', 'not a token'],
    ['one part', goodHeader],
    ['two parts', `${goodHeader}.${goodPayload}`],
    ['four parts', `${token}.x`],
    ['a non-JSON header', `${b64('{alg')}.${goodPayload}.${goodSignature}`],
    ['a non-JSON payload', `${goodHeader}.${b64('claims')}.${goodSignature}`],
    ['a non-base64 header', `!!!.${goodPayload}.${goodSignature}`],
    ['a string payload', `${goodHeader}.${b64('"claims"')}.${goodSignature}`],
    ['a null payload', `${goodHeader}.${b64('null')}.${goodSignature}`],
    ['a number header', `${b64('1')}.${goodPayload}.${goodSignature}`],
    [
      'a header without alg',
      `${b64(JSON.stringify({ kid: KID }))}.${goodPayload}.${goodSignature}`,
    ],
    // Bug: a header of JSON `null` makes verifyToken throw a TypeError instead of answering malformed.
    ['a null header', `${b64('null')}.${goodPayload}.${goodSignature}`],
  ];
  for (const [what, text] of malformed) {
    it(`fails with malformed for ${what}`, () => {
      assert.deepEqual(verifyToken(text, PUBLIC, KID), { ok: false, failure: 'malformed' });
    });
  }

  for (const alg of ['none', 'HS256', 'ES384', 'RS256', 'es256']) {
    it(`fails with malformed for alg ${alg}, even when correctly signed`, () => {
      const header = b64(JSON.stringify({ alg, kid: KID, typ: 'JWT' }));
      const payload = b64(JSON.stringify(CLAIMS));
      // Signed with the real key over the altered header, so only the algorithm is wrong.
      const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
        key: KEY.privatePem,
        dsaEncoding: 'ieee-p1363',
      }).toString('base64url');
      assert.deepEqual(verifyToken(`${header}.${payload}.${signature}`, PUBLIC, KID), {
        ok: false,
        failure: 'malformed',
      });
      assert.deepEqual(verifyToken(`${header}.${payload}.`, PUBLIC, KID), {
        ok: false,
        failure: 'malformed',
      });
    });
  }

  it('never throws on arbitrary three-part input', () => {
    const part = fc.oneof(
      fc.string(),
      fc.constantFrom(
        goodHeader,
        goodPayload,
        goodSignature,
        b64('{}'),
        b64('[]'),
        b64('"x"'),
        b64('true'),
      ),
    );
    fc.assert(
      fc.property(part, part, part, (header, payload, signature) => {
        const result = verifyToken(`${header}.${payload}.${signature}`, PUBLIC, KID);
        assert.equal(
          result.ok,
          header === goodHeader && payload === goodPayload && signature === goodSignature,
        );
      }),
      { numRuns: 500 },
    );
  });
});

describe('publicKeyOf', () => {
  it('derives the public key that matches the private key', () => {
    const derived = publicKeyOf(KEY.privatePem).export({ type: 'spki', format: 'pem' });
    assert.equal(derived, KEY.publicPem);
    assert.equal(publicKeyOf(KEY.privatePem).asymmetricKeyType, 'ec');
  });
});
