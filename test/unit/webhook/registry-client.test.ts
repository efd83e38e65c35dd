// The registry client and resolver against a hostile registry on loopback: challenges, lies about digests, oversized documents, redirects to forbidden addresses, malformed JSON, stalls; no credential or token in any error.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/webhook/registry/client.ts';
import { ImageResolutionError } from '../../../src/webhook/registry/errors.ts';
import { MEDIA_TYPES } from '../../../src/webhook/registry/manifest.ts';
import { parseImageReference } from '../../../src/webhook/registry/reference.ts';
import { ImageResolver } from '../../../src/webhook/registry/resolver.ts';

const USER = 'hostile-user';
const PASSWORD = 'hostile-pass-9f2';
const TOKEN = 'tok-3b1c-never-shown';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const PLATFORM = { os: 'linux', architecture: 'amd64' };

const sha = (bytes: Uint8Array | string): string =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function configBytes(entrypoint: string[]): Buffer {
  return Buffer.from(JSON.stringify({ config: { Entrypoint: entrypoint, Cmd: ['c'] } }));
}
function manifestFor(config: Buffer, size = config.length): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerManifest,
      config: { mediaType: MEDIA_TYPES.dockerConfig, digest: sha(config), size },
      layers: [],
    }),
  );
}

interface Listening {
  server: Server;
  port: number;
  seen: { path: string; authorization: string | undefined }[];
}

