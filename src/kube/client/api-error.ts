// The one error type every apiserver call fails with, built from the Status the apiserver answers.
import { OpKubeError } from '../errors.ts';

/** One cause from a Status's details, e.g. the field a 422 Invalid names. */
export interface KubeStatusCause {
  readonly field?: string;
  readonly reason?: string;
  readonly message?: string;
}

/**
 * What a failed apiserver call throws: the HTTP status and the Status reason (`NotFound`,
 * `Conflict`, `AlreadyExists`, `Invalid`, `Forbidden`, …) so callers branch on 404/409/422 without
 * parsing messages. A call that got no answer (connection refused, timeout, abort) has status 0 and
 * reason `Unavailable` or `Timeout`, so retry loops decide from one type.
 */
export class KubeApiError extends OpKubeError {
  override readonly name = 'KubeApiError';
  readonly status: number;
  /** What was attempted, e.g. `apply v1 Secret ns/name`; '' when not named. */
  readonly operation: string;
  readonly causes: readonly KubeStatusCause[];

  constructor(
    init: {
      status: number;
      reason?: string;
      operation?: string;
      causes?: readonly KubeStatusCause[];
    },
    message: string,
    options?: ErrorOptions,
  ) {
    // The reason is `Status.reason`, or the reason Kubernetes gives the bare HTTP status.
    super(init.reason ?? '', message, options);
    this.status = init.status;
    this.operation = init.operation ?? '';
    this.causes = init.causes ?? [];
  }
}

/** True for a KubeApiError, or when `statuses` are given, one with one of those HTTP statuses. */
export function isKubeApiError(error: unknown, ...statuses: number[]): error is KubeApiError {
  return (
    error instanceof KubeApiError && (statuses.length === 0 || statuses.includes(error.status))
  );
}

/** The reason Kubernetes would give a bare HTTP status, for answers that carry no Status body. */
function reasonForHttpStatus(status: number): string {
  switch (status) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 405:
      return 'MethodNotAllowed';
    case 409:
      return 'Conflict';
    case 410:
      return 'Expired';
    case 415:
      return 'UnsupportedMediaType';
    case 422:
      return 'Invalid';
    case 429:
      return 'TooManyRequests';
    case 504:
      return 'Timeout';
    default:
      return status >= 500 ? 'InternalError' : 'Unknown';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Builds the error a `Status` object describes; `httpStatus` wins over the Status's own code. The
 * message is the Status message, prefixed by `operation` when given; never a request body, which
 * may hold Secret data.
 */
export function errorFromStatus(
  status: unknown,
  httpStatus?: number,
  operation = '',
): KubeApiError {
  const body = isRecord(status) ? status : {};
  const code =
    httpStatus ?? (typeof body.code === 'number' && Number.isInteger(body.code) ? body.code : 0);
  const reason =
    typeof body.reason === 'string' && body.reason !== '' ? body.reason : reasonForHttpStatus(code);
  const details = isRecord(body.details) ? body.details : {};
  const causes = Array.isArray(details.causes)
    ? details.causes.flatMap((cause) =>
        isRecord(cause)
          ? [
              {
                ...(typeof cause.reason === 'string' ? { reason: cause.reason } : {}),
                ...(typeof cause.field === 'string' ? { field: cause.field } : {}),
                ...(typeof cause.message === 'string' ? { message: cause.message } : {}),
              },
            ]
          : [],
      )
    : [];
  const detail =
    typeof body.message === 'string' && body.message !== '' ? body.message : `HTTP ${code}`;
  return new KubeApiError(
    { status: code, reason, operation, causes },
    operation ? `${operation}: ${detail}` : detail,
  );
}

/** Any failure (undici's network errors, aborts, timeouts) as a KubeApiError with status 0. */
export function toKubeApiError(error: unknown, operation = ''): KubeApiError {
  if (error instanceof KubeApiError) return error;
  const prefix = operation ? `${operation}: ` : '';
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new KubeApiError({ status: 0, reason: 'Timeout', operation }, prefix + error.message, {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : '';
  return new KubeApiError(
    { status: 0, reason: 'Unavailable', operation },
    prefix + (cause ? `${message}: ${cause}` : message),
    { cause: error },
  );
}
