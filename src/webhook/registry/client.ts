// The registry's HTTP API (OCI distribution v2) for one image: manifests and blobs by GET, Bearer and Basic challenges, redirects checked hop by hop, sizes capped, digests verified.
import { createHash } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { quoted } from '../quote.ts';
import { restrictedAddress } from './address.ts';
import { parseChallenges, type RegistryCredential } from './auth.ts';
import { ImageResolutionError } from './errors.ts';
import { apiHost, type ImageReference } from './reference.ts';

export interface RegistryClientOptions {
  /** host[:port] reached over plain http (--registry-insecure); all others over https only. */
  readonly insecure: ReadonlySet<string>;
  /** host[:port] exempt from the address check (--registry-allow-internal). */
  readonly allowInternal: ReadonlySet<string>;
  readonly userAgent: string;
  /** For tests: how host names resolve. */
  readonly lookup?: typeof dnsLookup;
  /** The CA certificates trusted for https registries (default: Node's default set). */
  readonly ca?: readonly string[];
}

/** A token endpoint's answer is a few KB; anything near this is not one. */
export const MAX_TOKEN_BYTES = 1024 * 1024;
/** An error body is read (and dropped) up to this much, so the connection can be reused. */
const MAX_DISCARD_BYTES = 64 * 1024;
export const MAX_REDIRECTS = 5;

interface Fetched {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A lookup error carrying why the address was refused. */
class RefusedLookup extends Error {
  readonly kind: string;
  readonly host: string;

  constructor(host: string, kind: string) {
    super(`${host} resolves to a ${kind} address`);
    this.kind = kind;
    this.host = host;
  }
}

function refused(host: string, kind: string): ImageResolutionError {
  return new ImageResolutionError(
    'RefusedAddress',
    `registry host ${quoted(host)} is a ${kind} address, which op-kube does not fetch from (allow that registry with --registry-allow-internal)`,
  );
}

export function digestOf(algorithm: 'sha256' | 'sha512', body: Uint8Array): string {
  return `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
}

/** Checks `body` against `digest` (sha256 or sha512). */
export function verifyDigest(digest: string, body: Uint8Array, what: string): void {
  const algorithm = digest.startsWith('sha512:') ? 'sha512' : 'sha256';
  if (digestOf(algorithm, body) !== digest) {
    throw new ImageResolutionError(
      'DigestMismatch',
      `the registry sent ${what} whose digest is not ${digest}`,
    );
  }
}

export class RegistryClient {
  readonly #options: RegistryClientOptions;
  readonly #lookup: LookupFunction;

  constructor(options: RegistryClientOptions) {
    this.#options = options;
    const resolve = options.lookup ?? dnsLookup;
    // Every connection to a name goes through here, so the address checked is the one connected
    // to (no second resolution a rebinding DNS server could answer differently).
    this.#lookup = ((
      hostname: string,
      lookupOptions: { all?: boolean },
      callback: (...args: unknown[]) => void,
    ) => {
      resolve(
        hostname,
        { all: true },
        (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
          if (error) {
            callback(error);
            return;
          }
          const bad = addresses.map((entry) => restrictedAddress(entry.address)).find(Boolean);
          if (bad) {
            callback(new RefusedLookup(hostname, bad));
            return;
          }
          if (lookupOptions.all) callback(null, addresses);
          else callback(null, addresses[0]?.address, addresses[0]?.family);
        },
      );
    }) as LookupFunction;
  }

  /** A session for one image: its authorization is won once and reused for its blobs. */
  session(reference: ImageReference, credential: RegistryCredential | undefined): RegistrySession {
    return new RegistrySession(this, reference, credential);
  }

  /** The URL of a path on the registry, http only for --registry-insecure hosts. */
  registryUrl(host: string, path: string): URL {
    const scheme = this.#options.insecure.has(host) ? 'http' : 'https';
    return new URL(`${scheme}://${host}${path}`);
  }