async function listen(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<Listening> {
  const seen: Listening['seen'] = [];
  const server = createServer((request, response) => {
    seen.push({ path: request.url ?? '', authorization: request.headers.authorization });
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port, seen };
}

describe('the registry client against a hostile registry', () => {
  let registry: Listening;
  let elsewhere: Listening;
  let host = '';
  const good = configBytes(['/good']);
  const goodManifest = manifestFor(good);
  const wrong = manifestFor(configBytes(['/wrong']));
  const routes = new Map<string, (request: IncomingMessage, response: ServerResponse) => void>();
  const send =
    (type: string, body: Buffer | string, headers: Record<string, string> = {}) =>
    (_request: IncomingMessage, response: ServerResponse): void => {
      response.writeHead(200, { 'content-type': type, ...headers });
      response.end(body);
    };
  const messages: string[] = [];

  before(async () => {
    elsewhere = await listen((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.end(configBytes(['/to-loopback']));
    });
    registry = await listen((request, response) => {
      const route = routes.get(request.url?.split('?')[0] ?? '');
      if (route) {
        route(request, response);
        return;
      }
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
    });
    host = `127.0.0.1:${registry.port}`;
    const blob = (digest: string): string => `/v2/app/blobs/${encodeURIComponent(digest)}`;
    routes.set('/v2/app/manifests/good', send(MEDIA_TYPES.dockerManifest, goodManifest));
    routes.set(blob(sha(good)), send('application/octet-stream', good));
    // Pinned by digest, it sends another manifest.
    routes.set(
      `/v2/app/manifests/${encodeURIComponent(sha(goodManifest))}`,
      send(MEDIA_TYPES.dockerManifest, wrong),
    );
    // By tag, its Docker-Content-Digest is not what it sent.
    routes.set(
      '/v2/app/manifests/header-lie',
      send(MEDIA_TYPES.dockerManifest, goodManifest, { 'docker-content-digest': sha('other') }),
    );
    // The config blob is not what its digest says.
    const liar = configBytes(['/liar']);
    routes.set('/v2/app/manifests/blob-lie', send(MEDIA_TYPES.dockerManifest, manifestFor(liar)));
    routes.set(blob(sha(liar)), send('application/octet-stream', configBytes(['/swapped'])));
    // 5 MiB of manifest, no Content-Length (chunked), then one with a Content-Length.
    routes.set('/v2/app/manifests/huge', (_request, response) => {
      response.writeHead(200, { 'content-type': MEDIA_TYPES.dockerManifest });
      for (let i = 0; i < 80; i += 1) response.write(Buffer.alloc(64 * 1024, 0x20));
      response.end();
    });
    routes.set('/v2/app/manifests/huge-declared', (_request, response) => {
      response.writeHead(200, {
        'content-type': MEDIA_TYPES.dockerManifest,
        'content-length': String(5 * 1024 * 1024),
      });
      response.write('{');
    });
    routes.set(
      '/v2/app/manifests/huge-config',
      send(MEDIA_TYPES.dockerManifest, manifestFor(good, 64 * 1024 * 1024)),
    );
    routes.set(
      '/v2/app/manifests/malformed',
      send(MEDIA_TYPES.dockerManifest, '{"schemaVersion": 2, "config": '),
    );
    const badConfig = Buffer.from('{"config": {"Entrypoint": "not a list"}}');
    routes.set(
      '/v2/app/manifests/bad-config',
      send(MEDIA_TYPES.dockerManifest, manifestFor(badConfig)),
    );
    routes.set(blob(sha(badConfig)), send('application/octet-stream', badConfig));
    // Redirects of the config blob: to a loopback port not allowed, to the metadata address, to a
    // name that resolves to loopback, and to an allowed other origin (which must get no credentials).
    const redirect = (tag: string, location: string): void => {
      const config = configBytes([`/${tag}`]);
      routes.set(`/v2/app/manifests/${tag}`, send(MEDIA_TYPES.dockerManifest, manifestFor(config)));
      routes.set(blob(sha(config)), (_request, response) => {
        response.writeHead(307, { location: location.replace('DIGEST', sha(config)) });
        response.end();
      });
    };
    redirect('to-loopback', `http://127.0.0.1:${elsewhere.port}/blob`);
    redirect('to-metadata', 'https://169.254.169.254/latest/meta-data/');
    redirect('to-metadata-v6', 'https://[fd00:ec2::254]/latest/');
    redirect('to-rebinding-name', 'https://rebind.example/blob');
    redirect('to-plain-http', 'http://plain.example/blob');
    routes.set('/v2/app/manifests/loop', (_request, response) => {
      response.writeHead(302, { location: '/v2/app/manifests/loop' });
      response.end();
    });
    routes.set('/v2/app/manifests/stall', () => {
      // Never answers.
    });
    // Bearer: a token for the Basic credentials, then the manifest for that token only.
    routes.set('/token', (request, response) => {
      const url = new URL(request.url ?? '', 'http://x');
      const ok =
        request.headers.authorization === BASIC &&
        url.searchParams.get('scope') === 'repository:private:pull' &&
        url.searchParams.get('service') === 'fake';
      response.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      response.end(ok ? JSON.stringify({ token: TOKEN, expires_in: 60 }) : '{}');
    });
    const bearer =
      (inner: (request: IncomingMessage, response: ServerResponse) => void) =>
      (request: IncomingMessage, response: ServerResponse): void => {
        if (request.headers.authorization !== `Bearer ${TOKEN}`) {
          response.writeHead(401, {
            'www-authenticate': `Bearer realm="http://${host}/token",service="fake",scope="repository:private:pull"`,
          });
          response.end();
          return;
        }
        inner(request, response);
      };
    routes.set('/v2/private/manifests/1', bearer(send(MEDIA_TYPES.dockerManifest, goodManifest)));
    routes.set(
      `/v2/private/blobs/${encodeURIComponent(sha(good))}`,
      bearer(send('application/octet-stream', good)),
    );
    // Basic only.
    routes.set('/v2/basic/manifests/1', (request, response) => {
      if (request.headers.authorization !== BASIC) {
        response.writeHead(401, { 'www-authenticate': 'Basic realm="r"' });
        response.end();
        return;
      }
      send(MEDIA_TYPES.dockerManifest, goodManifest)(request, response);
    });
    routes.set(
      `/v2/basic/blobs/${encodeURIComponent(sha(good))}`,
      send('application/octet-stream', good),
    );
    // Authenticated, its blob redirected to another origin.
    const redirected = configBytes(['/to-loopback']);
    routes.set('/v2/basic/manifests/redirected', (request, response) => {
      if (request.headers.authorization !== BASIC) {
        response.writeHead(401, { 'www-authenticate': 'Basic realm="r"' });
        response.end();
        return;
      }
      send(MEDIA_TYPES.dockerManifest, manifestFor(redirected))(request, response);
    });
    routes.set(`/v2/basic/blobs/${encodeURIComponent(sha(redirected))}`, (_request, response) => {
      response.writeHead(307, { location: `http://127.0.0.1:${elsewhere.port}/signed` });
      response.end();
    });
    // A token realm on the metadata address.
    routes.set('/v2/evil-realm/manifests/1', (_request, response) => {
      response.writeHead(401, {
        'www-authenticate': 'Bearer realm="https://169.254.169.254/token"',
      });
      response.end();
    });
  });

  after(async () => {
    registry.server.closeAllConnections();
    elsewhere.server.closeAllConnections();
    await new Promise((resolve) => registry.server.close(resolve));
    await new Promise((resolve) => elsewhere.server.close(resolve));
    const all = messages.join('\n');
    for (const secret of [
      PASSWORD,
      TOKEN,
      BASIC.slice(6),
      Buffer.from(PASSWORD).toString('base64'),
    ]) {
      assert.ok(!all.includes(secret), 'no credential or token in any error message');
    }
  });

  const lookup = (
    hostname: string,
    _options: unknown,
    callback: (error: Error | null, addresses: LookupAddress[]) => void,
  ): void => {
    callback(null, [
      { address: hostname === 'rebind.example' ? '127.0.0.1' : '93.184.216.34', family: 4 },
    ]);
  };
  const resolver = (options: { allowElsewhere?: boolean } = {}): ImageResolver =>
    new ImageResolver(
      new RegistryClient({
        insecure: new Set([host, `127.0.0.1:${elsewhere.port}`]),
        allowInternal: new Set([
          host,
          ...(options.allowElsewhere ? [`127.0.0.1:${elsewhere.port}`] : []),
        ]),
        userAgent: 'test',
        lookup: lookup as never,
      }),
      { cacheSize: 100, tagTtlMs: 60_000, digestTtlMs: 60_000 },
    );
  const resolve = (image: string, credential = false, timeoutMs = 3_000, using = resolver()) =>
    using.resolve(
      parseImageReference(image.replace('HOST', host)),
      credential ? { username: USER, password: PASSWORD } : undefined,
      PLATFORM,
      AbortSignal.timeout(timeoutMs),
    );
  const fails = async (
    image: string,
    reason: string,
    pattern: RegExp,
    credential = false,
    using?: ImageResolver,
  ): Promise<void> => {
    await assert.rejects(resolve(image, credential, 3_000, using), (error: unknown) => {
      assert.ok(error instanceof ImageResolutionError, String(error));
      messages.push(error.message);
      assert.equal(error.reason, reason, error.message);
      assert.match(error.message, pattern);
      return true;
    });
  };

  it('reads a plain image', async () => {
    assert.deepEqual((await resolve('HOST/app:good')).command, {
      entrypoint: ['/good'],
      cmd: ['c'],
    });
  });

  it('answers a Bearer challenge with a token won with the Basic credentials, and reuses it for the blob', async () => {
    registry.seen.length = 0;
    assert.deepEqual((await resolve('HOST/private:1', true)).command.entrypoint, ['/good']);
    assert.equal(registry.seen.filter((entry) => entry.path.startsWith('/token')).length, 1);
    await fails(
      'HOST/private:1',
      'Unauthorized',
      /needs credentials and no imagePullSecret has any/,
    );
  });

  it('answers a Basic challenge with the credentials, and says when there are none', async () => {
    assert.deepEqual((await resolve('HOST/basic:1', true)).command.entrypoint, ['/good']);
    await fails('HOST/basic:1', 'Unauthorized', /needs credentials/);
  });

  it('refuses a manifest that is not the digest it was pinned by, or not the digest it announces', async () => {
    await fails(`HOST/app@${sha(goodManifest)}`, 'DigestMismatch', /whose digest is not sha256:/);
    await fails('HOST/app:header-lie', 'DigestMismatch', /not the sha256:\w+ it announced/);
    await fails('HOST/app:blob-lie', 'DigestMismatch', /an image config whose digest is not/);
  });

  it('caps manifest and config sizes, streamed or declared', async () => {
    await fails('HOST/app:huge', 'TooLarge', /more than 4194304 bytes/);
    await fails('HOST/app:huge-declared', 'TooLarge', /more than 4194304 bytes/);
    await fails('HOST/app:huge-config', 'TooLarge', /image config is larger than 4194304 bytes/);
  });

  it('refuses malformed JSON', async () => {
    await fails('HOST/app:malformed', 'Malformed', /a manifest that is not JSON/);
    await fails('HOST/app:bad-config', 'Malformed', /Entrypoint is not a list of strings/);
  });

  it('refuses redirects to loopback, metadata and plain-http addresses, and names resolving to loopback', async () => {
    await fails('HOST/app:to-loopback', 'RefusedAddress', /is a loopback address/);
    assert.equal(elsewhere.seen.length, 0, 'the loopback target was never contacted');
    await fails(
      'HOST/app:to-metadata',
      'RefusedAddress',
      /"169\.254\.169\.254" is a metadata address/,
    );
    await fails('HOST/app:to-metadata-v6', 'RefusedAddress', /is a metadata address/);
    await fails(
      'HOST/app:to-rebinding-name',
      'RefusedAddress',
      /"rebind\.example" is a loopback address/,
    );
    await fails('HOST/app:to-plain-http', 'InsecureRegistry', /plain http/);
    await fails('HOST/app:loop', 'RegistryError', /redirected more than 5 times/);
    await fails('HOST/evil-realm:1', 'RefusedAddress', /metadata address/);
  });

  it('follows a redirect to an allowed origin without the credentials', async () => {
    elsewhere.seen.length = 0;
    registry.seen.length = 0;
    const using = resolver({ allowElsewhere: true });
    assert.deepEqual(
      (await resolve('HOST/basic:redirected', true, 3_000, using)).command.entrypoint,
      ['/to-loopback'],
    );
    assert.equal(registry.seen.at(-1)?.authorization, BASIC, 'the registry got the credentials');
    assert.equal(elsewhere.seen.length, 1);
    assert.equal(elsewhere.seen[0]?.authorization, undefined, 'the other origin did not');
  });

  it('refuses a registry on a forbidden address unless allowed by name, and plain http unless listed', async () => {
    const strict = new ImageResolver(
      new RegistryClient({
        insecure: new Set([host]),
        allowInternal: new Set(),
        userAgent: 'test',
      }),
      { cacheSize: 1, tagTtlMs: 1, digestTtlMs: 1 },
    );
    await fails(
      'HOST/app:good',
      'RefusedAddress',
      /is a loopback address.*--registry-allow-internal/,
      false,
      strict,
    );
    const noHttp = new ImageResolver(
      new RegistryClient({
        insecure: new Set(),
        allowInternal: new Set([host]),
        userAgent: 'test',
      }),
      { cacheSize: 1, tagTtlMs: 1, digestTtlMs: 1 },
    );
    await assert.rejects(resolve('HOST/app:good', false, 3_000, noHttp), (error: unknown) => {
      // https to a plain-http server: a TLS failure, reported as unreachable, never followed by http.
      assert.ok(error instanceof ImageResolutionError);
      messages.push(error.message);
      return error.reason === 'Unreachable';
    });
  });

  it('gives up at the deadline on a registry that stalls', async () => {
    const started = performance.now();
    await assert.rejects(resolve('HOST/app:stall', false, 300), (error: unknown) => {
      assert.ok(error instanceof ImageResolutionError);
      messages.push(error.message);
      return error.reason === 'Timeout';
    });
    assert.ok(performance.now() - started < 1_000);
  });

  it('asks the registry once for concurrent lookups of one image', async () => {
    const using = resolver();
    registry.seen.length = 0;
    const results = await Promise.all(
      Array.from({ length: 10 }, () => resolve('HOST/app:good', false, 3_000, using)),
    );
    assert.ok(results.every((result) => result.command.entrypoint[0] === '/good'));
    assert.deepEqual(
      registry.seen.map((entry) => entry.path),
      ['/v2/app/manifests/good', `/v2/app/blobs/${encodeURIComponent(sha(good))}`],
    );
    assert.equal(using.inFlight, 0);
  });

  it('serves a tag from the cache, keyed by who asked', async () => {
    const using = resolver();
    registry.seen.length = 0;
    assert.equal((await resolve('HOST/basic:1', true, 3_000, using)).source, 'registry');
    assert.equal((await resolve('HOST/basic:1', true, 3_000, using)).source, 'cache');
    const requests = registry.seen.length;
    // Without the credentials the cache is not theirs: the registry is asked, and refuses.
    await fails('HOST/basic:1', 'Unauthorized', /needs credentials/, false, using);
    assert.ok(registry.seen.length > requests);
  });
});
