// createLogger: names, keys and item paths reach the log; tokens, Secret data and private keys never.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { consoleDestination, consoleLine, createLogger } from '../../../src/cli/logger.ts';

const TOKEN =
  'eyJhbGciOiJFUzI1NiIsImtpZCI6ImNhbmFyeSJ9.eyJzdWIiOiJjYW5hcnktc3ViamVjdCIsImp0aSI6ImNhbmFyeSJ9.c2lnbmF0dXJlLWNhbmFyeS1zaWduYXR1cmUtY2FuYXJ5';
const PRIVATE_KEY =
  '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcanarycanary\n-----END PRIVATE KEY-----\n';
const VALUE = 'canary-field-value-5f3a';

function capture(level = 'debug'): {
  logger: ReturnType<typeof createLogger>;
  lines: () => string[];
} {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger('test', level, sink);
  return { logger, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

describe('createLogger', () => {
  it('shows the work-queue key, item paths, names and Secret key names', () => {
    const { logger, lines } = capture();
    logger.warn(
      { key: 'team-a/database', reason: 'ItemNotFound', err: { message: 'item not found' } },
      'reconcile failed',
    );
    logger.info(
      { secret: 'team-a/op-token', key: 'token', itemPath: 'vaults/Production/items/database' },
      'wrote a new token into the token Secret',
    );
    logger.info({ kind: 'Deployment', namespace: 'team-a', name: 'web' }, 'restarted');
    const [failed, wrote, restarted] = lines().map(
      (line) => JSON.parse(line) as Record<string, unknown>,
    );
    assert.equal(failed?.key, 'team-a/database');
    assert.equal(failed?.reason, 'ItemNotFound');
    assert.equal(wrote?.key, 'token');
    assert.equal(wrote?.secret, 'team-a/op-token');
    assert.equal(wrote?.itemPath, 'vaults/Production/items/database');
    assert.equal(restarted?.name, 'web');
  });

  it('never writes a token, an Authorization header, Secret data or a private key', () => {
    const { logger, lines } = capture();
    logger.info({ token: TOKEN }, 'top-level token');
    logger.info({ options: { token: TOKEN } }, 'nested token');
    logger.info({ headers: { authorization: `Bearer ${TOKEN}` } }, 'headers');
    logger.info({ req: { headers: { authorization: `Bearer ${TOKEN}`, cookie: 'c' } } }, 'req');
    logger.info({ authorization: `Bearer ${TOKEN}` }, 'bare authorization');
    logger.info({ data: { password: Buffer.from(VALUE).toString('base64') } }, 'data');
    logger.info({ secret: { data: { password: VALUE }, stringData: { p: VALUE } } }, 'secret');
    logger.info({ stringData: { password: VALUE } }, 'stringData');
    logger.info({ password: VALUE }, 'password');
    logger.info({ field: { password: VALUE } }, 'nested password');
    logger.info({ privateKey: PRIVATE_KEY }, 'private key');
    logger.info({ certificate: { cert: 'CERT', key: PRIVATE_KEY } }, 'certificate pair');
    logger.info({ bundle: { 'tls.key': PRIVATE_KEY, 'ca.key': PRIVATE_KEY } }, 'bundle');
    const output = lines().join('\n');
    assert.equal(lines().length, 13);
    for (const secret of [TOKEN, VALUE, Buffer.from(VALUE).toString('base64'), 'MIGHAgEAMBMG']) {
      assert.ok(!output.includes(secret), `${secret.slice(0, 12)}… leaked:\n${output}`);
    }
    assert.match(output, /"cert":"CERT"/);
  });

  it('scrubs a token or a private key that an error message or a message string carries', () => {
    const { logger, lines } = capture();
    logger.warn({ err: new Error(`GET /v1/vaults: echoed Bearer ${TOKEN}`) }, 'failed');
    logger.warn({ err: new Error(`could not parse ${PRIVATE_KEY}`) }, 'failed');
    logger.error(`request with ${TOKEN} failed`);
    logger.error({ detail: `ops_${'a'.repeat(40)}` }, 'service account token');
    logger.warn({ err: new Error('Authorization: Bearer 0123456789abcdef0123 refused') }, 'opaque');
    logger.warn({ err: new Error('Invalid bearer token: the token has been revoked') }, '401');
    const output = lines().join('\n');
    assert.equal(lines().length, 6);
    for (const secret of [
      TOKEN,
      'MIGHAgEAMBMG',
      'canarycanary',
      `ops_${'a'.repeat(40)}`,
      '0123456789abcdef0123',
    ]) {
      assert.ok(!output.includes(secret), `${secret.slice(0, 12)}… leaked:\n${output}`);
    }
    assert.match(output, /GET \/v1\/vaults: echoed Bearer \[redacted\]/);
    assert.match(output, /could not parse \[redacted private key\]/);
    assert.match(output, /Authorization: Bearer \[redacted\] refused/);
    assert.match(output, /Invalid bearer token: the token has been revoked/);
  });
});

describe('consoleLine (--zap-encoder=console)', () => {
  it("lays a JSON line out as zap's console encoder does: time, level, component, message, fields", () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
      component: 'operator',
      key: 'team-a/database',
      msg: 'reconcile failed',
    });
    assert.equal(
      consoleLine(`${line}\n`),
      '2026-01-02T03:04:05.678Z\tWARN\toperator\treconcile failed\t{"key":"team-a/database"}\n',
    );
    const bare = JSON.stringify({ level: 30, time: 0, component: 'operator', msg: 'leading' });
    assert.equal(consoleLine(bare), '1970-01-01T00:00:00.000Z\tINFO\toperator\tleading\n');
    assert.equal(consoleLine('not json\n'), 'not json\n');
  });

  it('writes lines redacted and scrubbed as the JSON destination does', () => {
    const written: string[] = [];
    const logger = createLogger(
      'test',
      'debug',
      consoleDestination({ write: (text: string) => written.push(text) }),
    );
    logger.info({ token: TOKEN, name: 'web' }, 'top-level token');
    logger.warn({ err: new Error(`echoed Bearer ${TOKEN}`) }, 'failed');
    const output = written.join('');
    assert.equal(written.length, 2);
    assert.ok(!output.includes(TOKEN), `token leaked:\n${output}`);
    assert.match(
      written[0] ?? '',
      /^\S+Z\tINFO\ttest\ttop-level token\t\{"token":"\[redacted\]","name":"web"\}\n$/,
    );
    assert.match(written[1] ?? '', /\tWARN\ttest\tfailed\t.*echoed Bearer \[redacted\]/);
  });
});
