// An image's ENTRYPOINT and CMD for a platform: from the cache (by digest; a tag's digest for a short while), else from its registry.
import { createHash } from 'node:crypto';
import type { RegistryCredential } from './auth.ts';
import { BoundedCache } from './cache.ts';
import { digestOf, verifyDigest, type RegistryClient } from './client.ts';
import { ImageResolutionError } from './errors.ts';
import {
  MANIFEST_ACCEPT,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  choosePlatform,
  formatPlatform,
  parseImageConfig,
  parseManifest,
  type ImageCommand,
  type Platform,
} from './manifest.ts';
import { formatReference, isDigest, type ImageReference } from './reference.ts';

export interface ResolverOptions {
  /** Entries in each of the two caches (tags, digests). */
  readonly cacheSize: number;
  /** How long a tag is taken to point at the digest last read for it. */
  readonly tagTtlMs: number;
  /** How long a digest's command is kept: it cannot change, but access to it can be revoked. */
  readonly digestTtlMs: number;
  readonly now?: () => number;
}

export interface Resolved {
  readonly command: ImageCommand;
  /** `cache`: no request was made. */
  readonly source: 'cache' | 'registry';
}

export interface ResolverEvents {
  cache(kind: 'tag' | 'digest', hit: boolean): void;
}

/**
 * Whose view a cache entry is: what one pull Secret could read is not served to a pod without it.
 * A hash, kept in memory only.
 */
function identity(credential: RegistryCredential | undefined): string {
  if (!credential) return 'anonymous';
  return createHash('sha256')
    .update(`${credential.username}\0${credential.password}`)
    .digest('hex')
    .slice(0, 32);
}

export class ImageResolver {
  readonly #client: RegistryClient;
  readonly #options: ResolverOptions;
  readonly #tags: BoundedCache<string>;
  readonly #digests: BoundedCache<ImageCommand>;
  readonly #events: ResolverEvents | undefined;
  readonly #inFlight = new Map<string, Promise<Resolved>>();

  constructor(client: RegistryClient, options: ResolverOptions, events?: ResolverEvents) {
    this.#client = client;
    this.#options = options;
    this.#tags = new BoundedCache(options.cacheSize, options.now);
    this.#digests = new BoundedCache(options.cacheSize, options.now);
    this.#events = events;
  }

  get cacheSizes(): { readonly tags: number; readonly digests: number } {
    return { tags: this.#tags.size, digests: this.#digests.size };
  }

  /**
   * Concurrent calls for the same image, reference, credential and platform (a Deployment's pods
   * created together) share one lookup: the registry is asked once. The first caller's signal
   * bounds it; every caller's deadline is the same length and held at the edge anyway.
   */
  resolve(
    reference: ImageReference,
    credential: RegistryCredential | undefined,
    platform: Platform,
    signal: AbortSignal,
  ): Promise<Resolved> {
    const key = `${identity(credential)}\n${formatReference(reference)}\n${formatPlatform(platform)}`;
    const pending = this.#inFlight.get(key);
    if (pending) return pending;
    const started = this.#lookup(reference, credential, platform, signal).finally(() => {
      this.#inFlight.delete(key);
    });
    this.#inFlight.set(key, started);
    return started;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  async #lookup(
    reference: ImageReference,
    credential: RegistryCredential | undefined,
    platform: Platform,
    signal: AbortSignal,
  ): Promise<Resolved> {
    const who = identity(credential);
    const image = `${reference.registry}/${reference.repository}`;
    const digestKey = (digest: string): string =>
      `${who}\n${image}@${digest}\n${formatPlatform(platform)}`;
    const tagKey = `${who}\n${image}:${reference.tag ?? ''}`;

    let digest = reference.digest;
    if (digest === undefined) {
      digest = this.#tags.get(tagKey);
      this.#events?.cache('tag', digest !== undefined);
    }
    if (digest !== undefined) {
      const cached = this.#digests.get(digestKey(digest));
      this.#events?.cache('digest', cached !== undefined);
      if (cached) return { command: cached, source: 'cache' };
    }

    const session = this.#client.session(reference, credential);
    const wanted = reference.digest ?? reference.tag ?? 'latest';
    const top = await session.fetch(
      'manifests',
      wanted,
      MANIFEST_ACCEPT,
      MAX_MANIFEST_BYTES,
      signal,
    );
    if (reference.digest) {
      verifyDigest(reference.digest, top.body, 'a manifest');
    } else {
      const computed = digestOf('sha256', top.body);
      // A registry's own digest for what it sent must be what it sent.
      if (top.digest?.startsWith('sha256:') && top.digest !== computed) {
        throw new ImageResolutionError(
          'DigestMismatch',
          `the registry sent a manifest whose digest is not the ${top.digest} it announced`,
        );
      }
      digest = computed;
      this.#tags.set(tagKey, computed, this.#options.tagTtlMs);
      const cached = this.#digests.get(digestKey(computed));
      if (cached) return { command: cached, source: 'registry' };
    }
    if (digest === undefined) throw new Error('unreachable: no digest');

    let document = parseManifest(top.body, top.contentType);
    if (document.kind === 'index') {
      const entry = choosePlatform(document, platform);
      if (!isDigest(entry.digest))
        throw new ImageResolutionError(
          'Malformed',
          'the index names a manifest by an invalid digest',
        );
      if (entry.size > MAX_MANIFEST_BYTES) throw tooLarge('manifest', MAX_MANIFEST_BYTES);
      const child = await session.fetch(
        'manifests',
        entry.digest,
        MANIFEST_ACCEPT,
        MAX_MANIFEST_BYTES,
        signal,
      );
      verifyDigest(entry.digest, child.body, 'a manifest');
      document = parseManifest(child.body, child.contentType ?? entry.mediaType);
      if (document.kind === 'index') {
        throw new ImageResolutionError(
          'Unsupported',
          'the index points to another index for that platform',
        );
      }
    }
    const { config } = document;
    if (config.size > MAX_CONFIG_BYTES) throw tooLarge('image config', MAX_CONFIG_BYTES);
    const blob = await session.fetch('blobs', config.digest, '*/*', MAX_CONFIG_BYTES, signal);
    verifyDigest(config.digest, blob.body, 'an image config');
    const command = parseImageConfig(blob.body);
    this.#digests.set(digestKey(digest), command, this.#options.digestTtlMs);
    return { command, source: 'registry' };
  }
}

function tooLarge(what: string, max: number): ImageResolutionError {
  return new ImageResolutionError('TooLarge', `the ${what} is larger than ${max} bytes`);
}
