// KubeClient and the kubeconfig credentials against a scripted HTTP server: headers, errors, rotating tokens, exec plugins.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { isKubeApiError } from '../../../src/kube/api-error.ts';
import { CONTENT_TYPE, KubeClient } from '../../../src/kube/client.ts';
import { CredentialSource } from '../../../src/kube/credentials.ts';
import { KubeConfigError, parseKubeConfig, type UserConfig } from '../../../src/kube/kubeconfig.ts';
import { resourcePath } from '../../../src/kube/resources.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Answer = (request: Seen) => { status: number; body?: unknown };

async function server(t: TestContext, answer: Answer): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const http = createServer((incoming: IncomingMessage, response: ServerResponse) => {
    let body = '';
    incoming.on('data', (chunk: Buffer) => (body += chunk.toString()));
    incoming.on('end', () => {
      const request = {
        method: incoming.method ?? '',
        url: incoming.url ?? '',
        headers: incoming.headers,
        body,
      };
      seen.push(request);
      const { status, body: reply } = answer(request);
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(reply === undefined ? '' : JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, seen };
}

function client(t: TestContext, url: string, user: UserConfig): KubeClient {
  const created = new KubeClient({ cluster: { name: 'c', server: url }, user }, { qps: 0 });
  t.after(() => created.close());
  return created;
}

describe('KubeClient', () => {
  it('sends the bearer token, JSON bodies with their content type, and the query', async (t) => {
    const fake = await server(t, () => ({ status: 200, body: { kind: 'Secret' } }));
    const kube = client(t, fake.url, { name: 'u', token: 'abc' });
    const answer = await kube.request<{ kind: string }>({
      method: 'PATCH',
      path: resourcePath({ apiVersion: 'v1', plural: 'secrets', namespace: 'a b', name: 'x/y' }),
      query: { fieldManager: 'op-kube', force: true, dryRun: undefined },
      body: { data: { k: null } },
      contentType: CONTENT_TYPE.mergePatch,
    });
    assert.equal(answer.kind, 'Secret');
    const [request] = fake.seen;
    assert.equal(request?.method, 'PATCH');
    assert.equal(
      request?.url,
      '/api/v1/namespaces/a%20b/secrets/x%2Fy?fieldManager=op-kube&force=true',
    );
    assert.equal(request?.headers.authorization, 'Bearer abc');
    assert.equal(request?.headers['content-type'], 'application/merge-patch+json');
    assert.equal(request?.body, '{"data":{"k":null}}');
  });

  it('fails with the Status reason, causes and the operation, never the request body', async (t) => {
    const fake = await server(t, () => ({
      status: 422,
      body: {
        kind: 'Status',
        code: 422,
        reason: 'Invalid',
        message: 'Secret "x" is invalid: type: Invalid value',
        details: { causes: [{ field: 'type', reason: 'FieldValueInvalid' }] },
      },
    }));
    const kube = client(t, fake.url, { name: 'u' });
    const error = await kube
      .request({
        method: 'PUT',
        path: '/api/v1/x',
        body: { data: 'hunter2' },
        operation: 'apply x',
      })
      .then(
        () => assert.fail('no error'),
        (caught: unknown) => caught,
      );
    assert.ok(isKubeApiError(error, 422));
    assert.equal(error.reason, 'Invalid');
    assert.equal(error.operation, 'apply x');
    assert.deepEqual(error.causes, [{ field: 'type', reason: 'FieldValueInvalid' }]);
    assert.match(error.message, /^apply x: Secret "x" is invalid/);
    assert.doesNotMatch(error.message, /hunter2/);
    assert.equal(fake.seen[0]?.headers.authorization, undefined);
  });

  it('gives an answer without a Status the reason of its HTTP status, and a refused connection status 0', async (t) => {
    const fake = await server(t, () => ({ status: 404 }));
    const missing = await client(t, fake.url, { name: 'u' })
      .request({ method: 'GET', path: '/api/v1/nothing' })
      .catch((caught: unknown) => caught);
    assert.ok(isKubeApiError(missing, 404));
    assert.equal(missing.reason, 'NotFound');
    const refused = await client(t, 'http://127.0.0.1:1', { name: 'u' })
      .request({ method: 'GET', path: '/api/v1' })
      .catch((caught: unknown) => caught);
    assert.ok(isKubeApiError(refused, 0));
    assert.equal(refused.reason, 'Unavailable');
  });

  it('re-reads a rotated token file after a 401 and retries once', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'op-kube-client-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'old\n');
    const fake = await server(t, (request) =>
      request.headers.authorization === 'Bearer new'
        ? { status: 200, body: {} }
        : { status: 401, body: { kind: 'Status', code: 401, reason: 'Unauthorized' } },
    );
    const kube = client(t, fake.url, { name: 'u', tokenFile });
    await assert.rejects(kube.request({ method: 'GET', path: '/api' }), (error) =>
      isKubeApiError(error, 401),
    );
    writeFileSync(tokenFile, 'new\n');
    // The cached token is still tried first; its 401 makes the client read the file again.
    await kube.request({ method: 'GET', path: '/api' });
    assert.deepEqual(
      fake.seen.map((request) => request.headers.authorization),
      ['Bearer old', 'Bearer old', 'Bearer old', 'Bearer new'],
    );
  });
});

describe('CredentialSource', () => {
  it('runs an exec plugin with KUBERNETES_EXEC_INFO and caches its token until it expires', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'op-kube-exec-'));
    const counter = join(dir, 'runs');
    const plugin = join(dir, 'plugin.sh');
    writeFileSync(
      plugin,
      `#!/bin/sh\necho run >> ${counter}\n` +
        `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' "$PREFIX-$(echo "$KUBERNETES_EXEC_INFO" | grep -c ExecCredential)" "$EXPIRES"\n`,
    );
    chmodSync(plugin, 0o755);
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    const source = new CredentialSource(
      { name: 'c', server: 'https://example' },
      {
        name: 'u',
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: plugin,
          args: [],
          env: [
            { name: 'PREFIX', value: 'tok' },
            { name: 'EXPIRES', value: expires },
          ],
          provideClusterInfo: true,
        },
      },
    );
    assert.equal((await source.current()).authorization, 'Bearer tok-1');
    assert.equal((await source.current()).authorization, 'Bearer tok-1');
    const { readFileSync } = await import('node:fs');
    assert.equal(readFileSync(counter, 'utf8').trim().split('\n').length, 1);
    // Within 10 s of expiry the token is renewed.
    await source.current(Date.parse(expires) - 5_000);
    assert.equal(readFileSync(counter, 'utf8').trim().split('\n').length, 2);
  });

  it('refuses a certificate without its key', () => {
    assert.throws(
      () =>
        new CredentialSource(
          { name: 'c', server: 'https://example' },
          { name: 'u', clientCertificateData: 'PEM' },
        ),
      KubeConfigError,
    );
  });
});

