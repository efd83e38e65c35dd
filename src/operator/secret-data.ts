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

/**
 * Builds the Secret's data; later writes win, except that files never overwrite:
 * 1. URLs keyed by label (the primary URL wins among equal labels; unlabelled ones skipped);
 * 2. every field of every section keyed by its label (section names ignored);
 * 3. files keyed by name, where no URL or field took the key.
 * `files` maps file ids to their content; a file without content is skipped.
 */
export function itemToSecretData(
  item: FullItem,
  files: ReadonlyMap<string, Buffer>,
  options: SecretDataOptions,
): Map<string, Buffer> {
  const data = new Map<string, Buffer>();
  const put = (label: string | undefined, value: string | undefined): void => {
    const key = label === undefined ? undefined : sanitizeKey(label);
    if (key === undefined) return;
    if (!value && !options.allowEmptyValues) return;
    data.set(key, Buffer.from(value ?? '', 'utf8'));
  };

  const urls = [...(item.urls ?? [])].sort(
    (a, b) => Number(a.primary ?? false) - Number(b.primary ?? false),
  );
  for (const url of urls) if (url.label) put(url.label, url.href);
  for (const field of item.fields ?? []) put(field.label, field.value);
  for (const file of item.files ?? []) {
    const key = sanitizeKey(file.name);
    const content = files.get(file.id);
    if (key === undefined || content === undefined || data.has(key)) continue;
    if (content.length === 0 && !options.allowEmptyValues) continue;
    data.set(key, content);
  }
  return data;
}
