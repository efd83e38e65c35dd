// The one error type Connect calls fail with: a machine reason for conditions and metrics, a human message.
import { OpKubeError } from '../kube/errors.ts';

export const CONNECT_ERROR_REASONS = [
  'Unauthorized',
  'Forbidden',
  'NotFound',
  'BadRequest',
  'TooLarge',
  'Unavailable',
  /** A 2xx answer that is not what the API defines: wrong shape, cut short, wrong size. */
  'InvalidResponse',
  'Unexpected',
] as const;
export type ConnectErrorReason = (typeof CONNECT_ERROR_REASONS)[number];

/** Maps an HTTP status to a reason; status 0 stands for "no response" (network error, timeout). */
export function reasonForStatus(status: number): ConnectErrorReason {
  if (status === 0 || (status >= 500 && status <= 599)) return 'Unavailable';
  switch (status) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 413:
      return 'TooLarge';
    default:
      return 'Unexpected';
  }
}

export interface ConnectErrorInit {
  /** HTTP status of the answer; 0 when none came (network error, timeout, client closed). */
  status: number;
  /** Defaults to `reasonForStatus(status)`. */
  reason?: ConnectErrorReason;
  method: string;
  /** The templated path, e.g. `/v1/vaults/{vault}/items/{item}`: ids stay out of metric labels. */
  endpoint: string;
  /** HTTP attempts made, retries included. */
  attempts?: number;
}

export class ConnectError extends OpKubeError<ConnectErrorReason> {
  override readonly name = 'ConnectError';
  readonly status: number;
  readonly method: string;
  readonly endpoint: string;
  readonly attempts: number;

  constructor(init: ConnectErrorInit, message: string) {
    super(init.reason ?? reasonForStatus(init.status), message);
    this.status = init.status;
    this.method = init.method;
    this.endpoint = init.endpoint;
    this.attempts = init.attempts ?? 1;
  }
}

export function isConnectError(error: unknown, reason?: ConnectErrorReason): error is ConnectError {
  return error instanceof ConnectError && (reason === undefined || error.reason === reason);
}
