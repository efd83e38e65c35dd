// Pure naming rules: content hashes of inputs, image references, and the names the node's containerd sees.
import { createHash } from 'node:crypto';

/** A labelled input of an image; the label keeps two files with equal content apart. */
export interface HashInput {
  readonly label: string;
  readonly content: string | Uint8Array;
}

/** sha256 over labelled inputs, order-independent, each length-prefixed so no two lists collide. */
export function contentHash(inputs: readonly HashInput[]): string {
  const hash = createHash('sha256');
  for (const input of [...inputs].sort((a, b) =>
    a.label < b.label ? -1 : a.label > b.label ? 1 : 0,
  )) {
    const content = typeof input.content === 'string' ? Buffer.from(input.content) : input.content;
    hash.update(`${input.label}\0${content.length}\0`).update(content);
  }
  return hash.digest('hex');
}

/** The short form used in tags and file names (64 bits: collisions are not a concern here). */
export function shortHash(hash: string): string {
  return hash.slice(0, 16);
}

/**
 * The fully qualified name a kubelet asks containerd for when a pod says `reference`, following
 * Docker's normalisation: no registry → docker.io, no namespace on docker.io → library/, no tag →
 * latest. Archives carry this name so an import matches what pods request.
 */
export function normalizedReference(reference: string): string {
  const withTag = /[:@][^/]*$/.test(reference) ? reference : `${reference}:latest`;
  const [first = '', ...rest] = withTag.split('/');
  const hasRegistry =
    rest.length > 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return withTag;
  return rest.length === 0 ? `docker.io/library/${withTag}` : `docker.io/${withTag}`;
}

/**
 * Context paths a Dockerfile's COPY/ADD instructions read from the build context (COPY --from reads
 * another stage and is skipped). Their files, with the Dockerfile itself, are the image's inputs.
 */
export function contextSources(dockerfile: string): string[] {
  const joined = dockerfile.replace(/\\\r?\n/g, ' ');
  const sources = new Set<string>();
  for (const line of joined.split(/\r?\n/)) {
    const match = /^\s*(?:COPY|ADD)\s+(.*)$/i.exec(line);
    if (!match) continue;
    const words = (match[1] ?? '').trim().split(/\s+/);
    if (words.some((word) => /^--from=/i.test(word))) continue;
    const paths = words.filter((word) => !word.startsWith('--'));
    for (const source of paths.slice(0, -1)) sources.add(source.replace(/^\.\//, ''));
  }
  return [...sources].sort();
}

/** Exclusion globs of a .dockerignore that otherwise re-includes what it lists (`**` then `!path`). */
export function dockerignoreExclusions(dockerignore: string): string[] {
  return dockerignore
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(
      (line) => line !== '' && !line.startsWith('#') && !line.startsWith('!') && line !== '**',
    );
}
