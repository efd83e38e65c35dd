// The operator's Prometheus metrics, in a registry of its own.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from '../util/prom-client.ts';
import type { CallInfo } from '../connect/index.ts';
import type { SdkCallInfo } from './sdk-items.ts';
import { ITEM_CRD_NAME } from './crd-check.ts';
import type { Outcome } from '../kube/runtime/controller.ts';
import type { WorkQueueMetrics } from '../kube/runtime/workqueue.ts';

export interface OperatorMetrics {
  readonly registry: Registry;
  reconciled(outcome: Outcome, reason: string, durationMs: number): void;
  connectCall(call: CallInfo): void;
  /** A call to 1Password's SDK (service-account mode). */
  sdkCall(call: SdkCallInfo): void;
  readonly queue: WorkQueueMetrics;
  poll(result: 'success' | 'error', changed: number): void;
  /** After each poll: whether Connect answered (undefined: not polled yet, e.g. a standby). */
  connectUp(up: boolean | undefined): void;
  /** A pool of apiserver connections that kept failing was replaced (decision 011). */
  apiserverPoolReplaced(pool: string): void;
  /** The start-up CRD check: outdated or missing (1), current (0), not readable (no sample). */
  crdOutdated(outdated: boolean | undefined): void;
}

/** `itemsByReason` is read at each scrape, from the informer cache. */
export function createOperatorMetrics(
  itemsByReason: () => ReadonlyMap<string, number>,
): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const reconciles = new Counter({
    name: 'op_kube_reconciles_total',
    help: 'OnePasswordItem reconciles by outcome and Ready reason',
    labelNames: ['outcome', 'reason'],
    registers,
  });
  const duration = new Histogram({
    name: 'op_kube_reconcile_duration_seconds',
    help: 'Time to reconcile one OnePasswordItem',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const connectRequests = new Counter({
    name: 'op_kube_connect_requests_total',
    help: 'HTTP requests to Connect by method, endpoint template and status (0: no answer)',
    labelNames: ['method', 'endpoint', 'status'],
    registers,
  });
  const sdkCalls = new Counter({
    name: 'op_kube_sdk_calls_total',
    help: "Calls to 1Password's SDK (service-account mode) by operation and the HTTP status their outcome maps to (0: no answer)",
    labelNames: ['operation', 'status'],
    registers,
  });
  const depth = new Gauge({
    name: 'op_kube_workqueue_depth',
    help: 'Keys waiting in the work queue',
    registers,
  });
  const retries = new Counter({
    name: 'op_kube_workqueue_retries_total',
    help: 'Keys re-queued after a failure',
    registers,
  });
  const polls = new Counter({
    name: 'op_kube_polls_total',
    help: 'Change-detection polls of Connect by result',
    labelNames: ['result'],
    registers,
  });
  const changedItems = new Counter({
    name: 'op_kube_changed_items_total',
    help: 'Items a poll found changed',
    registers,
  });
  const poolReplacements = new Counter({
    name: 'op_kube_apiserver_pool_replacements_total',
    help: 'Pools of apiserver connections replaced after their connections kept failing',
    labelNames: ['pool'],
    registers,
  });
  const connectUp = new Gauge({
    name: 'op_kube_connect_up',
    help: 'Whether the last change-detection poll reached Connect (1Password in service-account mode) (1) or failed (0)',
    registers,
  });
  const crdOutdated = new Gauge({
    name: 'op_kube_crd_outdated',
    help: "Whether the installed OnePasswordItem CRD is missing or not op-kube's current one (1), which drops status fields; absent when it could not be read",
    labelNames: ['crd'],
    registers,
  });
  new Gauge({
    name: 'op_kube_onepassworditems',
    help: 'OnePasswordItems by the reason of their Ready condition (Unknown: not reconciled yet)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, count] of itemsByReason()) this.set({ reason }, count);
    },
  });
  return {
    registry,
    reconciled(outcome, reason, durationMs) {
      reconciles.inc({ outcome, reason });
      duration.observe(durationMs / 1000);
    },
    connectCall(call) {
      connectRequests.inc({
        method: call.method,
        endpoint: call.endpoint,
        status: String(call.status),
      });
    },
    sdkCall(call) {
      sdkCalls.inc({ operation: call.operation, status: String(call.status) });
    },
    queue: {
      depth: (value) => depth.set(value),
      retry: () => retries.inc(),
    },
    poll(result, changed) {
      polls.inc({ result });
      changedItems.inc(changed);
    },
    apiserverPoolReplaced(pool) {
      poolReplacements.inc({ pool });
    },
    crdOutdated(outdated) {
      crdOutdated.reset();
      if (outdated !== undefined) crdOutdated.set({ crd: ITEM_CRD_NAME }, outdated ? 1 : 0);
    },
    connectUp(up) {
      if (up === undefined) connectUp.reset();
      else connectUp.set(up ? 1 : 0);
    },
  };
}
