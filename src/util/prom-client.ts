// prom-client's metric classes from its own modules, never from its index. The index evaluates
// every module of the package on load: Summary and its t-digest, Pushgateway (http, https, url),
// the cluster aggregator (node:cluster), bucket generators, none of which op-kube uses. The
// submodules below are the ones prom-client 15.1's index.js re-exports under these names;
// prom-client has no `exports` map, so they resolve as plain files. Measured idle RSS (3 runs
// each, docs/decisions/028): operator 92.8–93.6 → 90.1–91.2 MB; the webhook and connect-local
// unchanged within 0.5 MB (they load http, https and zlib anyway), 12 fewer modules each.
// require() as in src/util/node-http.ts; type-only imports from 'prom-client' load nothing.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

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

export const collectDefaultMetrics =
  require('prom-client/lib/defaultMetrics') as typeof PromClient.collectDefaultMetrics;
