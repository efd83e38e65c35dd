// prom-client's metric classes from its own modules, never from its index. The index evaluates
// every module of the package on load: Summary and its t-digest, Pushgateway (http, https, url),
// the cluster aggregator (node:cluster), bucket generators, none of which op-kube uses. The
// submodules below are the ones prom-client 15.1's index.js re-exports under these names;
// prom-client has no `exports` map, so they resolve as plain files. Measured idle RSS (3 runs
// each, docs/decisions/028): operator 92.8–93.6 → 90.1–91.2 MB; the webhook and connect-local
// unchanged within 0.5 MB (they load http, https and zlib anyway), 12 fewer modules each.
// collectDefaultMetrics registers the same metrics as prom-client's, but counts process_cpu_*
// itself: prom-client's module for them loads @opentelemetry/api (below). require() as in
// src/util/node-http.ts; type-only imports from 'prom-client' load nothing.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { DefaultMetricsCollectorConfiguration, RegistryContentType } from 'prom-client';

const require = createRequire(import.meta.url);

export type {
  CounterConfiguration,
  DefaultMetricsCollectorConfiguration,
  GaugeConfiguration,
  HistogramConfiguration,
  Metric,
  PrometheusContentType,
  RegistryContentType,
} from 'prom-client';

export const Registry = require('prom-client/lib/registry') as typeof PromClient.Registry;
export type Registry<T extends PromClient.RegistryContentType = PromClient.PrometheusContentType> =
  PromClient.Registry<T>;

export const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter;
export type Counter<T extends string = string> = PromClient.Counter<T>;

export const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;

export const Histogram = require('prom-client/lib/histogram') as typeof PromClient.Histogram;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;

/** One of prom-client's default metrics modules (prom-client/lib/metrics/*.js). */
type DefaultMetric = (
  registry: Registry | undefined,
  config: DefaultMetricsCollectorConfiguration<RegistryContentType>,
) => void;

/**
 * prom-client's default metrics after process_cpu_*, in the order its defaultMetrics.js registers
 * them (prom-client 15.1; processResources only where Node has getActiveResourcesInfo, as there).
 */
const DEFAULT_METRICS = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  ...(typeof process.getActiveResourcesInfo === 'function' ? ['processResources'] : []),
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
] as const;

/**
 * process_cpu_user_seconds_total, process_cpu_system_seconds_total and process_cpu_seconds_total,
 * as prom-client's processCpuTotal.js counts them (same names, help, labels, values), without its
 * exemplars: that module loads @opentelemetry/api (51 modules) to read a trace span op-kube never
 * has: +7.2–7.8 MB of RSS alone in a process with node:https loaded, 0.9–1.0 MB in the webhook
 * idle (most of the pages it touches are touched there anyway; docs/decisions/028). The default
 * metrics as a whole cost the webhook 2.3 MB idle and are kept: users scrape process_*.
 */
function processCpuTotal(
  registry: Registry | undefined,
  prefix: string,
  labels: Partial<Record<string, string | number>>,
): void {
  const registers = registry ? [registry] : undefined;
  const labelNames = Object.keys(labels);
  let last = process.cpuUsage();
  const user = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    ...(registers ? { registers } : {}),
    labelNames,
    // This one metric's collect sets all three, as prom-client's does.
    collect() {
      const now = process.cpuUsage();
      const userMicros = now.user - last.user;
      const systemMicros = now.system - last.system;
      last = now;
      user.inc(labels, userMicros / 1e6);
      system.inc(labels, systemMicros / 1e6);
      total.inc(labels, (userMicros + systemMicros) / 1e6);
    },
  });
  const system = new Counter({
    name: `${prefix}process_cpu_system_seconds_total`,
    help: 'Total system CPU time spent in seconds.',
    ...(registers ? { registers } : {}),
    labelNames,
  });
  const total = new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: 'Total user and system CPU time spent in seconds.',
    ...(registers ? { registers } : {}),
    labelNames,
  });
}

/**
 * prom-client's collectDefaultMetrics: the same metrics (process_*, nodejs_*), from its own
 * modules, in the same order, with the same defaults; process_cpu_* from processCpuTotal above.
 */
export function collectDefaultMetrics<T extends RegistryContentType>(
  config: DefaultMetricsCollectorConfiguration<T> = {},
): void {
  const settings = { eventLoopMonitoringPrecision: 10, ...config };
  const registry = settings.register as Registry | undefined;
  processCpuTotal(registry, settings.prefix ?? '', settings.labels ?? {});
  for (const name of DEFAULT_METRICS) {
    (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(registry, settings);
  }
}
