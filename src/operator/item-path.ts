// Parses `spec.itemPath` (`vaults/<vault>/items/<item>`), each part an id or a title.
import { OpKubeError } from '../kube/errors.ts';

export interface ItemPath {
  /** Vault id or title, percent-decoded. */
  readonly vault: string;
  /** Item id or title, percent-decoded. */
  readonly item: string;
}

/** An itemPath that can never parse: terminal until the object changes. */
export class InvalidItemPathError extends OpKubeError<'InvalidItemPath'> {
  override readonly name = 'InvalidItemPathError';

  constructor(message: string, options?: ErrorOptions) {
    super('InvalidItemPath', message, { ...options, terminal: true });
  }
}

/** Longest itemPath accepted; the CRD enforces the same limit. */
export const MAX_ITEM_PATH_LENGTH = 1024;

/**
 * A segment may be percent-encoded so a title can contain `/` (`a%2Fb` is the title `a/b`). A
 * segment that is not valid percent-encoding (`50% off`) is taken literally, as 1Password's
 * operator takes every segment, so no path it accepts changes meaning.
 */
function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function parseItemPath(path: string): ItemPath {
  if (path.length > MAX_ITEM_PATH_LENGTH) {
    throw new InvalidItemPathError(`itemPath is longer than ${MAX_ITEM_PATH_LENGTH} characters`);
  }
  const parts = path.split('/');
  if (parts.length !== 4 || parts[0] !== 'vaults' || parts[2] !== 'items') {
    throw new InvalidItemPathError(
      `itemPath ${JSON.stringify(path)} must be vaults/<vault id or title>/items/<item id or title> ` +
        '(write a "/" inside a title as %2F)',
    );
  }
  const vault = decodeSegment(parts[1] ?? '');
  const item = decodeSegment(parts[3] ?? '');
  if (!vault.trim() || !item.trim()) {
    throw new InvalidItemPathError(`itemPath ${JSON.stringify(path)} has an empty vault or item`);
  }
  return { vault, item };
}

/** The normalised form written to the Secret's `item-path` annotation. */
export function formatItemPath(vaultId: string, itemId: string): string {
  return `vaults/${vaultId}/items/${itemId}`;
}
