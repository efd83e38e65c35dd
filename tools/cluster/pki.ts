// A throwaway certificate authority and the certificates and keys a loopback control plane needs.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

interface Authority {
  readonly certificate: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
}

export interface LeafRequest {
  /** Distinguished name, e.g. `CN=admin, O=system:masters` (O becomes the Kubernetes group). */
  readonly subject: string;
  readonly server?: boolean;
  readonly client?: boolean;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive, as RFC 5280 requires
  return bytes.toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(keys: CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function publicKeyPem(keys: CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  return x509.PemConverter.encode(der, 'PUBLIC KEY');
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  // Back-dated a little so a clock a few seconds behind still accepts a fresh certificate.
  const now = Date.now();
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + days * DAY_MS) };
}

export class CertificateAuthority {
  readonly #authority: Authority;
  readonly #validityDays: number;

  private constructor(authority: Authority, validityDays: number) {
    this.#authority = authority;
    this.#validityDays = validityDays;
  }

  static async create(commonName: string, validityDays: number): Promise<CertificateAuthority> {
    const keys = await generateKeys();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: `CN=${commonName}`,
      ...validity(validityDays),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign |
            x509.KeyUsageFlags.cRLSign |
            x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority({ certificate, keys }, validityDays);
  }

  /** The authority saved by pem() earlier, to issue more certificates (e.g. a node's) later. */
  static async fromPem(pair: PemPair, validityDays: number): Promise<CertificateAuthority> {
    const certificate = new x509.X509Certificate(pair.cert);
    const privateKey = await webcrypto.subtle.importKey(
      'pkcs8',
      x509.PemConverter.decodeFirst(pair.key),
      ALGORITHM,
      true,
      ['sign'],
    );
    const publicKey = await webcrypto.subtle.importKey(
      'spki',
      certificate.publicKey.rawData,
      ALGORITHM,
      true,
      ['verify'],
    );
    return new CertificateAuthority({ certificate, keys: { privateKey, publicKey } }, validityDays);
  }

  async pem(): Promise<PemPair> {
    return {
      cert: this.#authority.certificate.toString('pem'),
      key: await privateKeyPem(this.#authority.keys),
    };
  }

  async issue(request: LeafRequest): Promise<PemPair> {
    const keys = await generateKeys();
    const usages: string[] = [];
    if (request.server) usages.push(x509.ExtendedKeyUsage.serverAuth);
    if (request.client) usages.push(x509.ExtendedKeyUsage.clientAuth);
    const names = [
      ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: request.subject,
      issuer: this.#authority.certificate.subject,
      ...validity(this.#validityDays),
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: this.#authority.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension(usages, false),
        ...(names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
        await x509.AuthorityKeyIdentifierExtension.create(this.#authority.certificate, false),
      ],
    });
    return { cert: certificate.toString('pem'), key: await privateKeyPem(keys) };
  }
}

/** A key pair for signing and verifying ServiceAccount tokens. */
export async function signingKeyPair(): Promise<{ privateKey: string; publicKey: string }> {
  const keys = await generateKeys();
  return { privateKey: await privateKeyPem(keys), publicKey: await publicKeyPem(keys) };
}

/** Days until a PEM certificate expires (negative once it has). */
export function daysUntilExpiry(pem: string, now: Date = new Date()): number {
  return (new x509.X509Certificate(pem).notAfter.getTime() - now.getTime()) / DAY_MS;
}

/** Whether a PEM certificate names `ip` among its subject alternative names. */
export function coversIpAddress(pem: string, ip: string): boolean {
  const extension = new x509.X509Certificate(pem).getExtension(
    x509.SubjectAlternativeNameExtension,
  );
  return extension?.names.items.some((name) => name.type === 'ip' && name.value === ip) ?? false;
}
