// The injector's Prometheus metrics, in a registry of its own.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from '../util/prom-client.ts';

/** More namespaces than most clusters have; each label value costs memory for the process's life. */
export const MAX_NAMESPACE_LABELS = 2_000;
/** The label shared by namespaces past MAX_NAMESPACE_LABELS: not a valid namespace name. */
export const OTHER_NAMESPACES = '_other';

export type AdmissionOutcome = 'injected' | 'skipped' | 'denied' | 'invalid' | 'error';

export interface WebhookMetrics {
  readonly registry: Registry;
  request(path: string, status: number, seconds: number): void;
  admission(namespace: string, outcome: AdmissionOutcome): void;
  certificate(notAfter: Date): void;
  tlsReload(result: 'success' | 'failure'): void;
  /** An image's ENTRYPOINT/CMD read: `cache`, `registry`, or why not (a fixed set of reasons). */
  imageResolution(result: string, seconds: number): void;
  imageCache(kind: 'tag' | 'digest', hit: boolean): void;
}

export function createWebhookMetrics(): WebhookMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const requests = new Counter({
    name: 'op_kube_webhook_requests_total',
    help: 'HTTP requests by path and status',
    labelNames: ['path', 'status'],
    registers,
  });
  const latency = new Histogram({
    name: 'op_kube_webhook_request_duration_seconds',
    help: 'Time to answer an HTTP request, by path',
    labelNames: ['path'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers,
  });
  const admissions = new Counter({
    name: 'op_kube_webhook_admissions_total',
    help: 'Pod admissions by namespace and outcome (injected, skipped, denied, invalid, error)',
    labelNames: ['namespace', 'outcome'],
    registers,
  });
  const expiry = new Gauge({
    name: 'op_kube_webhook_certificate_expiry_timestamp_seconds',
    help: 'When the serving certificate in use expires (Unix time)',
    registers,
  });
  const reloads = new Counter({
    name: 'op_kube_webhook_tls_reloads_total',
    help: 'Serving certificate loads by result',
    labelNames: ['result'],
    registers,
  });
  // No image name or registry as a label: the set would grow with every image, and carry nothing
  // of any credential in any case.
  const resolutions = new Counter({
    name: 'op_kube_webhook_image_resolutions_total',
    help: "Images' ENTRYPOINT and CMD read for containers without a command, by result (cache, registry, or the failure's reason)",
    labelNames: ['result'],
    registers,
  });
  const resolutionLatency = new Histogram({
    name: 'op_kube_webhook_image_resolution_duration_seconds',
    help: "Time to read an image's ENTRYPOINT and CMD, by result",
    labelNames: ['result'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const cacheLookups = new Counter({
    name: 'op_kube_webhook_image_cache_lookups_total',
    help: 'Image cache lookups by kind (tag: tag to digest; digest: digest to command) and result (hit, miss)',
    labelNames: ['kind', 'result'],
    registers,
  });
  // Known paths only, so a scanner cannot grow the label set.
  const KNOWN = new Set(['/inject', '/healthz', '/readyz', '/metrics']);
  // Anyone who reaches /inject can name a namespace; past this many, the rest share one series.
  const namespaces = new Set<string>();
  return {
    registry,
    request(path, status, seconds) {
      const label = KNOWN.has(path) ? path : 'other';
      requests.inc({ path: label, status: String(status) });
      latency.observe({ path: label }, seconds);
    },
    admission(namespace, outcome) {
      if (namespaces.size < MAX_NAMESPACE_LABELS) namespaces.add(namespace);
      admissions.inc({
        namespace: namespaces.has(namespace) ? namespace : OTHER_NAMESPACES,
        outcome,
      });
    },
    certificate(notAfter) {
      expiry.set(notAfter.getTime() / 1000);
    },
    tlsReload(result) {
      reloads.inc({ result });
    },
    imageResolution(result, seconds) {
      resolutions.inc({ result });
      resolutionLatency.observe({ result }, seconds);
    },
    imageCache(kind, hit) {
      cacheLookups.inc({ kind, result: hit ? 'hit' : 'miss' });
    },
  };
}
