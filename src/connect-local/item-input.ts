// Validates an item a client (or the data file) sends and completes it the way Connect does.
import {
  FIELD_PURPOSES,
  type CharacterSet,
  FIELD_TYPES,
  ITEM_CATEGORIES,
  type Field,
  type FieldPurpose,
  type FieldType,
  type FullItem,
  type GeneratorRecipe,
  type ItemCategory,
  type ItemFile,
  type ItemUrl,
  type Section,
} from '../connect/index.ts';
import { InvalidInputError } from './errors.ts';
import { generateValue } from './generator.ts';
import { newId } from './ids.ts';
import { totpCode } from './totp.ts';

/** A file as connect-local keeps it: always with its base64 content. */
export interface StoredFile extends ItemFile {
  content: string;
}

export interface StoredItem extends FullItem {
  /** Only the categories this server knows are stored (a client may read others from Connect). */
  category: ItemCategory;
  files?: StoredFile[];
}

export interface ItemContext {
  readonly vaultId: string;
  /** The item being replaced, whose id, creation time, version and files carry over. */
  readonly existing?: StoredItem;
  /** The data file may seed DOCUMENT and CUSTOM items; the API refuses to create them. */
  readonly seeding?: boolean;
  readonly now: string;
}

const BUILT_IN_FIELD_IDS: Partial<Record<FieldPurpose, string>> = {
  USERNAME: 'username',
  PASSWORD: 'password',
  NOTES: 'notesPlain',
};

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(source: Json, key: string, where: string): string | undefined {
  const value = source[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new InvalidInputError(`${where}${key} must be a string`);
  return value;
}

function optionalArray(source: Json, key: string, where: string): unknown[] {
  const value = source[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new InvalidInputError(`${where}${key} must be an array`);
  return value;
}

function oneOf<T extends string>(
  allowed: readonly T[],
  value: string | undefined,
  what: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new InvalidInputError(`invalid ${what} ${JSON.stringify(value)}`);
  }
  return value as T;
}

function parseUrls(input: Json): ItemUrl[] {
  return optionalArray(input, 'urls', '').map((entry, index) => {
    if (!isObject(entry)) throw new InvalidInputError(`urls[${index}] must be an object`);
    const href = optionalString(entry, 'href', `urls[${index}].`);
    if (!href) throw new InvalidInputError(`urls[${index}].href is required`);
    const label = optionalString(entry, 'label', `urls[${index}].`);
    return {
      href,
      ...(label !== undefined ? { label } : {}),
      ...(entry.primary === true ? { primary: true } : {}),
    };
  });
}

function parseSections(input: Json): Section[] {
  return optionalArray(input, 'sections', '').map((entry, index) => {
    if (!isObject(entry)) throw new InvalidInputError(`sections[${index}] must be an object`);
    const label = optionalString(entry, 'label', `sections[${index}].`);
    return {
      id: optionalString(entry, 'id', `sections[${index}].`) || newId(),
      ...(label !== undefined ? { label } : {}),
    };
  });
}

function parseRecipe(value: unknown, where: string): GeneratorRecipe | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new InvalidInputError(`${where}recipe must be an object`);
  const { length, characterSets, excludeCharacters } = value;
  if (length !== undefined && typeof length !== 'number') {
    throw new InvalidInputError(`${where}recipe.length must be a number`);
  }
  if (
    characterSets !== undefined &&
    !(Array.isArray(characterSets) && characterSets.every((set) => typeof set === 'string'))
  ) {
    throw new InvalidInputError(`${where}recipe.characterSets must be a list of names`);
  }
  if (excludeCharacters !== undefined && typeof excludeCharacters !== 'string') {
    throw new InvalidInputError(`${where}recipe.excludeCharacters must be a string`);
  }
  return {
    ...(length !== undefined ? { length } : {}),
    ...(characterSets !== undefined ? { characterSets: characterSets as CharacterSet[] } : {}),
    ...(excludeCharacters !== undefined ? { excludeCharacters } : {}),
  };
}

