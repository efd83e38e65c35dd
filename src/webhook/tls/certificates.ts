// Issues and reads the webhook's certificates: a self-signed CA and serving certificates it signs.
//
// ECDSA P-256 with SHA-256 throughout: small keys, fast to generate, accepted by every TLS stack
// the apiserver and its clients use. Everything here is pure apart from the randomness of keys and
// serial numbers; the time is always passed in, so callers and tests choose it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createHash, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { ...KEY_ALGORITHM, hash: 'SHA-256' } as const;

/**
 * How far before `now` a certificate's notBefore is put, so that a verifier whose clock is behind
 * ours still accepts a certificate issued a moment ago (client-go's cert helpers use an hour too).
 */
export const BACKDATE_MS = 60 * 60 * 1000;

import type { PemKeyPair } from '../../util/tls-files.ts';

export type { PemKeyPair };

export interface CertificateAuthorityRequest {
  readonly now: Date;
  readonly validityMs: number;
  /**
   * The CA's subject CN. Make it unique per CA (e.g. with a timestamp): during a rotation two CAs
   * sit in one bundle, and although verifiers match issuers by key identifier as well, distinct
   * names keep every verifier and every human reading the bundle from confusing them.
   */
  readonly commonName: string;
}

export interface ServingCertificateRequest {
  /** DNS subject alternative names; the first is also the subject CN. */
  readonly dnsNames: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly now: Date;
  /** Capped at the CA's own notAfter: a certificate never outlives its issuer. */
  readonly validityMs: number;
}

/** What the rotation logic needs to know about a certificate. */
export interface CertificateDescription {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DNS subject alternative names, lower-cased. */
  readonly dnsNames: readonly string[];
  /** IP subject alternative names in canonical text form (`normalizeIpAddress`). */
  readonly ipAddresses: readonly string[];
  readonly isCa: boolean;
  /** SHA-256 of the DER, colon-separated upper-case hex (as `X509Certificate#fingerprint256`). */
  readonly fingerprint: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

// RFC 1123 labels, lower-case only (names are compared lower-cased), with an optional leading
// wildcard label as RFC 6125 allows.
const DNS_NAME =
  /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  // Positive as RFC 5280 requires, and non-zero in the top byte so the encoding keeps 16 bytes.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function checkValidity(validityMs: number): void {
  if (!Number.isFinite(validityMs) || validityMs <= 0) {
    throw new RangeError(`certificate validity must be a positive duration, got ${validityMs} ms`);
  }
}

function checkNow(now: Date): void {
  if (Number.isNaN(now.getTime())) throw new RangeError('invalid Date for now');
}

/**
 * The canonical text form of an IP address (IPv6 compressed and lower-cased), so that addresses
 * from flags and from certificates compare equal. Throws a RangeError for anything else.
 */
export function normalizeIpAddress(address: string): string {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 4) return bare.split('.').map(Number).join('.');
  if (family === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  throw new RangeError(`not an IP address: ${JSON.stringify(address)}`);
}

function normalizeDnsName(name: string): string {
  const lower = name.toLowerCase().replace(/\.$/, '');
  if (lower.length > 253 || !DNS_NAME.test(lower)) {
    throw new RangeError(`not a DNS name: ${JSON.stringify(name)}`);
  }
  return lower;
}

export interface ServingNamesRequest {
  /** The webhook's Service name. */
  readonly service: string;
  readonly namespace: string;
  /** `--register-url`, when the webhook is registered by URL rather than through the Service. */
  readonly registerUrl?: string;
}

