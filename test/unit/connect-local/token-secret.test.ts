// Unit tests for `connect-local --token-secret`: flag parsing, scope comparison, error messages,
// the merge patch, and the keep-or-write decision against a fake apiserver.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/cli/errors.ts';
import { KubeApiError } from '../../../src/kube/client/api-error.ts';
import type { KubeRequest } from '../../../src/kube/client/client.ts';
import {
  TokenSecretError,
  fillTokenSecret,
  grantsMatch,
  parseTokenSecretRef,
  tokenPatch,
  tokenSecretFailure,
} from '../../../src/connect-local/token-secret.ts';

const REF = { namespace: 'op', name: 'onepassword-token', key: 'token' };

describe('parseTokenSecretRef', () => {
  it('takes name or namespace/name, the namespace defaulting as given', () => {
    assert.deepEqual(parseTokenSecretRef('tok', 'token', 'apps'), {
      namespace: 'apps',
      name: 'tok',
      key: 'token',
    });
    assert.deepEqual(parseTokenSecretRef('ns/tok.x', 'k_1', 'apps'), {
      namespace: 'ns',
      name: 'tok.x',
      key: 'k_1',
    });
  });

  it('refuses what the apiserver would refuse, naming the flag', () => {
    const cases: [string, string, string | undefined, RegExp][] = [
      ['tok', 'token', undefined, /--token-secret: no namespace/],
      ['a/b/c', 'token', 'ns', /--token-secret: expected <name> or <namespace>\/<name>/],
      ['/tok', 'token', 'ns', /expected/],
      ['ns/', 'token', 'ns', /expected/],
      ['Tok', 'token', 'ns', /"Tok" is not a valid Secret name/],
      ['NS/tok', 'token', 'ns', /"NS" is not a valid namespace/],
      ['tok', 'a/b', 'ns', /--token-secret-key: "a\/b" is not a valid Secret key/],
      ['tok', '..', 'ns', /--token-secret-key/],
    ];
    for (const [text, key, namespace, message] of cases) {
      assert.throws(
        () => parseTokenSecretRef(text, key, namespace),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        `${text} ${key}`,
      );
    }
  });
});

describe('grantsMatch', () => {
  const wanted = [
    { id: 'p', name: 'Production', read: true, write: false },
    { id: 's', name: 'Staging', read: true, write: true },
  ];
  it('is true for exactly the scope asked for', () => {
    const grants = new Map([
      ['s', { read: true, write: true }],
      ['p', { read: true, write: false }],
    ]);
    assert.equal(grantsMatch(grants, wanted), true);
  });
  it('is false for another permission, a missing or an extra vault', () => {
    assert.equal(
      grantsMatch(
        new Map([
          ['p', { read: true, write: true }],
          ['s', { read: true, write: true }],
        ]),
        wanted,
      ),
      false,
    );
    assert.equal(grantsMatch(new Map([['p', { read: true, write: false }]]), wanted), false);
    assert.equal(
      grantsMatch(
        new Map([
          ['p', { read: true, write: false }],
          ['s', { read: true, write: true }],
          ['x', { read: true, write: false }],
        ]),
        wanted,
      ),
      false,
    );
  });
});

describe('tokenSecretFailure', () => {
  const kube = (status: number, message = 'denied'): KubeApiError =>
    new KubeApiError({ status }, message);
  it('says which RBAC is missing on 403', () => {
    const error = tokenSecretFailure(kube(403), 'patch', REF);
    assert.ok(error instanceof TokenSecretError);
    assert.match(error.message, /forbidden to patch Secret op\/onepassword-token/);
    assert.match(
      error.message,
      /verbs get and patch on secrets with resourceNames \[onepassword-token\]/,
    );
    assert.match(error.message, /denied$/);
  });
  it('says to create the Secret on 404, and names unreachable apiservers and bad credentials', () => {
    assert.match(tokenSecretFailure(kube(404), 'get', REF).message, /does not exist: create it/);
    assert.match(tokenSecretFailure(kube(0, 'ECONNREFUSED'), 'get', REF).message, /cannot reach/);
    assert.match(
      tokenSecretFailure(kube(401), 'get', REF).message,
      /rejected connect-local's credentials/,
    );
    assert.match(tokenSecretFailure(kube(500, 'boom'), 'get', REF).message, /cannot get .*: boom/);
    assert.match(tokenSecretFailure(new Error('odd'), 'get', REF).message, /cannot get .*: odd/);
  });
});