function parseField(entry: unknown, index: number, sectionIds: ReadonlySet<string>): Field {
  const where = `fields[${index}].`;
  if (!isObject(entry)) throw new InvalidInputError(`fields[${index}] must be an object`);
  const purpose = oneOf(FIELD_PURPOSES, optionalString(entry, 'purpose', where), 'field purpose');
  const type: FieldType =
    oneOf(FIELD_TYPES, optionalString(entry, 'type', where), 'field type') ??
    (purpose === 'PASSWORD' ? 'CONCEALED' : 'STRING');
  const label = optionalString(entry, 'label', where);
  let value = optionalString(entry, 'value', where);
  const section = entry.section;
  let sectionId: string | undefined;
  if (section !== undefined && section !== null) {
    if (!isObject(section) || typeof section.id !== 'string') {
      throw new InvalidInputError(`${where}section must be {"id": "<section id>"}`);
    }
    if (!sectionIds.has(section.id)) {
      throw new InvalidInputError(
        `${where}section ${JSON.stringify(section.id)} is not a section of the item`,
      );
    }
    sectionId = section.id;
  }
  // As Connect documents it: generate only where the request brings no value.
  if (entry.generate === true && !value) value = generateValue(parseRecipe(entry.recipe, where));
  const id =
    optionalString(entry, 'id', where) || (purpose && BUILT_IN_FIELD_IDS[purpose]) || newId();
  return {
    id,
    type,
    ...(purpose !== undefined ? { purpose } : {}),
    ...(label !== undefined ? { label } : {}),
    ...(value !== undefined ? { value } : {}),
    ...(sectionId !== undefined ? { section: { id: sectionId } } : {}),
    // `generate` asks for a value now; it is not kept, so an item sent back unchanged keeps it.
  };
}

/**
 * Turns client input into a stored item: checks every field, fills ids (built-in ids for
 * username/password/notes fields), generates requested values, and carries over what a client
 * cannot set (id, createdAt, files). The version is left for the store to bump.
 */
export function buildItem(input: unknown, context: ItemContext): StoredItem {
  if (!isObject(input)) throw new InvalidInputError('the request body must be a JSON item object');
  const title = optionalString(input, 'title', '');
  if (title === undefined) throw new InvalidInputError('title is required');
  const category: ItemCategory =
    oneOf(ITEM_CATEGORIES, optionalString(input, 'category', ''), 'item category') ??
    context.existing?.category ??
    'LOGIN';
  if (!context.seeding && (category === 'DOCUMENT' || category === 'CUSTOM')) {
    throw new InvalidInputError(
      `items of category ${category} cannot be created or updated through Connect`,
    );
  }
  const vault = input.vault;
  if (isObject(vault) && vault.id !== undefined && vault.id !== context.vaultId) {
    throw new InvalidInputError(
      `vault.id ${JSON.stringify(vault.id)} does not match the vault in the path`,
    );
  }
  const tags = optionalArray(input, 'tags', '').map((tag, index) => {
    if (typeof tag !== 'string') throw new InvalidInputError(`tags[${index}] must be a string`);
    return tag;
  });
  const sections = parseSections(input);
  const sectionIds = new Set(sections.map((section) => section.id));
  const fields = optionalArray(input, 'fields', '').map((entry, index) =>
    parseField(entry, index, sectionIds),
  );
  const seen = new Set<string>();
  for (const field of fields) {
    if (seen.has(field.id))
      throw new InvalidInputError(`duplicate field id ${JSON.stringify(field.id)}`);
    seen.add(field.id);
  }
  const existing = context.existing;
  return {
    id: existing?.id ?? newId(),
    title,
    vault: { id: context.vaultId },
    category,
    urls: parseUrls(input),
    favorite: input.favorite === true,
    tags,
    version: existing?.version ?? 0,
    createdAt: existing?.createdAt ?? context.now,
    updatedAt: context.now,
    lastEditedBy: 'connect-local',
    sections,
    fields,
    files: existing?.files ?? [],
  };
}

/**
 * The item as clients see it: files without their content, and OTP fields with their current
 * code in `totp`.
 */
export function presentItem(item: StoredItem, now: number = Date.now()): FullItem {
  const fields = item.fields?.map((field) => {
    const code = field.type === 'OTP' && field.value ? totpCode(field.value, now) : undefined;
    return code === undefined ? field : { ...field, totp: code };
  });
  return { ...item, ...(fields ? { fields } : {}), files: (item.files ?? []).map(presentFile) };
}

export function presentFile(file: StoredFile): ItemFile {
  const { content: _content, ...rest } = file;
  return rest;
}

/** The list form: no fields, sections or files. */
export function summarizeItem(item: StoredItem): FullItem {
  const { fields: _fields, sections: _sections, files: _files, ...summary } = item;
  return summary;
}
