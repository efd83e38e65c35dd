// The mapping from a 1Password item to Secret data and name, exactly as 1Password's operator does it.
import type { FullItem } from '../connect/index.ts';

const MAX_KEY_LENGTH = 253;
const VALID_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * A label that is a valid ConfigMap key is kept; otherwise invalid runs are trimmed at the ends
 * and replaced by `-` inside, and the result truncated to 253. Undefined when nothing is left.
 */
export function sanitizeKey(label: string): string | undefined {
  if (label.length <= MAX_KEY_LENGTH && VALID_KEY.test(label)) return label;
  const key = label
    .replace(/^[^-._a-zA-Z0-9]+|[^-._a-zA-Z0-9]+$/gu, '')
    .replace(/[^-._a-zA-Z0-9]+/gu, '-')
    .slice(0, MAX_KEY_LENGTH);
  return key || undefined;
}

const MAX_NAME_LENGTH = 253;
const VALID_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * A valid DNS subdomain is kept; otherwise lower-cased, runs of characters other than
 * `[a-z0-9-.]` become `-`, non-alphanumeric ends are trimmed, and the result truncated to 253.
 */
export function sanitizeSecretName(name: string): string {
  if (name.length <= MAX_NAME_LENGTH && VALID_NAME.test(name)) return name;
  return name
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/gu, '-')
    .slice(0, MAX_NAME_LENGTH)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
}

export interface SecretDataOptions {
  /** Keep fields whose value is empty (`--allow-empty-values`). */
  readonly allowEmptyValues: boolean;
}

/** An entry of the item that did not become a key of its own (names only, never values). */
export type KeyLoss =
  /** A label with no character a Secret key may hold (`!!!`, `🔑`, empty). */
  | { readonly kind: 'noKey'; readonly entry: string }
  /** Several entries map to one key; the last one written is kept, as 1Password's operator does. */
  | { readonly kind: 'merged'; readonly key: string; readonly entries: readonly string[] }
  /** A file whose name's key a URL or field already took (files never overwrite). */
  | { readonly kind: 'fileShadowed'; readonly key: string; readonly entry: string }
  /** With spec.keys and includeOtherKeys: an entry of spec.keys took the key the item's mapping gave. */
  | { readonly kind: 'overridden'; readonly key: string };

export interface SecretDataResult {
  readonly data: Map<string, Buffer>;
  /** What the mapping dropped or merged, in item order; empty when every entry has its own key. */
  readonly losses: readonly KeyLoss[];
}

/**
 * Builds the Secret's data; later writes win, except that files never overwrite:
 * 1. URLs keyed by label (the primary URL wins among equal labels; unlabelled ones skipped);
 * 2. every field of every section keyed by its label (section names ignored);
 * 3. files keyed by name, where no URL or field took the key.
 * `files` maps file ids to their content; a file without content is skipped. The mapping is
 * 1Password's, loss included; `losses` says what it cost so that no key disappears unnoticed.
 */
export function mapItemToSecretData(
  item: FullItem,
  files: ReadonlyMap<string, Buffer>,
  options: SecretDataOptions,
): SecretDataResult {
  const data = new Map<string, Buffer>();
  const writers = new Map<string, string[]>();
  const losses: KeyLoss[] = [];
  const put = (entry: string, label: string | undefined, value: string | undefined): void => {
    if (!value && !options.allowEmptyValues) return;
    const key = label === undefined ? undefined : sanitizeKey(label);
    if (key === undefined) {
      losses.push({ kind: 'noKey', entry });
      return;
    }
    data.set(key, Buffer.from(value ?? '', 'utf8'));
    writers.set(key, [...(writers.get(key) ?? []), entry]);
  };

  const urls = [...(item.urls ?? [])].sort(
    (a, b) => Number(a.primary ?? false) - Number(b.primary ?? false),
  );
  for (const url of urls)
    if (url.label) put(`URL ${JSON.stringify(url.label)}`, url.label, url.href);
  for (const field of item.fields ?? []) {
    const entry =
      field.label === undefined || field.label === ''
        ? `unlabelled field ${field.id}`
        : `field ${JSON.stringify(field.label)}`;
    put(entry, field.label, field.value);
  }
  for (const [key, entries] of writers) {
    if (entries.length > 1) losses.push({ kind: 'merged', key, entries });
  }
  for (const file of item.files ?? []) {
    const key = sanitizeKey(file.name);
    const content = files.get(file.id);
    if (content === undefined) continue;
    if (content.length === 0 && !options.allowEmptyValues) continue;
    const entry = `file ${JSON.stringify(file.name)}`;
    if (key === undefined) losses.push({ kind: 'noKey', entry });
    else if (data.has(key)) losses.push({ kind: 'fileShadowed', key, entry });
    else data.set(key, content);
  }
  return { data, losses };
}

const MAX_LOSSES_LISTED = 10;

/** One sentence for a condition or Event, naming entries and keys (never values); undefined if none. */
export function describeKeyLosses(losses: readonly KeyLoss[]): string | undefined {
  if (losses.length === 0) return undefined;
  const parts = losses.slice(0, MAX_LOSSES_LISTED).map((loss) => {
    switch (loss.kind) {
      case 'noKey':
        return `${loss.entry} has no usable key and is left out`;
      case 'merged':
        return `${loss.entries.join(', ')} all map to key ${loss.key} (the last one is kept)`;
      case 'fileShadowed':
        return `${loss.entry} is left out: key ${loss.key} is taken`;
      case 'overridden':
        return `key ${loss.key} is taken by spec.keys, so the item's own entry of that key is left out`;
    }
  });
  const more = losses.length - parts.length;
  return `not every entry of the item has its own key: ${parts.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}
