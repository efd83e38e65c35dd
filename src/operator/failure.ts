// Turns whatever a sync failed with into the Ready condition's reason and a message with no secret in it.
import { isConnectError } from '../connect/index.ts';
import { isOpKubeError, OpKubeError } from '../kube/errors.ts';

export const READY_REASONS = [
  'Synced',
  'InvalidItemPath',
  'VaultNotFound',
  'ItemNotFound',
  'Unauthorized',
  'Forbidden',
  'RateLimited',
  'ConnectUnavailable',
  'InvalidConnectResponse',
  'SecretTypeConflict',
  'SecretNotOwned',
  'SecretOwnedByOther',
  'SecretTooLarge',
  'VaultNotAllowed',
  'InvalidAnnotation',
  'NoToken',
  'FieldNotFound',
  'AmbiguousField',
  'InvalidTemplate',
  'InvalidSecretData',
  'KeyCollision',
] as const;
export type ReadyReason = (typeof READY_REASONS)[number];

type FailedReason = Exclude<ReadyReason, 'Synced'>;

function isFailedReason(reason: string): reason is FailedReason {
  return reason !== 'Synced' && (READY_REASONS as readonly string[]).includes(reason);
}

export interface Failure {
  readonly reason: FailedReason | 'SyncFailed';
  readonly message: string;
  /** Retrying cannot help until the object itself changes. */
  readonly terminal: boolean;
}

export type BlockedReason =
  | 'SecretTypeConflict'
  | 'SecretNotOwned'
  | 'SecretOwnedByOther'
  | 'SecretTooLarge'
  | 'VaultNotAllowed';

/**
 * A condition that retrying cannot heal, only a change of the object, the item or another owner:
 * a type conflict, a Secret held by someone else, an item too large for a Secret.
 */
export class SyncBlockedError extends OpKubeError<BlockedReason> {
  override readonly name = 'SyncBlockedError';

  constructor(reason: BlockedReason, message: string) {
    super(reason, message, { terminal: true });
  }
}

export function classifyFailure(error: unknown): Failure {
  // InvalidItemPathError, InvalidAnnotationError, SyncBlockedError, KeySpecError: their reason is the Ready reason.
  if (isOpKubeError(error) && error.terminal && isFailedReason(error.reason)) {
    return { reason: error.reason, message: error.message, terminal: true };
  }
  if (isConnectError(error)) {
    // The client's messages carry method, path and Connect's own message: never a value or token.
    const message = `Connect: ${error.message}`;
    if (error.status === 429) return { reason: 'RateLimited', message, terminal: false };
    switch (error.reason) {
      case 'Unauthorized':
        return { reason: 'Unauthorized', message, terminal: false };
      case 'Forbidden':
        return { reason: 'Forbidden', message, terminal: false };
      case 'NotFound':
        return {
          reason: error.endpoint.includes('/items') ? 'ItemNotFound' : 'VaultNotFound',
          message,
          terminal: false,
        };
      case 'Unavailable':
        return { reason: 'ConnectUnavailable', message, terminal: false };
      // A malformed, cut or mis-sized answer: the Secret keeps its last good data, and the next
      // poll or retry fetches again (a proxy or Connect may heal without the item changing).
      case 'InvalidResponse':
        return { reason: 'InvalidConnectResponse', message, terminal: false };
      default:
        return { reason: 'ConnectUnavailable', message, terminal: false };
    }
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error';
  return { reason: 'SyncFailed', message, terminal: false };
}