  /**
   * GET with redirects followed by hand: each hop's scheme and address checked as the first's,
   * the Authorization header dropped when the origin changes (blob stores sign their own URLs).
   */
  async get(
    url: URL,
    headers: Readonly<Record<string, string>>,
    maxBytes: number,
    signal: AbortSignal,
  ): Promise<Fetched> {
    let current = url;
    let sent = { ...headers };
    for (let hop = 0; ; hop += 1) {
      const answer = await this.#once(current, sent, maxBytes, signal);
      const location = answer.headers.location;
      if (![301, 302, 303, 307, 308].includes(answer.status) || !location) return answer;
      if (hop >= MAX_REDIRECTS) {
        throw new ImageResolutionError(
          'RegistryError',
          `the registry redirected more than ${MAX_REDIRECTS} times`,
        );
      }
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new ImageResolutionError(
          'Malformed',
          'the registry redirected to something that is not a URL',
        );
      }
      if (next.origin !== current.origin) {
        const { authorization: _dropped, ...rest } = sent;
        sent = rest;
      }
      current = next;
    }
  }

  #check(url: URL): void {
    const host = url.host;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ImageResolutionError(
        'RegistryError',
        `the registry pointed to a ${quoted(url.protocol)} URL`,
      );
    }
    if (url.username || url.password) {
      throw new ImageResolutionError(
        'RegistryError',
        'the registry pointed to a URL with user info',
      );
    }
    // The address first: it is the more serious refusal, and the one to report.
    if (!this.#options.allowInternal.has(host)) {
      const kind = restrictedAddress(url.hostname);
      if (kind) throw refused(host, kind);
    }
    if (url.protocol === 'http:' && !this.#options.insecure.has(host)) {
      throw new ImageResolutionError(
        'InsecureRegistry',
        `${quoted(host)} was to be reached over plain http, which op-kube does only for registries listed in --registry-insecure`,
      );
    }
  }

  #once(
    url: URL,
    headers: Readonly<Record<string, string>>,
    maxBytes: number,
    signal: AbortSignal,
  ): Promise<Fetched> {
    this.#check(url);
    const internal = this.#options.allowInternal.has(url.host);
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Fetched>((resolve, reject) => {
      if (signal.aborted) {
        reject(timeout());
        return;
      }
      const request = send(
        url,
        {
          method: 'GET',
          headers: { 'user-agent': this.#options.userAgent, ...headers },
          signal,
          ...(isIP(hostname) || internal ? {} : { lookup: this.#lookup }),
          ...(this.#options.ca ? { ca: [...this.#options.ca] } : {}),
          agent: false,
        },
        (response: IncomingMessage) => {
          const status = response.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          const limit = ok ? maxBytes : MAX_DISCARD_BYTES;
          const declared = Number(response.headers['content-length']);
          if (ok && Number.isFinite(declared) && declared > maxBytes) {
            response.destroy();
            reject(tooLarge(maxBytes));
            return;
          }
          const chunks: Buffer[] = [];
          let length = 0;
          response.on('data', (chunk: Buffer) => {
            length += chunk.length;
            if (length > limit) {
              response.destroy();
              if (ok) reject(tooLarge(maxBytes));
              else resolve({ status, headers: response.headers, body: Buffer.alloc(0) });
              return;
            }
            chunks.push(chunk);
          });
          response.on('end', () =>
            resolve({ status, headers: response.headers, body: Buffer.concat(chunks) }),
          );
          response.on('error', (error) => reject(transportError(error, url, signal)));
        },
      );
      request.on('error', (error) => reject(transportError(error, url, signal)));
      request.end();
    });
  }
}

function tooLarge(maxBytes: number): ImageResolutionError {
  return new ImageResolutionError(
    'TooLarge',
    `the registry sent more than ${maxBytes} bytes for one document`,
  );
}

function timeout(): ImageResolutionError {
  return new ImageResolutionError('Timeout', 'the registry did not answer in time');
}

function transportError(error: unknown, url: URL, signal: AbortSignal): ImageResolutionError {
  if (error instanceof ImageResolutionError) return error;
  if (signal.aborted) return timeout();
  if (error instanceof RefusedLookup) return refused(error.host, error.kind);
  const code = (error as { code?: unknown }).code;
  return new ImageResolutionError(
    'Unreachable',
    `could not reach ${quoted(url.host)}${typeof code === 'string' ? ` (${code})` : ''}`,
    { cause: error },
  );
}

/** One image's requests, sharing the authorization the first challenge won. */
export class RegistrySession {
  readonly #client: RegistryClient;
  readonly #reference: ImageReference;
  readonly #credential: RegistryCredential | undefined;
  readonly #host: string;
  #authorization: string | undefined;

  constructor(
    client: RegistryClient,
    reference: ImageReference,
    credential: RegistryCredential | undefined,
  ) {
    this.#client = client;
    this.#reference = reference;
    this.#credential = credential;
    this.#host = apiHost(reference);
  }

  /** GET /v2/<repository>/<kind>/<reference>, answering a 401's challenge once. */
  async fetch(
    kind: 'manifests' | 'blobs',
    reference: string,
    accept: string,
    maxBytes: number,
    signal: AbortSignal,
  ): Promise<{
    readonly body: Buffer;
    readonly contentType: string | undefined;
    readonly digest: string | undefined;
  }> {
    const url = this.#client.registryUrl(
      this.#host,
      `/v2/${this.#reference.repository}/${kind}/${encodeURIComponent(reference)}`,
    );
    for (let attempt = 0; ; attempt += 1) {
      const headers: Record<string, string> = { accept };
      if (this.#authorization) headers.authorization = this.#authorization;
      const answer = await this.#client.get(url, headers, maxBytes, signal);
      if (answer.status === 401 && attempt === 0) {
        await this.#authorize(answer.headers['www-authenticate'], signal);
        continue;
      }
      if (answer.status >= 200 && answer.status < 300) {
        const digest = answer.headers['docker-content-digest'];
        return {
          body: answer.body,
          contentType: answer.headers['content-type'],
          digest: typeof digest === 'string' ? digest.trim() : undefined,
        };
      }
      throw this.#failure(answer.status, kind);
    }
  }

  #failure(status: number, kind: 'manifests' | 'blobs'): ImageResolutionError {
    const what = kind === 'manifests' ? 'manifest' : 'image config';
    switch (status) {
      case 401:
        return new ImageResolutionError(
          'Unauthorized',
          this.#credential
            ? `the registry refused the credentials from the pull Secret for ${quoted(this.#reference.registry)}`
            : `the registry needs credentials and no imagePullSecret has any for ${quoted(this.#reference.registry)}`,
        );
      case 403:
        return new ImageResolutionError('Forbidden', `the registry denied access to the ${what}`);
      case 404:
        return new ImageResolutionError('NotFound', `the registry has no such ${what}`);
      case 429:
        return new ImageResolutionError('RateLimited', 'the registry is rate limiting requests');
      default:
        return new ImageResolutionError(
          'RegistryError',
          `the registry answered HTTP ${status} for the ${what}`,
        );
    }
  }

  async #authorize(header: string | string[] | undefined, signal: AbortSignal): Promise<void> {
    const challenges = parseChallenges(Array.isArray(header) ? header.join(', ') : (header ?? ''));
    const bearer = challenges.find((challenge) => challenge.scheme === 'bearer');
    const credential = this.#credential;
    if (bearer?.params.realm) {
      this.#authorization = `Bearer ${await this.#token(bearer.params, signal)}`;
      return;
    }
    if (challenges.some((challenge) => challenge.scheme === 'basic') && credential) {
      this.#authorization = basic(credential);
      return;
    }
    throw this.#failure(401, 'manifests');
  }

  /** The Docker token flow: GET realm?service&scope, with Basic credentials when there are any. */
  async #token(params: Readonly<Record<string, string>>, signal: AbortSignal): Promise<string> {
    let url: URL;
    try {
      url = new URL(params.realm ?? '');
    } catch {
      throw new ImageResolutionError(
        'Malformed',
        'the registry named a token realm that is not a URL',
      );
    }
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', `repository:${this.#reference.repository}:pull`);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#credential) headers.authorization = basic(this.#credential);
    const answer = await this.#client.get(url, headers, MAX_TOKEN_BYTES, signal);
    if (answer.status === 401 || answer.status === 403) throw this.#failure(401, 'manifests');
    if (answer.status < 200 || answer.status >= 300) {
      throw new ImageResolutionError(
        'RegistryError',
        `the registry's token service answered HTTP ${answer.status}`,
      );
    }
    let document: unknown;
    try {
      document = JSON.parse(answer.body.toString('utf8'));
    } catch {
      throw new ImageResolutionError(
        'Malformed',
        "the registry's token service sent something other than JSON",
      );
    }
    const record = (typeof document === 'object' && document !== null ? document : {}) as Record<
      string,
      unknown
    >;
    const token =
      typeof record.token === 'string' && record.token !== '' ? record.token : record.access_token;
    if (typeof token !== 'string' || token === '' || /[\r\n]/.test(token)) {
      throw new ImageResolutionError('Malformed', "the registry's token service sent no token");
    }
    return token;
  }
}

function basic(credential: RegistryCredential): string {
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
}