describe('tokenPatch', () => {
  it('writes the key base64-encoded, guarded by the resourceVersion read', () => {
    assert.deepEqual(tokenPatch('token', 'abc', '42'), {
      metadata: { resourceVersion: '42' },
      data: { token: Buffer.from('abc').toString('base64') },
    });
    assert.deepEqual(tokenPatch('t', 'abc', undefined), { data: { t: 'YWJj' } });
  });
});

/** A fake apiserver holding one Secret; `conflicts` PATCHes answer 409 first. */
function fakeApiserver(data: Record<string, string> | undefined, conflicts = 0) {
  const requests: KubeRequest[] = [];
  let version = 1;
  const client = {
    request<T>(request: KubeRequest): Promise<T> {
      requests.push(request);
      if (request.method === 'GET') {
        return Promise.resolve({
          metadata: { resourceVersion: String(version) },
          ...(data ? { data } : {}),
        } as T);
      }
      if (conflicts > 0) {
        conflicts -= 1;
        version += 1;
        return Promise.reject(new KubeApiError({ status: 409 }, 'conflict'));
      }
      const body = request.body as { data: Record<string, string> };
      data = { ...data, ...body.data };
      version += 1;
      return Promise.resolve({} as T);
    },
  };
  return { client, requests, stored: () => data };
}

describe('fillTokenSecret', () => {
  const issue = (calls: string[]) => () => {
    calls.push('issue');
    return Promise.resolve({ token: 'new-token', id: 'jti-1' });
  };

  it('writes a token into an empty Secret with a merge patch', async () => {
    const api = fakeApiserver(undefined);
    const calls: string[] = [];
    const result = await fillTokenSecret({
      client: api.client,
      ref: REF,
      isCurrent: () => Promise.reject(new Error('not asked for an empty Secret')),
      issue: issue(calls),
    });
    assert.deepEqual(result, { action: 'written', tokenId: 'jti-1', replaced: false });
    assert.equal(Buffer.from(api.stored()?.token ?? '', 'base64').toString(), 'new-token');
    const patch = api.requests.find((request) => request.method === 'PATCH');
    assert.equal(patch?.contentType, 'application/merge-patch+json');
    assert.equal(patch?.path, '/api/v1/namespaces/op/secrets/onepassword-token');
  });

  it('keeps a token the server accepts, and replaces one it does not', async () => {
    const stored = { token: Buffer.from('old-token\n').toString('base64') };
    const kept = fakeApiserver(stored);
    const calls: string[] = [];
    const seen: string[] = [];
    const keep = await fillTokenSecret({
      client: kept.client,
      ref: REF,
      isCurrent: (token) => {
        seen.push(token);
        return Promise.resolve(true);
      },
      issue: issue(calls),
    });
    assert.deepEqual(keep, { action: 'kept' });
    assert.deepEqual(seen, ['old-token']);
    assert.deepEqual(calls, []);
    assert.ok(kept.requests.every((request) => request.method === 'GET'));

    const replaced = fakeApiserver(stored);
    const result = await fillTokenSecret({
      client: replaced.client,
      ref: REF,
      isCurrent: () => Promise.resolve(false),
      issue: issue(calls),
    });
    assert.deepEqual(result, { action: 'written', tokenId: 'jti-1', replaced: true });
  });

  it('re-reads after a conflict and issues only one token', async () => {
    const api = fakeApiserver(undefined, 2);
    const calls: string[] = [];
    const result = await fillTokenSecret({
      client: api.client,
      ref: REF,
      isCurrent: () => Promise.resolve(false),
      issue: issue(calls),
    });
    assert.equal(result.action, 'written');
    assert.deepEqual(calls, ['issue']);
    assert.equal(api.requests.filter((request) => request.method === 'GET').length, 3);
  });

  it('fails with a TokenSecretError that never holds the token', async () => {
    const client = {
      request<T>(request: KubeRequest): Promise<T> {
        return request.method === 'GET'
          ? Promise.resolve({ metadata: { resourceVersion: '1' } } as T)
          : Promise.reject(new KubeApiError({ status: 403 }, 'secrets "x" is forbidden'));
      },
    };
    await assert.rejects(
      fillTokenSecret({
        client,
        ref: REF,
        isCurrent: () => Promise.resolve(false),
        issue: () => Promise.resolve({ token: 'secret-token-value', id: 'j' }),
      }),
      (error: unknown) =>
        error instanceof TokenSecretError &&
        /forbidden to patch/.test(error.message) &&
        !error.message.includes('secret-token-value'),
    );
  });
});
