// Why an image's ENTRYPOINT and CMD could not be read: one typed error, its reason a metric label, its message safe to show (never a credential, token or response body).
import { OpKubeError } from '../../kube/errors.ts';

export type ImageResolutionReason =
  | 'InvalidReference'
  | 'Timeout'
  | 'Unreachable'
  | 'RefusedAddress'
  | 'InsecureRegistry'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'RateLimited'
  | 'RegistryError'
  | 'TooLarge'
  | 'DigestMismatch'
  | 'Malformed'
  | 'Unsupported'
  | 'NoPlatform';

/** The reasons as metric label values (bounded: this list). */
export const IMAGE_RESOLUTION_REASONS: readonly ImageResolutionReason[] = [
  'InvalidReference',
  'Timeout',
  'Unreachable',
  'RefusedAddress',
  'InsecureRegistry',
  'Unauthorized',
  'Forbidden',
  'NotFound',
  'RateLimited',
  'RegistryError',
  'TooLarge',
  'DigestMismatch',
  'Malformed',
  'Unsupported',
  'NoPlatform',
];

export class ImageResolutionError extends OpKubeError<ImageResolutionReason> {
  override readonly name = 'ImageResolutionError';

  constructor(reason: ImageResolutionReason, message: string, options?: ErrorOptions) {
    super(reason, message, options);
  }
}
