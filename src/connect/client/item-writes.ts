// The shapes the client sends to create, replace and patch items.
import type { Field, FullItem } from '../models.ts';

/** A field as sent: the server assigns missing ids and computes entropy and OTP codes. */
export type NewField = Omit<Field, 'id' | 'entropy' | 'totp'> & { id?: string };

/** An item as sent to `createItem`; the client fills in `vault` from the vault argument. */
export type NewItem = Omit<
  FullItem,
  | 'id'
  | 'vault'
  | 'version'
  | 'state'
  | 'createdAt'
  | 'updatedAt'
  | 'lastEditedBy'
  | 'fields'
  | 'files'
> & { id?: string; fields?: NewField[] };

/**
 * One RFC 6902 operation of the subset Connect accepts. Paths: `/`, `/title`, `/tags`, `/fields`,
 * `/fields/{fieldId}`, `/fields/{fieldId}/value`; fields are addressed by id, not index.
 */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}
