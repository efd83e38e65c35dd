// Token rules of connect-local on a running server: scope, permissions, signature, expiry, revocation.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import {
  launcher,
  opKube,
  startConnectLocal,
  tokenCli,
  type ConnectLocalHandle,
} from '../support/connect-local.ts';

const DATA = dataFile(
  { name: 'Production', items: [passwordItem('database', 'prod-secret', { purpose: 'PASSWORD' })] },
  { name: 'Staging', items: [passwordItem('database', 'staging-secret', { purpose: 'PASSWORD' })] },
);

interface Call {
  status: number;
  body: unknown;
}

async function call(
  server: ConnectLocalHandle,
  token: string | undefined,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<Call> {
  const response = await fetch(`${server.url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      'content-type': 'application/json',
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

async function vaultIds(
  server: ConnectLocalHandle,
): Promise<{ production: string; staging: string }> {
  const token = await server.token({ vaults: ['Production', 'Staging'], name: 'lookup' });
  const vaults = (await call(server, token, '/v1/vaults')).body as { id: string; name: string }[];
  const id = (name: string): string => vaults.find((vault) => vault.name === name)?.id ?? '';
  return { production: id('Production'), staging: id('Staging') };
}

async function firstItem(
  server: ConnectLocalHandle,
  token: string,
  vaultId: string,
): Promise<string> {
  const items = (await call(server, token, `/v1/vaults/${vaultId}/items`)).body as { id: string }[];
  return items[0]?.id ?? '';
}

const newItem = { title: 'created', category: 'LOGIN', fields: [{ label: 'k', value: 'v' }] };

describe('connect-local tokens', () => {
  it('`token create` prints only the token: an ES256 JWT scoped to its vaults', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    const result = opKube([
      'connect-local',
      'token',
      'create',
      'ci',
      '--vault',
      'Production,r',
      `--state-dir=${server.stateDir}`,
      '--expires-in',
      '1w2d',
    ]);
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 1);
    const [header, payload, signature] = (lines[0] ?? '').split('.');
    assert.ok(signature && signature.length > 0);
    const decodedHeader = JSON.parse(Buffer.from(header ?? '', 'base64url').toString()) as {
      alg: string;
    };
    assert.equal(decodedHeader.alg, 'ES256');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as {
      exp: number;
      iat: number;
      jti: string;
      '1password.com/vts': { u: string; a: number }[];
    };
    assert.equal(claims.exp - claims.iat, 9 * 86_400);
    assert.match(claims.jti, /^[a-z0-9]{26}$/);
    assert.equal(claims['1password.com/vts'].length, 1);
  });

  it('a read-only grant reads its vault, cannot write, cannot reach other vaults', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    const { production, staging } = await vaultIds(server);
    const token = await server.token({ vaults: ['Production,r'] });
    const item = await firstItem(server, token, production);

    const read = await call(server, token, `/v1/vaults/${production}/items/${item}`);
    assert.equal(read.status, 200);
    assert.equal((read.body as { fields: { value: string }[] }).fields[0]?.value, 'prod-secret');

    const listed = (await call(server, token, '/v1/vaults')).body as { name: string }[];
    assert.deepEqual(
      listed.map((vault) => vault.name),
      ['Production'],
    );

    for (const [path, method, body] of [
      [`/v1/vaults/${production}/items`, 'POST', newItem],
      [`/v1/vaults/${production}/items/${item}`, 'DELETE', undefined],
      [`/v1/vaults/${staging}/items`, 'GET', undefined],
      [`/v1/vaults/${staging}`, 'GET', undefined],
    ] as const) {
      const denied = await call(server, token, path, { method, body });
      assert.equal(denied.status, 403, `${method} ${path}`);
      assert.match(
        (denied.body as { message: string }).message,
        /^Authorization: token does not have/,
      );
    }
  });

  it('a write-only grant writes but cannot read; no suffix grants both', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    const { staging } = await vaultIds(server);
    const writeOnly = await server.token({ vaults: ['Staging,w'] });
    assert.equal(
      (
        await call(server, writeOnly, `/v1/vaults/${staging}/items`, {
          method: 'POST',
          body: newItem,
        })
      ).status,
      200,
    );
    assert.equal((await call(server, writeOnly, `/v1/vaults/${staging}/items`)).status, 403);

    const both = await server.token({ vaults: ['Staging'] });
    const created = await call(server, both, `/v1/vaults/${staging}/items`, {
      method: 'POST',
      body: newItem,
    });
    assert.equal(created.status, 200);
    const id = (created.body as { id: string }).id;
    assert.equal((await call(server, both, `/v1/vaults/${staging}/items/${id}`)).status, 200);
  });

  it('refuses a missing, malformed, forged or foreign token with 401', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    const other = await startConnectLocal(t, { data: DATA });
    const token = await server.token({ vaults: ['Production'] });
    const [header, payload, signature = ''] = token.split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()),
        '1password.com/vts': [],
      }),
    ).toString('base64url');
    const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    const cases: [string | undefined, string][] = [
      [undefined, 'Invalid bearer token'],
      ['not-a-jwt', 'Invalid bearer token'],
      [`${header}.${forgedPayload}.${signature}`, 'Invalid token signature'],
      [`${header}.${payload}.${flipped}`, 'Invalid token signature'],
      [await other.token({ vaults: ['Production'] }), 'Invalid token signature'],
    ];
    for (const [candidate, message] of cases) {
      const result = await call(server, candidate, '/v1/vaults');
      assert.equal(result.status, 401, String(candidate));
      assert.deepEqual(result.body, { status: 401, message });
    }
  });

  it('an expired token answers 401', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    const token = await server.token({ vaults: ['Production'], expiresIn: '2s' });
    assert.equal((await call(server, token, '/v1/vaults')).status, 200);
    await sleep(2100);
    const expired = await call(server, token, '/v1/vaults');
    assert.deepEqual(expired.body, {
      status: 401,
      message: 'Invalid bearer token: the token has expired',
    });
  });

  it('`token revoke` on a running server takes effect within one second', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    const token = await server.token({ vaults: ['Production'], name: 'to-revoke' });
    assert.equal((await call(server, token, '/v1/vaults')).status, 200);
    await server.revoke('to-revoke');
    const revokedAt = Date.now();
    let status = 200;
    while (status !== 401 && Date.now() - revokedAt < 3000) {
      status = (await call(server, token, '/v1/vaults')).status;
      if (status !== 401) await sleep(20);
    }
    const elapsed = Date.now() - revokedAt;
    assert.equal(status, 401);
    assert.ok(elapsed < 1000, `revocation took ${elapsed} ms`);
  });

  it('lists active and revoked tokens; rename keeps the token working', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    const token = await server.token({
      vaults: ['Production,r', 'Staging,w'],
      name: 'first',
      expiresIn: '30d',
    });
    await server.token({ vaults: ['Staging'], name: 'second' });
    await server.revoke('second');
    const renamed = tokenCli(server.stateDir, ['rename', 'first', '--name', 'renamed']);
    assert.equal(renamed.status, 0, renamed.stderr);

    const listed = tokenCli(server.stateDir, ['list', '--json']);
    assert.equal(listed.status, 0, listed.stderr);
    const tokens = JSON.parse(listed.stdout) as {
      name: string;
      revokedAt?: string;
      expiresAt?: string;
      vaults: { name: string; read: boolean; write: boolean }[];
    }[];
    const byName = new Map(tokens.map((entry) => [entry.name, entry]));
    assert.deepEqual(
      byName.get('renamed')?.vaults.map((grant) => [grant.name, grant.read, grant.write]),
      [
        ['Production', true, false],
        ['Staging', false, true],
      ],
    );
    assert.ok(byName.get('renamed')?.expiresAt);
    assert.equal(byName.get('renamed')?.revokedAt, undefined);
    assert.ok(byName.get('second')?.revokedAt);
    assert.equal((await call(server, token, '/v1/vaults')).status, 200);

    const table = tokenCli(server.stateDir, ['list']);
    assert.match(table.stdout, /\trenamed\tactive\tProduction\(r\),Staging\(w\)\t/);
    assert.match(table.stdout, /\tsecond\trevoked\t/);
  });

  it('keeps every token when several CLI processes create tokens at once', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    const creations = Array.from(
      { length: 6 },
      (_, index) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const child = spawn(
            process.execPath,
            [
              launcher,
              'connect-local',
              'token',
              'create',
              `parallel-${index}`,
              '--vault',
              'Production',
              `--state-dir=${server.stateDir}`,
            ],
            { stdio: ['ignore', 'ignore', 'pipe'] },
          );
          let stderr = '';
          child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
          child.on('close', (code) => resolve({ code, stderr }));
        }),
    );
    const results = await Promise.all(creations);
    // Each failure's stderr in the message: a rare failure under load must say why.
    assert.deepEqual(
      results.map((result) => result.code),
      [0, 0, 0, 0, 0, 0],
      results.map((result) => result.stderr).join('\n'),
    );
    const listed = JSON.parse(tokenCli(server.stateDir, ['list', '--json']).stdout) as {
      name: string;
    }[];
    assert.deepEqual(
      listed
        .map((entry) => entry.name)
        .filter((name) => name.startsWith('parallel-'))
        .sort(),
      ['parallel-0', 'parallel-1', 'parallel-2', 'parallel-3', 'parallel-4', 'parallel-5'],
    );
  });

  it('refuses a token for an unknown vault or a bad permission, exit 1', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    for (const [vault, message] of [
      ['Nope', /no vault named or with id "Nope"/],
      ['Production,x', /permission must be r, w or rw/],
    ] as const) {
      const result = tokenCli(server.stateDir, ['create', 'bad', '--vault', vault]);
      assert.equal(result.status, 1);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
    }
  });

  it('`server init` writes 0600 credentials and refuses to overwrite them without --force', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    const path = join(server.stateDir, '1password-credentials.json');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const again = opKube(['connect-local', 'server', 'init', `--state-dir=${server.stateDir}`]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /exists; --force replaces it/);
  });

  it('audits every access with the token jti and SUCCESS or DENY', async (t) => {
    const server = await startConnectLocal(t, { data: DATA });
    const { production, staging } = await vaultIds(server);
    const token = await server.token({ vaults: ['Production,r'] });
    const jti = (
      JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { jti: string }
    ).jti;
    const item = await firstItem(server, token, production);
    await call(server, token, `/v1/vaults/${production}/items/${item}`);
    await call(server, token, `/v1/vaults/${staging}/items`);
    const page = await fetch(`${server.url}/v1/activity?limit=100`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const requests = (await page.json()) as {
      action: string;
      result: string;
      actor: { jti: string };
      resource: {
        type: string;
        vault: { id: string };
        item?: { id: string };
        itemVersion?: number;
      };
    }[];
    assert.match(page.headers.get('content-range') ?? '', /^1-\d+\/\d+$/);
    const mine = requests.filter((request) => request.actor.jti === jti);
    assert.deepEqual(
      mine.map((request) => [
        request.action,
        request.result,
        request.resource.type,
        request.resource.vault.id,
      ]),
      [
        ['READ', 'SUCCESS', 'VAULT', production],
        ['READ', 'SUCCESS', 'ITEM', production],
        ['READ', 'DENY', 'VAULT', staging],
      ],
    );
    assert.equal(mine[1]?.resource.item?.id, item);
    assert.equal(mine[1]?.resource.itemVersion, 1);
  });
});
