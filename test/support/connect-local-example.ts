// The Secret data the operator must write for items of connect-local's default data (the chart's
// copy of examples/connect-local.yaml), and a digest to compare Secrets by without showing values.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import yaml from 'js-yaml';
import { CHART_DIR } from '../../tools/render-deploy.ts';

const DATA_FILE = join(CHART_DIR, 'files', 'connect-local', 'connect-local.yaml');

interface ExampleItem {
  title: string;
  urls?: { href: string; label?: string; primary?: boolean }[];
  fields?: { label: string; value: string }[];
  files?: { name: string; path?: string; content?: string }[];
}

interface ExampleData {
  vaults: { name: string; items: ExampleItem[] }[];
}

/**
 * Key → value of the Secret for `vault`/`item`, mapped as the operator maps items (URLs by label,
 * then fields by label, then files by name where no key is taken; empty values left out). The
 * example has no duplicate labels, which keeps this mapping short.
 */
export function exampleSecretData(vault: string, item: string): Map<string, string> {
  const data = yaml.load(readFileSync(DATA_FILE, 'utf8')) as ExampleData;
  const found = data.vaults.find((v) => v.name === vault)?.items.find((i) => i.title === item);
  if (!found) throw new Error(`${vault}/${item} is not in ${DATA_FILE}`);
  const secret = new Map<string, string>();
  for (const url of found.urls ?? []) if (url.label && url.href) secret.set(url.label, url.href);
  for (const field of found.fields ?? []) if (field.value) secret.set(field.label, field.value);
  for (const file of found.files ?? []) {
    if (secret.has(file.name)) continue;
    const content =
      file.content ?? readFileSync(join(dirname(DATA_FILE), file.path ?? file.name), 'utf8');
    if (content) secret.set(file.name, content);
  }
  return secret;
}

/** A digest of a Secret's data (key → base64 value, as the API returns it), order-free. */
export function secretDataDigest(data: Readonly<Record<string, string>> | undefined): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(data ?? {}).sort()) {
    hash.update(`${key}\0${Buffer.from(data?.[key] ?? '', 'base64').toString('hex')}\0`);
  }
  return hash.digest('hex');
}

/** The digest `secretDataDigest` gives a Secret holding exactly `expected`. */
export function expectedDigest(expected: ReadonlyMap<string, string>): string {
  return secretDataDigest(
    Object.fromEntries(
      [...expected].map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]),
    ),
  );
}
