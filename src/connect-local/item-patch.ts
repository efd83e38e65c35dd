// Connect's PATCH: the RFC 6902 subset (add, remove, replace) on item paths, fields addressed by id.
import type { Field, FullItem } from '../connect/index.ts';
import { InvalidInputError } from './errors.ts';

export interface PatchOperation {
  readonly op: 'add' | 'remove' | 'replace';
  readonly path: string;
  readonly value?: unknown;
}

function parseOperations(body: unknown): PatchOperation[] {
  const list: unknown[] = Array.isArray(body) ? body : [body];
  return list.map((entry, index) => {
    if (typeof entry !== 'object' || entry === null) {
      throw new InvalidInputError(`patch operation ${index} must be an object`);
    }
    const { op, path, value } = entry as Record<string, unknown>;
    if (op !== 'add' && op !== 'remove' && op !== 'replace') {
      throw new InvalidInputError(`patch operation ${index}: op must be add, remove or replace`);
    }
    if (typeof path !== 'string')
      throw new InvalidInputError(`patch operation ${index}: path is required`);
    return { op, path, value };
  });
}

function requireValue(operation: PatchOperation): unknown {
  if (operation.value === undefined) {
    throw new InvalidInputError(`patch ${operation.op} ${operation.path} needs a value`);
  }
  return operation.value;
}

function fieldIndex(fields: Field[], id: string, path: string): number {
  const index = fields.findIndex((field) => field.id === id);
  if (index === -1)
    throw new InvalidInputError(`patch path ${path}: no field with id ${JSON.stringify(id)}`);
  return index;
}

function decodeSegments(path: string): string[] {
  try {
    return path.split('/').slice(1).map(decodeURIComponent);
  } catch {
    throw new InvalidInputError(`patch path ${JSON.stringify(path)} has a malformed % escape`);
  }
}

/** A copy of the item's fields, refusing what an earlier `/fields` operation may have left. */
function fieldsOf(item: FullItem, path: string): Field[] {
  const fields: unknown = item.fields ?? [];
  if (
    !Array.isArray(fields) ||
    !fields.every((field) => typeof field === 'object' && field !== null && !Array.isArray(field))
  ) {
    throw new InvalidInputError(`patch path ${path}: fields must be a list of field objects`);
  }
  return [...(fields as Field[])];
}

function applyOne(item: FullItem, operation: PatchOperation): FullItem {
  const segments = decodeSegments(operation.path);
  const [head = '', fieldId, leaf] = segments;
  const removing = operation.op === 'remove';
  if (operation.path === '/') {
    if (removing) throw new InvalidInputError('patch cannot remove the whole item');
    return { ...(requireValue(operation) as FullItem), id: item.id };
  }
  if (segments.length === 1 && head === 'title') {
    if (removing) throw new InvalidInputError('patch cannot remove the title');
    return { ...item, title: requireValue(operation) as string };
  }
  if (segments.length === 1 && head === 'tags') {
    return { ...item, tags: removing ? [] : (requireValue(operation) as string[]) };
  }
  if (segments.length === 1 && head === 'fields') {
    if (removing) return { ...item, fields: [] };
    const value = requireValue(operation);
    if (operation.op === 'replace') return { ...item, fields: value as Field[] };
    return { ...item, fields: [...fieldsOf(item, operation.path), value as Field] };
  }
  if (segments.length === 2 && head === 'fields' && fieldId) {
    const fields = fieldsOf(item, operation.path);
    if (removing) {
      fields.splice(fieldIndex(fields, fieldId, operation.path), 1);
      return { ...item, fields };
    }
    const field = { ...(requireValue(operation) as Field), id: fieldId };
    const index = fields.findIndex((candidate) => candidate.id === fieldId);
    if (index === -1 && operation.op === 'replace') fieldIndex(fields, fieldId, operation.path);
    if (index === -1) fields.push(field);
    else fields[index] = field;
    return { ...item, fields };
  }
  if (segments.length === 3 && head === 'fields' && fieldId && leaf === 'value') {
    const fields = fieldsOf(item, operation.path);
    const index = fieldIndex(fields, fieldId, operation.path);
    const current = fields[index] as Field;
    if (removing) {
      const { value: _value, ...rest } = current;
      fields[index] = rest;
    } else {
      const value = requireValue(operation);
      if (typeof value !== 'string')
        throw new InvalidInputError(`patch ${operation.path}: value must be a string`);
      fields[index] = { ...current, value };
    }
    return { ...item, fields };
  }
  throw new InvalidInputError(
    `unsupported patch path ${JSON.stringify(operation.path)}: use /, /title, /tags, /fields, /fields/{id} or /fields/{id}/value`,
  );
}

/** Applies the operations in order; the result is validated again by the caller like a PUT body. */
export function applyItemPatch(item: FullItem, body: unknown): FullItem {
  return parseOperations(body).reduce(applyOne, item);
}
