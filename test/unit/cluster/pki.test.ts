import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CertificateAuthority,
  daysUntilExpiry,
  signingKeyPair,
} from '../../../tools/cluster/pki.ts';

describe('local cluster PKI', () => {
  it('issues a serving certificate that chains to the CA and names its loopback addresses', async () => {
    const ca = await CertificateAuthority.create('test CA', 10);
    const caPem = await ca.pem();
    const leaf = await ca.issue({
      subject: 'CN=kube-apiserver',
      server: true,
      dnsNames: ['localhost', 'kubernetes.default.svc'],
      ipAddresses: ['127.0.0.1'],
    });
    const caCert = new X509Certificate(caPem.cert);
    const cert = new X509Certificate(leaf.cert);
    assert.equal(caCert.ca, true);
    assert.equal(cert.ca, false);
    assert.ok(cert.checkIssued(caCert));
    assert.ok(cert.verify(caCert.publicKey));
    assert.equal(cert.checkHost('kubernetes.default.svc'), 'kubernetes.default.svc');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('10.0.0.1'), undefined);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.ok(cert.publicKey.equals(createPublicKey(createPrivateKey(leaf.key))));
    const days = daysUntilExpiry(leaf.cert);
    assert.ok(days > 9.9 && days <= 10, `expires in ${days} days`);
  });

  it('puts the Kubernetes group in O and marks client certificates for client auth', async () => {
    const ca = await CertificateAuthority.create('test CA', 1);
    const cert = new X509Certificate(
      (await ca.issue({ subject: 'CN=admin, O=system:masters', client: true })).cert,
    );
    assert.match(cert.subject, /CN=admin/);
    assert.match(cert.subject, /O=system:masters/);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  });

  it('makes a ServiceAccount signing pair whose public half verifies the private half', async () => {
    const pair = await signingKeyPair();
    const payload = Buffer.from('token');
    const signature = sign('sha256', payload, pair.privateKey);
    assert.ok(verify('sha256', payload, pair.publicKey, signature));
    assert.match(pair.publicKey, /^-----BEGIN PUBLIC KEY-----/);
  });
});
