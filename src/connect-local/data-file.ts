// Reads the YAML data file that seeds an empty connect-local state (see examples/connect-local.yaml).
import { readFile, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import yaml from 'js-yaml';
import { looksLikeId, type Vault } from '../connect/index.ts';
import { HttpError } from './errors.ts';
import { newId } from './ids.ts';
import { buildItem, type StoredFile, type StoredItem } from './item-input.ts';
import { OpKubeError } from '../kube/errors.ts';

export interface SeedVault {
  readonly vault: Vault;
  readonly items: StoredItem[];
}

/** A data file that cannot be used; the message names the entry at fault. */
export class DataFileError extends OpKubeError<'InvalidDataFile'> {
  override readonly name = 'DataFileError';

  constructor(message: string, options?: ErrorOptions) {
    super('InvalidDataFile', message, options);
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function list(source: Json, key: string, where: string): unknown[] {
  const value = source[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new DataFileError(`${where}.${key} must be a list`);
  return value;
}

async function readSeedFile(entry: Json, where: string, baseDir: string): Promise<Buffer> {
  if (typeof entry.content === 'string') return Buffer.from(entry.content, 'utf8');
  if (typeof entry.path !== 'string') {
    throw new DataFileError(`${where} needs either content or path`);
  }
  if (isAbsolute(entry.path))
    throw new DataFileError(`${where}.path must be relative to the data file`);
  const target = resolve(baseDir, entry.path);
  let real: string;
  try {
    real = await realpath(target);
  } catch {
    throw new DataFileError(`${where}.path ${JSON.stringify(entry.path)} does not exist`);
  }
  // Resolve links before comparing, so a symlink cannot lead outside either. A ConfigMap volume's
  // files are links into its `..<timestamp>` folder: that name starts with `..` but stays inside.
  const escape = relative(await realpath(baseDir), real);
  if (escape === '..' || escape.startsWith(`..${sep}`) || isAbsolute(escape)) {
    throw new DataFileError(
      `${where}.path ${JSON.stringify(entry.path)} leaves the data file's directory`,
    );
  }
  return readFile(real);
}

async function seedItem(
  entry: unknown,
  where: string,
  vaultId: string,
  baseDir: string,
  now: string,
): Promise<StoredItem> {
  if (!isObject(entry)) throw new DataFileError(`${where} must be a mapping`);
  const fields = list(entry, 'fields', where).map((field, index) => {
    if (!isObject(field)) throw new DataFileError(`${where}.fields[${index}] must be a mapping`);
    const { section, ...rest } = field;
    return typeof section === 'string' ? { ...rest, section: { id: section } } : field;
  });
  let item: StoredItem;
  try {
    item = {
      ...buildItem({ ...entry, fields }, { vaultId, seeding: true, now }),
      id: seedId(entry, where),
    };
  } catch (error) {
    if (error instanceof HttpError) throw new DataFileError(`${where}: ${error.message}`);
    throw error;
  }
  const files: StoredFile[] = [];
  for (const [index, file] of list(entry, 'files', where).entries()) {
    const fileWhere = `${where}.files[${index}]`;
    if (!isObject(file) || typeof file.name !== 'string' || !file.name) {
      throw new DataFileError(`${fileWhere} needs a name`);
    }
    const bytes = await readSeedFile(file, fileWhere, baseDir);
    const id = newId();
    files.push({
      id,
      name: file.name,
      size: bytes.length,
      content_path: `/v1/vaults/${vaultId}/items/${item.id}/files/${id}/content`,
      content: bytes.toString('base64'),
    });
  }
  const createdAt = timestamp(entry, where) ?? now;
  return { ...item, version: 1, createdAt, updatedAt: createdAt, files };
}

/** An id the data file fixes (so docs and scripts can name it), else the generated one. */
function seedId(entry: Json, where: string): string {
  if (entry.id === undefined) return newId();
  if (typeof entry.id !== 'string' || !looksLikeId(entry.id)) {
    throw new DataFileError(`${where}.id must be 26 characters of a-z and 0-9`);
  }
  return entry.id;
}

/** An optional `createdAt`, so a data file can say which of two same-titled entries is older. */
function timestamp(entry: Json, where: string): string | undefined {
  if (entry.createdAt === undefined) return undefined;
  const value = entry.createdAt;
  const parsed =
    value instanceof Date ? value : typeof value === 'string' ? new Date(value) : new Date(NaN);
  if (Number.isNaN(parsed.getTime())) throw new DataFileError(`${where}.createdAt is not a date`);
  return parsed.toISOString();
}

/** Parses and validates the data file; file paths are read relative to its directory. */
export async function loadDataFile(
  path: string,
  now = new Date().toISOString(),
): Promise<SeedVault[]> {
  let document: unknown;
  try {
    document = yaml.load(await readFile(path, 'utf8'));
  } catch (error) {
    throw new DataFileError(`cannot read data file ${path}: ${(error as Error).message}`);
  }
  if (!isObject(document))
    throw new DataFileError(`${path}: expected a mapping with a vaults list`);
  const baseDir = dirname(resolve(path));
  const names = new Set<string>();
  const seeds: SeedVault[] = [];
  for (const [index, entry] of list(document, 'vaults', 'data file').entries()) {
    const where = `vaults[${index}]`;
    if (!isObject(entry) || typeof entry.name !== 'string' || !entry.name) {
      throw new DataFileError(`${where} needs a name`);
    }

    if (names.has(entry.name.toLowerCase())) {
      throw new DataFileError(
        `${where}: a vault named ${JSON.stringify(entry.name)} is listed twice`,
      );
    }
    names.add(entry.name.toLowerCase());
    const vaultId = seedId(entry, where);
    const items: StoredItem[] = [];
    for (const [itemIndex, item] of list(entry, 'items', where).entries()) {
      items.push(await seedItem(item, `${where}.items[${itemIndex}]`, vaultId, baseDir, now));
    }
    const createdAt = timestamp(entry, where) ?? now;
    seeds.push({
      vault: {
        id: vaultId,
        name: entry.name,
        ...(typeof entry.description === 'string' ? { description: entry.description } : {}),
        attributeVersion: 1,
        contentVersion: 1,
        items: items.length,
        type: 'USER_CREATED',
        createdAt,
        updatedAt: createdAt,
      },
      items,
    });
  }
  return seeds;
}
