// Who may read /metrics with --metrics-secure (1Password's default): the apiserver decides, through a
// TokenReview of the caller's bearer token and a SubjectAccessReview of `get` on the path, as
// controller-runtime's filters.WithAuthenticationAndAuthorization does.
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import type { KubeRequest } from '../kube/client/client.ts';

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
/** A year, as the self-signed certificates of client-go's cert helpers; backdated an hour. */
const SELF_SIGNED_VALIDITY_MS = 365 * 24 * 3_600_000;

/**
 * The certificate /metrics serves with --metrics-secure and no --metrics-cert-path, generated in
 * memory at start (nothing written: the root filesystem may be read-only), as controller-runtime
 * does. Scrapers verify nothing against it (insecureSkipVerify); the token review protects /metrics.
 */
export async function selfSignedMetricsCertificate(
  now = new Date(),
): Promise<{ cert: string; key: string }> {
  // Loaded only here: @peculiar/x509 with its ASN.1 schemas, tsyringe and reflect-metadata are
  // about 230 modules and 4 MB of RSS that an operator with --metrics-secure=false or
  // --metrics-cert-path never needs (docs/benchmarks.md, "Operator memory").
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: [{ CN: ['op-kube-operator-metrics'] }],
    notBefore: new Date(now.getTime() - 3_600_000),
    notAfter: new Date(now.getTime() + SELF_SIGNED_VALIDITY_MS),
    signingAlgorithm: { ...KEY_ALGORITHM, hash: 'SHA-256' },
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(
        [
          { type: 'dns', value: 'localhost' },
          { type: 'ip', value: '127.0.0.1' },
        ],
        false,
      ),
    ],
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    cert: `${certificate.toString('pem')}\n`,
    key: `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`,
  };
}

/** The one call the reviews need: create a TokenReview or a SubjectAccessReview. */
export interface ReviewClient {
  request<T>(request: KubeRequest): Promise<T>;
}

export interface MetricsAccess {
  /** 200 to serve; 401 no or an unknown token; 403 not allowed; 500 the apiserver did not say. */
  readonly status: 200 | 401 | 403 | 500;
  /** Why, for the response body and a log line; never the token. */
  readonly reason: string;
}

interface ReviewedUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

interface TokenReviewStatus {
  readonly status?: {
    readonly authenticated?: boolean;
    readonly user?: ReviewedUser;
    readonly error?: string;
  };
}

interface SubjectAccessReviewStatus {
  readonly status?: { readonly allowed?: boolean; readonly reason?: string };
}

interface Cached<T> {
  readonly value: T;
  readonly expires: number;
}

/** controller-runtime's (apiserver delegating) cache lifetimes. */
export const METRICS_AUTH_TTL = {
  authenticatedMs: 60_000,
  unauthenticatedMs: 10_000,
  allowedMs: 5 * 60_000,
  deniedMs: 30_000,
} as const;
/** Entries kept per cache: random tokens cannot grow memory without bound. */
export const METRICS_AUTH_CACHE_ENTRIES = 1024;

class BoundedCache<T> {
  readonly #entries = new Map<string, Cached<T>>();

  get(key: string, now: number): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: T, expires: number): void {
    this.#entries.delete(key);
    if (this.#entries.size >= METRICS_AUTH_CACHE_ENTRIES) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expires });
  }

  get size(): number {
    return this.#entries.size;
  }
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Reviews each caller's token and access, caching both answers as controller-runtime does. */
export class MetricsAuthorizer {
  readonly #client: ReviewClient;
  readonly #now: () => number;
  readonly #users = new BoundedCache<{ readonly user?: ReviewedUser }>();
  readonly #decisions = new BoundedCache<boolean>();

  constructor(options: { client: ReviewClient; now?: () => number }) {
    this.#client = options.client;
    this.#now = options.now ?? Date.now;
  }

  /** Whether the request with this Authorization header may `verb` `path`. Never throws. */
  async check(
    authorization: string | undefined,
    path: string,
    verb: string,
  ): Promise<MetricsAccess> {
    const token = bearerToken(authorization);
    if (token === undefined) return { status: 401, reason: 'Unauthorized: no bearer token' };
    let user: ReviewedUser | undefined;
    try {
      user = await this.#authenticate(token);
    } catch {
      return { status: 500, reason: 'Internal Server Error: the TokenReview failed' };
    }
    if (!user) return { status: 401, reason: 'Unauthorized: the token was not accepted' };
    try {
      if (!(await this.#authorize(user, path, verb))) {
        return {
          status: 403,
          reason: `Forbidden: ${JSON.stringify(user.username)} may not ${verb} ${path}`,
        };
      }
    } catch {
      return { status: 500, reason: 'Internal Server Error: the SubjectAccessReview failed' };
    }
    return { status: 200, reason: 'allowed' };
  }

  async #authenticate(token: string): Promise<ReviewedUser | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.#now();
    const cached = this.#users.get(key, now);
    if (cached) return cached.user;
    const review = await this.#client.request<TokenReviewStatus>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      operation: 'create TokenReview for /metrics',
    });
    const reviewed = review.status?.authenticated === true ? review.status.user : undefined;
    const user = reviewed?.username ? reviewed : undefined;
    // A refused token is remembered for less time than an accepted one.
    const ttl = user ? METRICS_AUTH_TTL.authenticatedMs : METRICS_AUTH_TTL.unauthenticatedMs;
    this.#users.set(key, user ? { user } : {}, now + ttl);
    return user;
  }

  async #authorize(user: ReviewedUser, path: string, verb: string): Promise<boolean> {
    const key = JSON.stringify([user.username, user.uid, user.groups, user.extra, path, verb]);
    const now = this.#now();
    const cached = this.#decisions.get(key, now);
    if (cached !== undefined) return cached;
    const review = await this.#client.request<SubjectAccessReviewStatus>({
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          ...(user.groups ? { groups: user.groups } : {}),
          ...(user.extra ? { extra: user.extra } : {}),
          nonResourceAttributes: { path, verb },
        },
      },
      operation: 'create SubjectAccessReview for /metrics',
    });
    const allowed = review.status?.allowed === true;
    this.#decisions.set(
      key,
      allowed,
      now + (allowed ? METRICS_AUTH_TTL.allowedMs : METRICS_AUTH_TTL.deniedMs),
    );
    return allowed;
  }
}
