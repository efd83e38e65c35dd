// The op stand-in against the real connect-local: `op run` resolves references, execs the command, never prints a secret.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import yaml from 'js-yaml';
import { buildStandinBinary, OP_STANDIN_SOURCE } from '../../tools/images/standin.ts';
import { imageDirs } from '../../tools/images/store.ts';
import { startConnectLocal } from '../support/connect-local.ts';

const SECRET = 'pa55-Wörd with spaces & $symbols';
const SECTION_SECRET = 'section-only-value-7f3a';
const ITEM_ID = 'x7k2m9q4w8e6r1t5y3u0i2o4p6';

const DATA = yaml.dump({
  vaults: [
    {
      name: 'Production',
      items: [
        {
          title: 'database',
          id: ITEM_ID,
          sections: [{ id: 'extrasection', label: 'Admin' }],
          fields: [
            { label: 'password', value: SECRET, purpose: 'PASSWORD' },
            { label: 'password', value: SECTION_SECRET, section: 'extrasection' },
          ],
        },
      ],
    },
  ],
});

test('op run resolves op:// references through Connect and execs the command', async (t) => {
  const binary = await buildStandinBinary(imageDirs());
  const connect = await startConnectLocal(t, { data: DATA });
  const token = await connect.token({ vaults: ['Production'] });
  const out = mkdtempSync(join(tmpdir(), 'op-standin-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));

  const run = (env: Record<string, string>, script: string) =>
    spawnSync(binary, ['run', '--', 'sh', '-c', script], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        OP_CONNECT_HOST: connect.url,
        OP_CONNECT_TOKEN: token,
        OUT: out,
        ...env,
      },
      timeout: 30_000,
    });

  const ok = run(
    {
      BY_NAME: 'op://Production/database/password',
      BY_ID: `op://production/${ITEM_ID}/password`,
      IN_SECTION: 'op://Production/database/Admin/password',
      PLAIN: 'kept as is',
    },
    'printf %s "$BY_NAME" > "$OUT/by-name"; printf %s "$BY_ID" > "$OUT/by-id"; ' +
      'printf %s "$IN_SECTION" > "$OUT/section"; printf %s "$PLAIN" > "$OUT/plain"; echo started',
  );
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, 'started\n');
  assert.equal(readFileSync(join(out, 'by-name'), 'utf8'), SECRET);
  assert.equal(readFileSync(join(out, 'by-id'), 'utf8'), SECRET);
  assert.equal(readFileSync(join(out, 'section'), 'utf8'), SECTION_SECRET);
  assert.equal(readFileSync(join(out, 'plain'), 'utf8'), 'kept as is');

  const missing = run({ X: 'op://Production/database/nope' }, 'echo should-not-run');
  assert.equal(missing.status, 1);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /X .*no field matches "nope"/);

  const badToken = run(
    { X: 'op://Production/database/password', OP_CONNECT_TOKEN: 'not-a-token' },
    'true',
  );
  assert.equal(badToken.status, 1);
  assert.match(badToken.stderr, /HTTP 401/);

  for (const output of [ok.stderr, missing.stderr, badToken.stderr, connect.output()]) {
    assert.ok(
      !output.includes(SECRET) && !output.includes(SECTION_SECRET),
      'a secret value was printed',
    );
    assert.ok(!output.includes(token), 'the Connect token was printed');
  }
});

test("the stand-in's own Go tests pass (reference parsing, lookups, errors without values)", () => {
  const result = spawnSync('go', ['test', './...'], {
    cwd: OP_STANDIN_SOURCE,
    encoding: 'utf8',
    env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' },
    timeout: 240_000,
  });
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /^ok\s/m);
});