describe('parseKubeConfig', () => {
  it('reads exec plugins and decodes embedded certificates', () => {
    const doc = parseKubeConfig(
      JSON.stringify({
        clusters: [
          {
            name: 'c',
            cluster: {
              server: 'https://k',
              'certificate-authority-data': Buffer.from('CA PEM').toString('base64'),
              'tls-server-name': 'kubernetes',
            },
          },
        ],
        users: [
          {
            name: 'u',
            user: {
              exec: {
                apiVersion: 'client.authentication.k8s.io/v1beta1',
                command: 'aws',
                args: ['eks', 'get-token'],
                env: [{ name: 'AWS_PROFILE', value: 'prod' }],
              },
            },
          },
        ],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
      '/etc/kube/config',
    );
    assert.equal(doc.clusters[0]?.caData, 'CA PEM');
    assert.equal(doc.clusters[0]?.tlsServerName, 'kubernetes');
    assert.deepEqual(doc.users[0]?.exec?.args, ['eks', 'get-token']);
    assert.deepEqual(doc.users[0]?.exec?.env, [{ name: 'AWS_PROFILE', value: 'prod' }]);
  });

  it('refuses the removed auth-provider plugins with a pointer to exec plugins', () => {
    assert.throws(
      () =>
        parseKubeConfig(
          JSON.stringify({ users: [{ name: 'u', user: { 'auth-provider': { name: 'gcp' } } }] }),
          '/k',
        ),
      /auth-provider gcp.*exec credential plugin/,
    );
  });
});
