// The injector's metrics stay bounded whatever namespaces callers name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_NAMESPACE_LABELS,
  OTHER_NAMESPACES,
  createWebhookMetrics,
} from '../../../src/webhook/metrics.ts';

describe('webhook metrics', () => {
  it(`keeps ${MAX_NAMESPACE_LABELS} namespace labels, then counts the rest under one`, async () => {
    const metrics = createWebhookMetrics();
    for (let index = 0; index < MAX_NAMESPACE_LABELS + 500; index += 1) {
      metrics.admission(`ns-${index}`, 'skipped');
    }
    metrics.admission('ns-0', 'injected');
    const { values } = (await metrics.registry
      .getSingleMetric('op_kube_webhook_admissions_total')
      ?.get()) ?? {
      values: [],
    };
    const namespaces = new Set(values.map((value) => value.labels.namespace));
    assert.equal(namespaces.size, MAX_NAMESPACE_LABELS + 1);
    const other = values.find((value) => value.labels.namespace === OTHER_NAMESPACES);
    assert.equal(other?.value, 500);
    assert.equal(
      values.find(
        (value) => value.labels.namespace === 'ns-0' && value.labels.outcome === 'injected',
      )?.value,
      1,
      'namespaces seen before the cap keep their own series',
    );
  });
});
