// src/util/prom-client.ts against prom-client's own index: the same default metrics (names, types,
// help, order), process_cpu_* counted, and neither prom-client's index nor @opentelemetry/api loaded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import * as promClient from 'prom-client';
import { Registry, collectDefaultMetrics } from '../../../src/util/prom-client.ts';

describe('src/util/prom-client.ts', () => {
  it('registers the default metrics prom-client registers, with the same names, types and help, in the same order', async () => {
    const ours = new Registry();
    collectDefaultMetrics({ register: ours });
    const theirs = new promClient.Registry();
    promClient.collectDefaultMetrics({ register: theirs });
    const shape = async (registry: Registry): Promise<string[]> =>
      (await registry.getMetricsAsJSON()).map(
        (metric) => `${metric.name} ${metric.type} ${metric.help}`,
      );
    assert.deepEqual(await shape(ours), await shape(theirs));
    assert.ok((await shape(ours)).length > 20);
  });

  it('counts process CPU time, user + system = total, with a prefix and labels', async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'x_', labels: { pod: 'a' } });
    const started = Date.now();
    while (Date.now() - started < 50) JSON.stringify({ busy: started });
    const text = await registry.metrics();
    const value = (name: string): number =>
      Number(new RegExp(`^x_${name}\\{pod="a"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.ok(value('process_cpu_user_seconds_total') > 0, text.slice(0, 400));
    assert.ok(
      Math.abs(
        value('process_cpu_user_seconds_total') +
          value('process_cpu_system_seconds_total') -
          value('process_cpu_seconds_total'),
      ) < 1e-6,
    );
    assert.match(text, /^# TYPE x_process_cpu_seconds_total counter$/m);
  });

  it("loads neither prom-client's index nor @opentelemetry/api", () => {
    const script = `
      import { createRequire } from 'node:module';
      const m = await import(${JSON.stringify(new URL('../../../src/util/prom-client.ts', import.meta.url).href)});
      const registry = new m.Registry();
      m.collectDefaultMetrics({ register: registry });
      new m.Counter({ name: 'c', help: 'c', registers: [registry] });
      new m.Gauge({ name: 'g', help: 'g', registers: [registry] });
      new m.Histogram({ name: 'h', help: 'h', registers: [registry] });
      await registry.metrics();
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify(loaded.filter((file) => /prom-client\\/index\\.js$|@opentelemetry|summary\\.js$|pushgateway\\.js$|cluster\\.js$/.test(file))));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), []);
  });
});
