// The fields of an item as spec.keys names them (`from`, template names), and the error that says
// which entry of spec.keys the item cannot satisfy.
import type { Field, FullItem } from '../connect/index.ts';
import { OpKubeError } from '../kube/errors.ts';

export type KeySpecReason =
  'FieldNotFound' | 'AmbiguousField' | 'InvalidTemplate' | 'InvalidSecretData' | 'KeyCollision';

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

/**
 * The value of the one field `name` designates in `item`, for the entry at `where` (e.g.
 * `spec.keys[1].from`); a KeySpecError naming it when there is none or several. Never a value in
 * a message.
 */
export function fieldByName(item: FullItem, name: string, where: string): Field {
  const found = findField(item, name);
  const title = JSON.stringify(item.title);
  if (found.length === 0) {
    throw new KeySpecError(
      'FieldNotFound',
      `${where}: item ${title} has no field labelled ${JSON.stringify(name)} (nor a section and field of that name)`,
    );
  }
  if (found.length > 1) {
    throw new KeySpecError(
      'AmbiguousField',
      `${where}: ${found.length} fields of item ${title} match ${JSON.stringify(name)}: ${labelsOf(item, found)}; name one by <section>.<label> or fromFieldId`,
    );
  }
  return found[0] as Field;
}
