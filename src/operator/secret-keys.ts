// spec.keys: the Secret's keys chosen, renamed or composed (templates) from the item's fields
// and files, instead of 1Password's whole-item mapping. Pure: item in, data or a typed error out.
import type { FullItem, ItemFile } from '../connect/index.ts';
import { fieldByName, KeySpecError } from './item-fields.ts';
export { KeySpecError } from './item-fields.ts';
import { renderKeyTemplate } from './key-template.ts';
import { mapItemToSecretData, type KeyLoss, type SecretDataOptions } from './secret-data.ts';

/** One entry of spec.keys: the key `to`, and exactly one source. */
export interface KeySpec {
  readonly to: string;
  /** A field's label, or `<section label>.<field label>`. */
  readonly from?: string;
  /** A field's id (stable across renames in 1Password). */
  readonly fromFieldId?: string;
  /** A file's name. */
  readonly fromFile?: string;
  /** A Mustache template over the item's fields (key-template.ts). */
  readonly template?: string;
}

export interface KeysSpec {
  readonly keys?: readonly KeySpec[];
  /** Also the item's other entries, mapped as 1Password does (default false when keys are given). */
  readonly includeOtherKeys?: boolean;
}

interface Picked {
  readonly value: Buffer;
  readonly fieldId?: string;
  readonly fileId?: string;
}

function pick(
  item: FullItem,
  files: ReadonlyMap<string, Buffer>,
  spec: KeySpec,
  where: string,
): Picked {
  const title = JSON.stringify(item.title);
  if (spec.from !== undefined) {
    const field = fieldByName(item, spec.from, `${where}.from`);
    return { value: Buffer.from(field.value ?? '', 'utf8'), fieldId: field.id };
  }
  if (spec.fromFieldId !== undefined) {
    const field = (item.fields ?? []).find((candidate) => candidate.id === spec.fromFieldId);
    if (!field) {
      throw new KeySpecError(
        'FieldNotFound',
        `${where}.fromFieldId: item ${title} has no field with id ${JSON.stringify(spec.fromFieldId)}`,
      );
    }
    return { value: Buffer.from(field.value ?? '', 'utf8'), fieldId: field.id };
  }
  if (spec.fromFile !== undefined) {
    const found: ItemFile[] = (item.files ?? []).filter((file) => file.name === spec.fromFile);
    if (found.length > 1) {
      throw new KeySpecError(
        'AmbiguousField',
        `${where}.fromFile: ${found.length} files of item ${title} are named ${JSON.stringify(spec.fromFile)}`,
      );
    }
    const content = found[0] ? files.get(found[0].id) : undefined;
    if (!found[0] || content === undefined) {
      throw new KeySpecError(
        'FieldNotFound',
        `${where}.fromFile: item ${title} has no file named ${JSON.stringify(spec.fromFile)}`,
      );
    }
    return { value: content, fileId: found[0].id };
  }
  if (spec.template !== undefined) {
    return { value: Buffer.from(renderKeyTemplate(item, spec.template, `${where}.template`)) };
  }
  // The CRD's rules require one source; an object stored before them gets a clear reason.
  throw new KeySpecError(
    'FieldNotFound',
    `${where}: names no source (one of from, fromFieldId, fromFile, template)`,
  );
}

/** Secret types whose one key the apiserver parses as JSON (it refuses the Secret otherwise). */
const JSON_KEY_OF_TYPE: Readonly<Record<string, string>> = {
  'kubernetes.io/dockerconfigjson': '.dockerconfigjson',
  'kubernetes.io/dockercfg': '.dockercfg',
};

/**
 * What the apiserver would refuse for the Secret's type, said before writing: it would fail every
 * retry with a less precise message. Never quotes the data (a JSON parser's message would).
 */
