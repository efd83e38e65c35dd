// Manifests, indexes and image configs (OCI and Docker media types): parsing, platform choice, ENTRYPOINT and CMD. Pure.
import { quoted } from '../quote.ts';
import { ImageResolutionError } from './errors.ts';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

const INDEX_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList];
const MANIFEST_TYPES: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];
const CONFIG_TYPES: readonly string[] = [MEDIA_TYPES.ociConfig, MEDIA_TYPES.dockerConfig];
const SCHEMA1_TYPES = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];

/** The Accept header of a manifest request: every type this reads, indexes first. */
export const MANIFEST_ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ');

/** containerd's limit on a manifest or index; configs get the same. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Entries of an index looked at; more is not an image anyone builds. */
export const MAX_INDEX_ENTRIES = 1_000;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export type ManifestDocument =
  | {
      readonly kind: 'index';
      readonly manifests: readonly (Descriptor & { readonly platform?: Platform })[];
    }
  | { readonly kind: 'manifest'; readonly config: Descriptor };

/** What Kubernetes combines with a container's command and args. */
export interface ImageCommand {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(what: string): ImageResolutionError {
  return new ImageResolutionError('Malformed', `the registry sent ${what}`);
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  } catch {
    throw malformed(`${what} that is not JSON`);
  }
}

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

function descriptor(value: unknown, what: string): Descriptor {
  if (
    !isRecord(value) ||
    typeof value.digest !== 'string' ||
    !DIGEST.test(value.digest) ||
    typeof value.size !== 'number' ||
    !Number.isSafeInteger(value.size) ||
    value.size < 0
  ) {
    throw malformed(`${what} without a valid digest and size`);
  }
  return {
    mediaType: typeof value.mediaType === 'string' ? value.mediaType : '',
    digest: value.digest,
    size: value.size,
  };
}

function platform(value: unknown): Platform | undefined {
  if (!isRecord(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string') {
    return undefined;
  }
  return {
    os: value.os,
    architecture: value.architecture,
    ...(typeof value.variant === 'string' && value.variant !== ''
      ? { variant: value.variant }
      : {}),
  };
}

/**
 * A manifest or an index, told apart by the document's mediaType, else the Content-Type header,
 * else its shape (`manifests` or `config`), as registries that omit one still send the other.
 */
export function parseManifest(
  bytes: Uint8Array,
  contentType: string | undefined,
): ManifestDocument {
  const document = parseJson(bytes, 'a manifest');
  if (!isRecord(document)) throw malformed('a manifest that is not a JSON object');
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  const declared = typeof document.mediaType === 'string' ? document.mediaType : header;
  if (declared !== undefined && SCHEMA1_TYPES.includes(declared)) {
    throw new ImageResolutionError(
      'Unsupported',
      'the registry has only a Docker schema 1 manifest for this image (deprecated; push it again)',
    );
  }
  const isIndex =
    declared !== undefined && INDEX_TYPES.includes(declared)
      ? true
      : declared !== undefined && MANIFEST_TYPES.includes(declared)
        ? false
        : Array.isArray(document.manifests)
          ? true
          : isRecord(document.config)
            ? false
            : undefined;
  if (isIndex === undefined) {
    throw new ImageResolutionError(
      'Unsupported',
      `the registry sent a document of type ${quoted(declared ?? 'unknown')}, not an image manifest or index`,
    );
  }
  if (isIndex) {
    if (!Array.isArray(document.manifests)) throw malformed('an index without manifests');
    if (document.manifests.length > MAX_INDEX_ENTRIES) {
      throw new ImageResolutionError(
        'TooLarge',
        `the index lists more than ${MAX_INDEX_ENTRIES} manifests`,
      );
    }
    return {
      kind: 'index',
      manifests: document.manifests.map((entry: unknown) => {
        const found = platform(isRecord(entry) ? entry.platform : undefined);
        return { ...descriptor(entry, 'an index entry'), ...(found ? { platform: found } : {}) };
      }),
    };
  }
  const config = descriptor(document.config, 'a manifest');
  if (config.mediaType !== '' && !CONFIG_TYPES.includes(config.mediaType)) {
    throw new ImageResolutionError(
      'Unsupported',
      `the manifest's config is ${quoted(config.mediaType)}: an artifact, not a container image`,
    );
  }
  return { kind: 'manifest', config };
}

/** `linux/arm64/v8` → its parts; the default variants (arm64 v8, arm v7) filled in. */
export function parsePlatform(text: string): Platform | undefined {
  const [os, architecture, variant, extra] = text.trim().toLowerCase().split('/');
  if (
    !os ||
    !architecture ||
    extra !== undefined ||
    !/^[a-z0-9._-]+$/.test(`${os}${architecture}${variant ?? ''}`)
  ) {
    return undefined;
  }
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(value: Platform): string {
  return [value.os, value.architecture, value.variant].filter(Boolean).join('/');
}

const DEFAULT_VARIANT: Readonly<Record<string, string>> = { arm64: 'v8', arm: 'v7' };

function variantOf(value: Platform): string {
  return value.variant ?? DEFAULT_VARIANT[value.architecture] ?? '';
}

/**
 * The entry for `wanted`, as containerd's platform matcher picks it: same os and architecture; for
 * variants, the same (arm64 without one is v8, arm v7); the first such entry wins. Entries
 * without a platform (attestations, unknown/unknown) never match.
 */
export function choosePlatform(
  document: Extract<ManifestDocument, { kind: 'index' }>,
  wanted: Platform,
): Descriptor {
  const candidates = document.manifests.filter(
    (entry) =>
      entry.platform !== undefined &&
      entry.platform.os === wanted.os &&
      entry.platform.architecture === wanted.architecture &&
      (entry.mediaType === '' || MANIFEST_TYPES.includes(entry.mediaType)),
  );
  const exact = candidates.find(
    (entry) => entry.platform !== undefined && variantOf(entry.platform) === variantOf(wanted),
  );
  // amd64 variants (v2, v3) are levels any amd64 node of that level runs; no variant asked, any goes.
  const loose =
    wanted.variant === undefined && DEFAULT_VARIANT[wanted.architecture] === undefined
      ? candidates[0]
      : undefined;
  const chosen = exact ?? loose;
  if (chosen) return chosen;
  const offered = [
    ...new Set(
      document.manifests
        .map((entry) => (entry.platform ? formatPlatform(entry.platform) : undefined))
        .filter((entry): entry is string => entry !== undefined && entry !== 'unknown/unknown'),
    ),
  ];
  throw new ImageResolutionError(
    'NoPlatform',
    `the image has no ${formatPlatform(wanted)} variant (it has ${offered.slice(0, 8).join(', ') || 'none'}${offered.length > 8 ? ', …' : ''})`,
  );
}

function strings(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw malformed(`an image config whose ${field} is not a list of strings`);
  }
  return value;
}

/** config.Entrypoint and config.Cmd of an image config (absent or null: empty). */
export function parseImageConfig(bytes: Uint8Array): ImageCommand {
  const document = parseJson(bytes, 'an image config');
  if (!isRecord(document)) throw malformed('an image config that is not a JSON object');
  const config = document.config;
  if (config !== undefined && config !== null && !isRecord(config)) {
    throw malformed('an image config whose "config" is not an object');
  }
  return {
    entrypoint: strings(config?.Entrypoint, 'Entrypoint'),
    cmd: strings(config?.Cmd, 'Cmd'),
  };
}
