// Prometheus metrics for connect-local's /metrics, in a registry of its own per server.
import { Counter, Histogram, Registry, collectDefaultMetrics } from '../util/prom-client.ts';

export interface ConnectMetrics {
  readonly contentType: string;
  /** Starts timing a request; the returned function records it once the route and status are known. */
  startRequest(): (method: string, route: string, status: number) => void;
  render(): Promise<string>;
}

export function createMetrics(): ConnectMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'connect_local_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'connect_local_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route template',
    labelNames: ['method', 'route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  return {
    contentType: registry.contentType,
    startRequest() {
      const started = process.hrtime.bigint();
      return (method, route, status) => {
        requests.inc({ method, route, status: String(status) });
        latency.observe({ method, route }, Number(process.hrtime.bigint() - started) / 1e9);
      };
    },
    render: () => registry.metrics(),
  };
}
