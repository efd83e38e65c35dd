// connect-local's typed failures; each maps to the HTTP status and JSON body Connect answers with.
import { reasonForStatus, type ConnectErrorReason, type ErrorBody } from '../connect/index.ts';
import { OpKubeError } from '../kube/errors.ts';

/** An answer with `status`; its reason is the one a Connect client gives that status. */
export class HttpError extends OpKubeError<ConnectErrorReason> {
  override readonly name: string = 'HttpError';
  readonly status: number;

  constructor(status: number, message: string) {
    super(reasonForStatus(status), message);
    this.status = status;
  }

  toBody(): ErrorBody {
    return { status: this.status, message: this.message };
  }
}

/** Malformed input from a client: 400. */
export class InvalidInputError extends HttpError {
  override readonly name = 'InvalidInputError';
  constructor(message: string) {
    super(400, message);
  }
}

export class UnauthorizedError extends HttpError {
  override readonly name = 'UnauthorizedError';
  constructor(message = 'Invalid bearer token') {
    super(401, message);
  }
}

export class ForbiddenError extends HttpError {
  override readonly name = 'ForbiddenError';
  constructor(message = 'Authorization: token does not have access to vault') {
    super(403, message);
  }
}

export class NotFoundError extends HttpError {
  override readonly name = 'NotFoundError';
  constructor(message: string) {
    super(404, message);
  }
}
