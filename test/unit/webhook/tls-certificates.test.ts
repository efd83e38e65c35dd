import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  BACKDATE_MS,
  describeCertificate,
  generateCertificateAuthority,
  isIssuedBy,
  issueServingCertificate,
  keyMatchesCertificate,
  normalizeIpAddress,
  servingNames,
  splitPemCertificates,
} from '../../../src/webhook/tls/certificates.ts';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-03-01T12:00:00Z');

/** A CA named `commonName`, valid for a day from NOW. */
function authority(commonName: string) {
  return generateCertificateAuthority({ now: NOW, validityMs: DAY_MS, commonName });
}

describe('webhook certificates', () => {
  it('issues a serving certificate that chains to its CA and names the Service and the register URL', async () => {
    const ca = await generateCertificateAuthority({
      now: NOW,
      validityMs: 50 * DAY_MS,
      commonName: 'test-ca@1',
    });
    const names = servingNames({
      service: 'op-kube-webhook',
      namespace: 'ops',
      registerUrl: 'https://10.1.2.3:8443/mutate',
    });
    const leaf = await issueServingCertificate(ca, { ...names, now: NOW, validityMs: 10 * DAY_MS });

    const caCert = new X509Certificate(ca.cert);
    const cert = new X509Certificate(leaf.cert);
    assert.equal(caCert.ca, true);
    assert.equal(cert.ca, false);
    assert.ok(cert.checkIssued(caCert));
    assert.ok(cert.verify(caCert.publicKey));
    assert.ok(caCert.verify(caCert.publicKey), 'the CA is self-signed');
    assert.ok(cert.checkPrivateKey(createPrivateKey(leaf.key)));
    assert.ok(caCert.checkPrivateKey(createPrivateKey(ca.key)));
    assert.equal(cert.checkPrivateKey(createPrivateKey(ca.key)), false);
    for (const host of [
      'op-kube-webhook',
      'op-kube-webhook.ops',
      'op-kube-webhook.ops.svc',
      'op-kube-webhook.ops.svc.cluster.local',
    ]) {
      assert.equal(cert.checkHost(host), host);
    }
    assert.equal(cert.checkHost('other.ops.svc'), undefined);
    assert.equal(cert.checkIP('10.1.2.3'), '10.1.2.3');
    assert.equal(cert.checkIP('10.1.2.4'), undefined);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.equal(cert.subject, 'CN=op-kube-webhook');
    assert.equal(cert.issuer, 'CN=test-ca@1');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  it('describes validity, names, CA flag and fingerprint', async () => {
    const ca = await generateCertificateAuthority({
      now: NOW,
      validityMs: 50 * DAY_MS,
      commonName: 'test-ca@2',
    });
    const leaf = await issueServingCertificate(ca, {
      dnsNames: ['Webhook.OPS.svc', 'webhook'],
      ipAddresses: ['2001:db8:0:0::1', '127.0.0.1'],
      now: NOW,
      validityMs: 10 * DAY_MS,
    });
    const described = describeCertificate(leaf.cert);
    assert.deepEqual(described.dnsNames, ['webhook.ops.svc', 'webhook']);
    assert.deepEqual(described.ipAddresses, ['2001:db8::1', '127.0.0.1']);
    assert.equal(described.isCa, false);
    assert.equal(described.notBefore.getTime(), NOW.getTime() - BACKDATE_MS);
    assert.equal(described.notAfter.getTime(), NOW.getTime() + 10 * DAY_MS);
    assert.equal(described.fingerprint, new X509Certificate(leaf.cert).fingerprint256);
    assert.match(described.serialNumber, /^[0-7][0-9A-F]{31}$/);

    const caDescribed = describeCertificate(ca.cert);
    assert.equal(caDescribed.isCa, true);
    assert.deepEqual(caDescribed.dnsNames, []);
    assert.equal(caDescribed.notAfter.getTime(), NOW.getTime() + 50 * DAY_MS);
  });

  it('never lets a serving certificate outlive its CA', async () => {
    const ca = await generateCertificateAuthority({
      now: NOW,
      validityMs: 5 * DAY_MS,
      commonName: 'short-ca',
    });
    const leaf = await issueServingCertificate(ca, {
      dnsNames: ['webhook'],
      now: NOW,
      validityMs: 365 * DAY_MS,
    });
    assert.equal(
      describeCertificate(leaf.cert).notAfter.getTime(),
      describeCertificate(ca.cert).notAfter.getTime(),
    );
  });

  it('gives every certificate a distinct positive serial number', async () => {
    const ca = await generateCertificateAuthority({
      now: NOW,
      validityMs: DAY_MS,
      commonName: 'a',
    });
    const serials = new Set<string>();
    for (let index = 0; index < 5; index += 1) {
      const leaf = await issueServingCertificate(ca, {
        dnsNames: ['w'],
        now: NOW,
        validityMs: DAY_MS,
      });
      const serial = describeCertificate(leaf.cert).serialNumber;
      assert.ok(Number.parseInt(serial.slice(0, 1), 16) < 8, `positive: ${serial}`);
      serials.add(serial);
    }
    assert.equal(serials.size, 5);
  });

  it('tells which CA issued a certificate and whether a key belongs to it', async () => {
    const [one, two] = await Promise.all([authority('one'), authority('two')]);
    const leaf = await issueServingCertificate(one, {
      dnsNames: ['w'],
      now: NOW,
      validityMs: DAY_MS,
    });
    assert.equal(isIssuedBy(leaf.cert, one.cert), true);
    assert.equal(isIssuedBy(leaf.cert, two.cert), false);
    assert.equal(isIssuedBy('garbage', one.cert), false);
    assert.equal(keyMatchesCertificate(leaf.cert, leaf.key), true);
    assert.equal(keyMatchesCertificate(leaf.cert, one.key), false);
    assert.equal(keyMatchesCertificate(leaf.cert, 'not a key'), false);
  });

  it('refuses names, addresses and durations that are not', async () => {
    const ca = await generateCertificateAuthority({
      now: NOW,
      validityMs: DAY_MS,
      commonName: 'x',
    });
    const base = { now: NOW, validityMs: DAY_MS };
    await assert.rejects(issueServingCertificate(ca, { ...base, dnsNames: [] }), RangeError);
    await assert.rejects(
      issueServingCertificate(ca, { ...base, dnsNames: ['under_score.example'] }),
      /not a DNS name/,
    );
    await assert.rejects(
      issueServingCertificate(ca, { ...base, dnsNames: ['w'], ipAddresses: ['10.0.0'] }),
      /not an IP address/,
    );
    await assert.rejects(
      issueServingCertificate(ca, { ...base, dnsNames: ['w'], validityMs: 0 }),
      /positive duration/,
    );
    await assert.rejects(
      generateCertificateAuthority({
        now: new Date(Number.NaN),
        validityMs: DAY_MS,
        commonName: 'x',
      }),
      /invalid Date/,
    );
  });
});

describe('servingNames', () => {
  it('names the Service four ways and adds a register-url host given by name as a DNS SAN', () => {
    assert.deepEqual(
      servingNames({ service: 'hook', namespace: 'ns', registerUrl: 'https://hook.example.com/x' }),
      {
        dnsNames: [
          'hook',
          'hook.ns',
          'hook.ns.svc',
          'hook.ns.svc.cluster.local',
          'hook.example.com',
        ],
        ipAddresses: [],
      },
    );
  });

  it('adds a register-url host given as an address (v4 or v6) as an IP SAN', () => {
    assert.deepEqual(
      servingNames({ service: 'hook', namespace: 'ns', registerUrl: 'https://[::1]:9443/' })
        .ipAddresses,
      ['::1'],
    );
    assert.deepEqual(
      servingNames({ service: 'hook', namespace: 'ns', registerUrl: 'https://192.168.0.7/' })
        .ipAddresses,
      ['192.168.0.7'],
    );
  });

  it('does not repeat a register-url host that is one of the Service names', () => {
    assert.equal(
      servingNames({ service: 'hook', namespace: 'ns', registerUrl: 'https://hook.ns.svc:443/' })
        .dnsNames.length,
      4,
    );
  });
});

describe('PEM helpers', () => {
  it('splits a bundle into its certificates and normalises addresses', async () => {
    const [one, two] = await Promise.all([authority('one'), authority('two')]);
    const blocks = splitPemCertificates(`${one.cert}\n\n${two.cert}`);
    assert.equal(blocks.length, 2);
    assert.equal(describeCertificate(blocks[1] ?? '').subject, 'CN=two');
    assert.deepEqual(splitPemCertificates('nothing here'), []);
    assert.equal(normalizeIpAddress('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(normalizeIpAddress('[::1]'), '::1');
    assert.throws(() => normalizeIpAddress('example.com'), RangeError);
  });
});
