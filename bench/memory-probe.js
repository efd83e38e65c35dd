// Preload for bench/operator-memory.ts --probe: twice a second, writes the process's memory (process.memoryUsage(),
// V8's heap spaces and code statistics) and the URLs of the modules it has resolved to $OP_KUBE_PROBE_OUT.
// Plain JavaScript, so loading it costs no TypeScript stripper.
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
import { setInterval } from 'node:timers';
import v8 from 'node:v8';
const urls = new Set();
registerHooks({
  resolve(spec, ctx, next) {
    const r = next(spec, ctx);
    urls.add(r.url);
    return r;
  },
});
const out = process.env.OP_KUBE_PROBE_OUT;
let peak = 0;
function snap(tag) {
  const m = process.memoryUsage();
  peak = Math.max(peak, m.rss);
  return {
    tag,
    t: process.uptime(),
    mem: m,
    peak,
    spaces: v8.getHeapSpaceStatistics().map((s) => ({
      n: s.space_name,
      used: s.space_used_size,
      size: s.space_size,
      phys: s.physical_space_size,
    })),
    code: v8.getHeapCodeStatistics(),
    modules: [...urls],
  };
}
if (out) {
  const t = setInterval(() => writeFileSync(out, JSON.stringify(snap('tick'))), 500);
  t.unref();
}
