// What the operator logs about its informers and reconciles: failures, named by object and reason, never flooding.
import type { Logger } from 'pino';
import type { Outcome } from '../kube/runtime/controller.ts';
import { terminalCause } from '../kube/errors.ts';
import type { InformerEvent } from '../kube/cache/informer.ts';
import { classifyFailure } from './failure.ts';

/** Keeps a failing list/watch visible (a missing CRD, missing RBAC): logged at 1, 2, 4, 8… in a row. */
export function informerObserver(logger: Logger, informer: string): (event: InformerEvent) => void {
  return (event) => {
    if (event.type !== 'failure') return;
    if ((event.consecutive & (event.consecutive - 1)) !== 0) return;
    const error = event.error as { status?: number; reason?: string; message?: string };
    logger.warn(
      {
        informer,
        phase: event.phase,
        status: error.status,
        reason: error.reason,
        consecutive: event.consecutive,
      },
      error.status === 404 && informer === 'onepassworditems'
        ? 'cannot list OnePasswordItems: is the CRD installed? (kubectl apply -f crds/)'
        : `cannot ${event.phase} ${informer}`,
    );
  };
}

/**
 * The Ready reason a reconcile settled with; a failed one is logged with its key and reason (the
 * `reconcile failed` line, for every controller).
 */
export function reconcileReporter(
  logger: Logger,
): (key: string, outcome: Outcome, error?: unknown) => string {
  return (key, outcome, error) => {
    const reason =
      outcome === 'success' || outcome === 'requeue'
        ? 'Synced'
        : (terminalCause(error)?.reason ?? classifyFailure(error).reason);
    if (outcome === 'error' || outcome === 'terminal') {
      logger.warn(
        { key, reason, err: error instanceof Error ? { message: error.message } : undefined },
        'reconcile failed',
      );
    }
    return reason;
  };
}