export interface ServingNames {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/**
 * The names the serving certificate must carry: the Service's DNS names in every form a client may
 * use (`<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.cluster.local`), and the host of
 * `--register-url` as an IP SAN when it is an address, a DNS SAN otherwise.
 */
export function servingNames(request: ServingNamesRequest): ServingNames {
  const service = normalizeDnsName(request.service);
  const namespace = normalizeDnsName(request.namespace);
  const dnsNames = [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
  const ipAddresses: string[] = [];
  if (request.registerUrl !== undefined) {
    const host = new URL(request.registerUrl).hostname;
    if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) ipAddresses.push(normalizeIpAddress(host));
    else if (!dnsNames.includes(normalizeDnsName(host))) dnsNames.push(normalizeDnsName(host));
  }
  return { dnsNames, ipAddresses };
}

/** Every PEM certificate block in `text`, in order (a CA bundle holds several). */
export function splitPemCertificates(text: string): string[] {
  return (text.match(PEM_CERTIFICATE) ?? []).map((block) => `${block}\n`);
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

// @peculiar/x509 ends its PEM without a newline; concatenated into a bundle, such blocks would run
// into each other ("-----END CERTIFICATE----------BEGIN…"), which OpenSSL and Go do not read.
function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return withNewline(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

/** A new self-signed CA (basicConstraints CA, keyCertSign) valid from `now` for `validityMs`. */
export async function generateCertificateAuthority(
  request: CertificateAuthorityRequest,
): Promise<PemKeyPair> {
  checkNow(request.now);
  checkValidity(request.validityMs);
  const keys = await generateKeys();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: [{ CN: [request.commonName] }],
    notBefore: new Date(request.now.getTime() - BACKDATE_MS),
    notAfter: new Date(request.now.getTime() + request.validityMs),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert: withNewline(certificate.toString('pem')),
    key: await privateKeyPem(keys.privateKey),
  };
}

/**
 * A serving certificate (digitalSignature, serverAuth) for `dnsNames` and `ipAddresses`, signed by
 * `ca`, with a key of its own. `ca.cert` may be a bundle: the first certificate is the issuer.
 */
export async function issueServingCertificate(
  ca: PemKeyPair,
  request: ServingCertificateRequest,
): Promise<PemKeyPair> {
  checkNow(request.now);
  checkValidity(request.validityMs);
  const dnsNames = request.dnsNames.map(normalizeDnsName);
  const ipAddresses = (request.ipAddresses ?? []).map(normalizeIpAddress);
  const [commonName] = dnsNames;
  if (commonName === undefined) throw new RangeError('a serving certificate needs a DNS name');
  const [caPem] = splitPemCertificates(ca.cert);
  if (caPem === undefined) throw new RangeError('the CA certificate is not PEM');
  const issuer = new x509.X509Certificate(caPem);
  const signingKey = await importSigningKey(ca.key);
  const keys = await generateKeys();
  const notAfter = Math.min(request.now.getTime() + request.validityMs, issuer.notAfter.getTime());
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [{ CN: [commonName] }],
    issuer: issuer.subjectName,
    notBefore: new Date(request.now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(
        [
          ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
          ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
        ],
        false,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(issuer, false),
    ],
  });
  return {
    cert: withNewline(certificate.toString('pem')),
    key: await privateKeyPem(keys.privateKey),
  };
}

function subjectAlternativeNames(pem: string): { dns: string[]; ip: string[] } {
  const extension = new x509.X509Certificate(pem).getExtension(
    x509.SubjectAlternativeNameExtension,
  );
  const dns: string[] = [];
  const ip: string[] = [];
  for (const name of extension?.names.items ?? []) {
    if (name.type === 'dns') dns.push(name.value.toLowerCase());
    else if (name.type === 'ip') ip.push(normalizeIpAddress(name.value));
  }
  return { dns, ip };
}

/** Reads the first certificate in `pem`. Throws when it does not parse. */
export function describeCertificate(pem: string): CertificateDescription {
  const [first] = splitPemCertificates(pem);
  if (first === undefined) throw new RangeError('no PEM certificate found');
  const certificate = new X509Certificate(first);
  const names = subjectAlternativeNames(first);
  return {
    subject: certificate.subject,
    issuer: certificate.issuer,
    serialNumber: certificate.serialNumber,
    notBefore: certificate.validFromDate,
    notAfter: certificate.validToDate,
    dnsNames: names.dns,
    ipAddresses: names.ip,
    isCa: certificate.ca,
    fingerprint: certificate.fingerprint256,
  };
}

/**
 * Whether `keyPem` is the private key of the (first) certificate in `certPem`; false when either
 * does not parse.
 */
export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/**
 * Whether `certPem` (the first certificate) was signed by `caPem`: issuer name and signature both.
 */
export function isIssuedBy(certPem: string, caPem: string): boolean {
  try {
    const certificate = new X509Certificate(certPem);
    const issuer = new X509Certificate(caPem);
    return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** SHA-256 of a string, hex: a cheap identity for PEM content. */
export function contentHash(...parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}
