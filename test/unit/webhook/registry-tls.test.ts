// --registry-ca-file: an https registry signed by a private CA is trusted only with that CA, on top of the default ones; a file that holds no certificate is refused at start.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getCACertificates } from 'node:tls';
import { WebhookSettingError } from '../../../src/webhook/config.ts';
import { RegistryClient } from '../../../src/webhook/registry/client.ts';
import { ImageResolutionError } from '../../../src/webhook/registry/errors.ts';
import { MEDIA_TYPES } from '../../../src/webhook/registry/manifest.ts';
import { parseImageReference } from '../../../src/webhook/registry/reference.ts';
import { ImageResolver } from '../../../src/webhook/registry/resolver.ts';
import { registryCertificates } from '../../../src/webhook/registry/setup.ts';
import {
  generateCertificateAuthority,
  issueServingCertificate,
} from '../../../src/webhook/tls/certificates.ts';

describe('https registries with a private CA (--registry-ca-file)', () => {
  let server: Server;
  let host = '';
  let dir = '';
  let caFile = '';

  before(async () => {
    const now = new Date();
    const ca = await generateCertificateAuthority({
      now,
      validityMs: 86_400_000,
      commonName: 'registry-ca',
    });
    const serving = await issueServingCertificate(ca, {
      dnsNames: ['registry.test'],
      ipAddresses: ['127.0.0.1'],
      now,
      validityMs: 86_400_000,
    });
    const config = Buffer.from(JSON.stringify({ config: { Entrypoint: ['/tls'] } }));
    const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest, size: config.length },
      layers: [],
    });
    server = createServer({ cert: serving.cert, key: serving.key }, (request, response) => {
      if (request.url === '/v2/app/manifests/1') {
        response.writeHead(200, { 'content-type': MEDIA_TYPES.ociManifest }).end(manifest);
      } else if (decodeURIComponent(request.url ?? '') === `/v2/app/blobs/${digest}`) {
        response.writeHead(200).end(config);
      } else {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address !== 'string');
    host = `127.0.0.1:${address.port}`;
    dir = await mkdtemp(join(tmpdir(), 'registry-ca-'));
    caFile = join(dir, 'ca.crt');
    await writeFile(caFile, ca.cert);
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const resolve = (ca?: string[]) =>
    new ImageResolver(
      new RegistryClient({
        insecure: new Set(),
        allowInternal: new Set([host]),
        userAgent: 'test',
        ...(ca ? { ca } : {}),
      }),
      { cacheSize: 0, tagTtlMs: 0, digestTtlMs: 0 },
    ).resolve(
      parseImageReference(`${host}/app:1`),
      undefined,
      { os: 'linux', architecture: 'amd64' },
      AbortSignal.timeout(3_000),
    );

  it('is refused without the CA, and never retried over http', async () => {
    await assert.rejects(resolve(), (error: unknown) => {
      assert.ok(error instanceof ImageResolutionError);
      assert.equal(error.reason, 'Unreachable');
      assert.match(error.message, /could not reach "127\.0\.0\.1:\d+" \(\w+\)/);
      return true;
    });
  });

  it('is read with the CA, added to the default ones', async () => {
    const certificates = registryCertificates(caFile);
    assert.equal(certificates.length, getCACertificates('default').length + 1);
    assert.deepEqual((await resolve(certificates)).command.entrypoint, ['/tls']);
  });

  it('refuses a file that is missing or holds no certificate, naming the flag', async () => {
    const empty = join(dir, 'empty.pem');
    await writeFile(empty, 'not a certificate\n');
    const broken = join(dir, 'broken.pem');
    await writeFile(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    for (const [file, pattern] of [
      [join(dir, 'absent.pem'), /cannot read/],
      [empty, /holds no PEM certificate/],
      [broken, /does not parse/],
    ] as const) {
      assert.throws(
        () => registryCertificates(file),
        (error: unknown) =>
          error instanceof WebhookSettingError &&
          error.setting === '--registry-ca-file' &&
          pattern.test(error.detail),
      );
    }
  });
});
