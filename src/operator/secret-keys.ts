// spec.keys: the Secret's keys chosen, renamed (and, with templates, composed) from the item's
// fields and files, instead of 1Password's whole-item mapping. Pure: item in, data or a typed error out.
import type { Field, FullItem, ItemFile } from '../connect/index.ts';
import { OpKubeError } from '../kube/errors.ts';
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
}

export interface KeysSpec {
  readonly keys?: readonly KeySpec[];
  /** Also the item's other entries, mapped as 1Password does (default false when keys are given). */
  readonly includeOtherKeys?: boolean;
}

export type KeySpecReason = 'FieldNotFound' | 'AmbiguousField';

/** A spec.keys entry that cannot be built from the item; the message names the entry, never a value. */
export class KeySpecError extends OpKubeError<KeySpecReason> {
  override readonly name = 'KeySpecError';

  constructor(reason: KeySpecReason, message: string) {
    // Only an edit of the item or of the OnePasswordItem can fix it: both enqueue the item again.
    super(reason, message, { terminal: true });
  }
}

const MAX_NAMED = 5;

function labelsOf(item: FullItem, fields: readonly Field[]): string {
  const sections = new Map((item.sections ?? []).map((section) => [section.id, section.label]));
  const named = fields.slice(0, MAX_NAMED).map((field) => {
    const section = field.section ? sections.get(field.section.id) : undefined;
    return `${field.id} (${section ? `${JSON.stringify(section)}.` : ''}${JSON.stringify(field.label ?? '')})`;
  });
  return named.join(', ') + (fields.length > MAX_NAMED ? ', ...' : '');
}

/** The one field `spec.from` names: its label, or its section's label, a dot and its label. */
export function findField(item: FullItem, from: string): Field[] {
  const sections = new Map((item.sections ?? []).map((section) => [section.id, section.label]));
  return (item.fields ?? []).filter((field) => {
    if (field.label === undefined) return false;
    if (field.label === from) return true;
    const section = field.section ? sections.get(field.section.id) : undefined;
    return section !== undefined && section !== '' && `${section}.${field.label}` === from;
  });
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
    const found = findField(item, spec.from);
    if (found.length === 0) {
      throw new KeySpecError(
        'FieldNotFound',
        `${where}.from: item ${title} has no field labelled ${JSON.stringify(spec.from)} (nor a section and field of that name)`,
      );
    }
    if (found.length > 1) {
      throw new KeySpecError(
        'AmbiguousField',
        `${where}.from: ${found.length} fields of item ${title} match ${JSON.stringify(spec.from)}: ${labelsOf(item, found)}; name one by <section>.<label> or fromFieldId`,
      );
    }
    const [field] = found as [Field];
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
  // The CRD's rules require one source; an object stored before them gets a clear reason.
  throw new KeySpecError(
    'FieldNotFound',
    `${where}: names no source (one of from, fromFieldId, fromFile)`,
  );
}

export interface SelectedData {
  readonly data: Map<string, Buffer>;
  readonly losses: readonly KeyLoss[];
}

/**
 * The Secret data for `spec`: without spec.keys, 1Password's mapping unchanged. With it, each
 * entry's key `to` holds its source's value (an empty value too: it was asked for by name), and
 * with includeOtherKeys the item's other entries follow 1Password's mapping, without the fields
 * and files picked (a picked field is renamed, not copied); a spec.keys entry wins over an other
 * entry of the same key (reported as a loss). Throws KeySpecError naming the entry at fault.
 */
export function selectSecretData(
  item: FullItem,
  files: ReadonlyMap<string, Buffer>,
  spec: KeysSpec,
  options: SecretDataOptions,
): SelectedData {
  const keys = spec.keys ?? [];
  if (keys.length === 0) return mapItemToSecretData(item, files, options);
  const selected = new Map<string, Buffer>();
  const pickedFields = new Set<string>();
  const pickedFiles = new Set<string>();
  keys.forEach((key, index) => {
    const picked = pick(item, files, key, `spec.keys[${index}]`);
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
