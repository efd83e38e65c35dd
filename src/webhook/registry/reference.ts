// Image references as Kubernetes and containerd read them (distribution's normalisation): registry, repository, tag or digest.
import { quoted } from '../quote.ts';
import { ImageResolutionError } from './errors.ts';

export interface ImageReference {
  /** As the registry is addressed, host[:port]: `docker.io` for Docker Hub names. */
  readonly registry: string;
  /** The path in the registry, `library/nginx` for `nginx`. */
  readonly repository: string;
  /** `latest` when neither tag nor digest is given; kept for messages when a digest is. */
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API answers. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:.]+\])(?::\d{1,5})?$/;

export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

/**
 * `nginx` → docker.io/library/nginx:latest; `ghcr.io/a/b@sha256:…`. The first path component is a
 * registry when it has a `.` or a `:` or is `localhost`, as distribution decides. A digest wins
 * over a tag given with it, as containerd pulls it.
 * @throws ImageResolutionError (InvalidReference)
 */
export function parseImageReference(image: string): ImageReference {
  const invalid = (why: string): ImageResolutionError =>
    new ImageResolutionError('InvalidReference', `image ${quoted(image)} ${why}`);
  if (image === '' || image.length > 4096 || image !== image.trim()) {
    throw invalid('is not an image reference');
  }
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      throw invalid('has a digest that is not sha256:<64 hex> or sha512:<128 hex>');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid('has an invalid tag');
  }
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  let registry = DOCKER_HUB;
  let repository = rest;
  if (first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    repository = rest.slice(slash + 1);
    if (!HOST.test(registry)) throw invalid('has an invalid registry host');
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (repository === '' || !repository.split('/').every((part) => COMPONENT.test(part))) {
    throw invalid('has an invalid repository name (lower-case letters, digits and separators)');
  }
  return { registry, repository, tag: tag ?? (digest ? undefined : 'latest'), digest };
}

/** host[:port] the HTTP API is reached at. */
export function apiHost(reference: Pick<ImageReference, 'registry'>): string {
  return reference.registry === DOCKER_HUB ? DOCKER_HUB_API : reference.registry;
}

export function formatReference(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}${reference.digest ? `@${reference.digest}` : `:${reference.tag ?? 'latest'}`}`;
}
