import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import {
  generateCertificateAuthority,
  issueServingCertificate,
  type PemKeyPair,
} from '../../../src/webhook/tls/certificates.ts';
import {
  TlsKeyPairError,
  loadKeyPair,
  watchCertificateFiles,
  type CertificateFileWatch,
} from '../../../src/util/tls-files.ts';
import { SecretVolume } from '../../support/secret-volume.ts';

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('certificate files', () => {
  const now = new Date();
  const pairs: PemKeyPair[] = [];
  let root: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'op-kube-tls-'));
    const ca = await generateCertificateAuthority({
      now,
      validityMs: 86_400_000,
      commonName: 'ca',
    });
    for (let index = 0; index < 4; index += 1) {
      pairs.push(
        await issueServingCertificate(ca, {
          dnsNames: [`hook-${index}`],
          now,
          validityMs: 86_400_000,
        }),
      );
    }
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  function pair(index: number): PemKeyPair {
    const found = pairs[index];
    assert.ok(found);
    return found;
  }

  async function volume(name: string): Promise<SecretVolume> {
    const dir = join(root, name);
    await mkdir(dir);
    return new SecretVolume(dir);
  }

  describe('loadKeyPair', () => {
    it('reads a matching pair through the symlinks of a mounted Secret', async () => {
      const mounted = await volume('load');
      await mounted.publish(pair(0));
      assert.deepEqual(await loadKeyPair(mounted.certFile, mounted.keyFile), pair(0));
    });

    it('names what is wrong with a pair that cannot be served, without its content', async () => {
      const dir = join(root, 'broken');
      await mkdir(dir);
      const write = async (cert: string, key: string): Promise<void> => {
        await writeFile(join(dir, 'tls.crt'), cert);
        await writeFile(join(dir, 'tls.key'), key);
      };
      const load = (): Promise<PemKeyPair> =>
        loadKeyPair(join(dir, 'tls.crt'), join(dir, 'tls.key'));
      const reason = (expected: string) => (error: unknown) => {
        assert.ok(error instanceof TlsKeyPairError);
        assert.equal(error.reason, expected);
        assert.doesNotMatch(error.message, /PRIVATE KEY/);
        return true;
      };
      await assert.rejects(load(), reason('Unreadable'));
      await write(pair(0).cert, pair(1).key);
      await assert.rejects(load(), reason('KeyMismatch'));
      await write('not a certificate', pair(0).key);
      await assert.rejects(load(), reason('InvalidCertificate'));
      await write(pair(0).cert, 'not a key');
      await assert.rejects(load(), reason('InvalidKey'));
    });
  });

  describe('watchCertificateFiles', () => {
    const watches: CertificateFileWatch[] = [];
    after(() => {
      for (const watch of watches) watch.close();
    });

    function record(
      mounted: SecretVolume,
      options: { current?: PemKeyPair; debounceMs?: number; pollIntervalMs?: number } = {},
    ): { changes: PemKeyPair[]; errors: Error[]; watch: CertificateFileWatch } {
      const changes: PemKeyPair[] = [];
      const errors: Error[] = [];
      const watch = watchCertificateFiles({
        certFile: mounted.certFile,
        keyFile: mounted.keyFile,
        onChange: (changed) => changes.push(changed),
        onError: (error) => errors.push(error),
        debounceMs: 20,
        ...options,
      });
      watches.push(watch);
      return { changes, errors, watch };
    }

    it('hands over each new pair the kubelet swaps in, and skips a pair whose key does not match', async () => {
      const mounted = await volume('swap');
      await mounted.publish(pair(0));
      const { changes, errors } = record(mounted, { current: pair(0) });

      await mounted.publish(pair(1));
      await until(() => changes.length === 1, 'the first swap');
      assert.deepEqual(changes[0], pair(1));

      await mounted.publish({ cert: pair(2).cert, key: pair(1).key });
      await until(
        () => errors.some((error) => (error as TlsKeyPairError).reason === 'KeyMismatch'),
        'the mismatched pair to be reported',
      );
      assert.equal(changes.length, 1);

      await mounted.publish(pair(2));
      await until(() => changes.length === 2, 'the second swap');
      assert.deepEqual(changes, [pair(1), pair(2)]);
      assert.deepEqual(
        errors.map((error) => (error as TlsKeyPairError).reason),
        ['KeyMismatch'],
      );
    });

    it('hands over the first pair at once when told of none', async () => {
      const mounted = await volume('initial');
      await mounted.publish(pair(3));
      const { changes } = record(mounted);
      await until(() => changes.length === 1, 'the initial pair');
      assert.deepEqual(changes[0], pair(3));
    });

    it('finds a change by polling when no filesystem event gets through', async () => {
      const mounted = await volume('poll');
      await mounted.publish(pair(0));
      // Events would only be acted on after a minute: what arrives sooner comes from the poll.
      const { changes } = record(mounted, {
        current: pair(0),
        debounceMs: 60_000,
        pollIntervalMs: 30,
      });
      await mounted.publish(pair(1));
      await until(() => changes.length === 1, 'the poll to notice');
      assert.deepEqual(changes[0], pair(1));
    });

    it('waits for both halves of a pair written one file at a time', async () => {
      const dir = join(root, 'plain');
      await mkdir(dir);
      const certFile = join(dir, 'tls.crt');
      const keyFile = join(dir, 'tls.key');
      await writeFile(certFile, pair(0).cert);
      await writeFile(keyFile, pair(0).key);
      const changes: PemKeyPair[] = [];
      const watch = watchCertificateFiles({
        certFile,
        keyFile,
        current: pair(0),
        onChange: (changed) => changes.push(changed),
        onError: () => {},
        debounceMs: 20,
      });
      watches.push(watch);
      await writeFile(certFile, pair(1).cert);
      await watch.check();
      assert.deepEqual(changes, [], 'the new certificate with the old key is not handed over');
      await writeFile(keyFile, pair(1).key);
      await until(() => changes.length === 1, 'the completed pair');
      assert.deepEqual(changes[0], pair(1));
    });

    it('reports an onChange failure and calls nothing once closed', async () => {
      const mounted = await volume('close');
      await mounted.publish(pair(0));
      const errors: Error[] = [];
      let calls = 0;
      const watch = watchCertificateFiles({
        certFile: mounted.certFile,
        keyFile: mounted.keyFile,
        current: pair(0),
        onChange: () => {
          calls += 1;
          throw new Error('setSecureContext failed');
        },
        onError: (error) => errors.push(error),
        debounceMs: 20,
      });
      await mounted.publish(pair(1));
      await until(() => errors.length === 1, 'the failure to be reported');
      assert.match(errors[0]?.message ?? '', /setSecureContext failed/);
      watch.close();
      await mounted.publish(pair(2));
      await watch.check();
      await sleep(100);
      assert.equal(calls, 1);
      assert.equal(errors.length, 1);
    });
  });
});