function checkTypedData(data: ReadonlyMap<string, Buffer>, type: string | undefined): void {
  const key = type === undefined ? undefined : JSON_KEY_OF_TYPE[type];
  if (key === undefined) return;
  const value = data.get(key);
  if (value === undefined) {
    throw new KeySpecError(
      'InvalidSecretData',
      `a ${type} Secret needs the key ${key}, and no entry of keys has to: ${key}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KeySpecError(
      'InvalidSecretData',
      `key ${key} of a ${type} Secret must hold a JSON object, and it does not (escape values with {{#jsonescape}})`,
    );
  }
}

export interface SelectedData {
  readonly data: Map<string, Buffer>;
  readonly losses: readonly KeyLoss[];
}

/** One item feeding the Secret: the OnePasswordItem's own (`where` = `spec`) or an extra one. */
export interface ItemData {
  readonly item: FullItem;
  readonly files: ReadonlyMap<string, Buffer>;
  readonly spec: KeysSpec;
  /** Where its spec is, for messages: `spec`, or `spec.extraItems[0]`. */
  readonly where: string;
}

/**
 * One item's data: without keys, 1Password's mapping unchanged. With them, each entry's key `to`
 * holds its source's value (an empty value too: it was asked for by name) or its rendered
 * template; with includeOtherKeys the item's other entries follow 1Password's mapping, without the
 * fields and files picked (a picked field is renamed, not copied), and an entry of keys wins over
 * an other entry of the same key (reported as a loss).
 */
function selectOne(source: ItemData, options: SecretDataOptions): SelectedData {
  const { item, files, spec, where } = source;
  const keys = spec.keys ?? [];
  if (keys.length === 0) return mapItemToSecretData(item, files, options);
  const selected = new Map<string, Buffer>();
  const pickedFields = new Set<string>();
  const pickedFiles = new Set<string>();
  keys.forEach((key, index) => {
    const picked = pick(item, files, key, `${where}.keys[${index}]`);
    if (picked.fieldId !== undefined) pickedFields.add(picked.fieldId);
    if (picked.fileId !== undefined) pickedFiles.add(picked.fileId);
    selected.set(key.to, picked.value);
  });
  if (spec.includeOtherKeys !== true) return { data: selected, losses: [] };
  const rest = mapItemToSecretData(
    {
      ...item,
      fields: (item.fields ?? []).filter((field) => !pickedFields.has(field.id)),
      files: (item.files ?? []).filter((file) => !pickedFiles.has(file.id)),
    },
    files,
    options,
  );
  const losses: KeyLoss[] = [...rest.losses];
  for (const key of selected.keys()) {
    if (rest.data.has(key)) losses.push({ kind: 'overridden', key });
  }
  return { data: new Map([...rest.data, ...selected]), losses };
}

export interface BuildOptions extends SecretDataOptions {
  /** The Secret's type: beyond 1Password's mapping, the data a kubernetes.io/dockerconfigjson needs is checked. */
  readonly secretType?: string;
}

/**
 * The Secret's data from its items: one item without keys is 1Password's mapping, unchanged.
 * Otherwise each item's data (selectOne), merged; two items giving the same key is a
 * KeyCollision (no item silently wins over another). Throws KeySpecError naming the entry at fault.
 */
export function buildSecretData(sources: readonly ItemData[], options: BuildOptions): SelectedData {
  const [first, ...more] = sources;
  if (first === undefined) return { data: new Map(), losses: [] };
  if (more.length === 0 && (first.spec.keys ?? []).length === 0) {
    return mapItemToSecretData(first.item, first.files, options);
  }
  const data = new Map<string, Buffer>();
  const origin = new Map<string, string>();
  const losses: KeyLoss[] = [];
  for (const source of sources) {
    const one = selectOne(source, options);
    losses.push(...one.losses);
    const from = `item ${JSON.stringify(source.item.title)} (${source.where})`;
    for (const [key, value] of one.data) {
      const earlier = origin.get(key);
      if (earlier !== undefined) {
        throw new KeySpecError(
          'KeyCollision',
          `Secret key ${key} comes from ${earlier} and from ${from}; give one another name with keys[].to, or leave it out`,
        );
      }
      origin.set(key, from);
      data.set(key, value);
    }
  }
  checkTypedData(data, options.secretType);
  return { data, losses };
}

/** buildSecretData for one item: the OnePasswordItem's own, with its spec. */
export function selectSecretData(
  item: FullItem,
  files: ReadonlyMap<string, Buffer>,
  spec: KeysSpec,
  options: BuildOptions,
): SelectedData {
  return buildSecretData([{ item, files, spec, where: 'spec' }], options);
}
