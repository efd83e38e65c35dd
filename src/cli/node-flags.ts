// The Node.js flags op-kube's long-running commands are started with in its image and chart, and measured with by `npm run bench`.
//
// V8 sizes its heap for the machine it runs on: on a large node each young-generation semi-space
// grows to 16–32 MB and the old generation is collected lazily, so an operator syncing 1,000 items
// kept ~150 MB of garbage resident around a live set of ~35 MB. The operator is a background
// controller, so memory wins over peak speed. docs/decisions/009-node-memory-flags.md has the
// measurements.
//
// --liftoff-only: WebAssembly runs on V8's baseline compiler only. The operator's one WebAssembly
// module is undici's HTTP parser (llhttp), compiled at the first request of the Kubernetes and
// Connect clients; letting TurboFan optimise it cost ~10 MB of RSS for the life of the process
// (idle 88.4-89.6 -> 79.8 MB, peak at 1,000 items 110-112 -> 100-101 MB) for no measurable gain:
// the 1,000-item sync took 2.56-2.75 s of operator CPU with the flag, 2.69-2.93 s without; at
// 10,000 items peak 156-158 -> 147-148 MB, 17.1-19.9 s of CPU against 16.3-23.4 s
// (docs/benchmarks.md, "Operator memory"). Service-account mode's SDK is WebAssembly too, and
// runs on the baseline compiler as well.
export const OPERATOR_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=2',
  '--optimize-for-size',
  '--liftoff-only',
];

// The webhook answers the apiserver, so its tail latency matters as well as its memory. With V8's
// defaults its young generation grows to tens of MB under load and the process peaks at 216–225 MB
// RSS, above the chart's 192Mi limit for the injector. `npm run bench -- webhook` (5 KB pod, one
// pinned core, quiet machine; eight runs with the flag, ten without) measured with a 2 MB
// semi-space: 141–144 MB peak RSS; p99 at 1,000 req/s 1.80–4.09 ms against 1.40–4.77 ms without
// (the target is 5 ms), p99 at saturation 8–10 ms either way; the price is about 5% of peak
// throughput (median 3,235 req/s against 3,392), from ~170 short scavenges a second instead of
// ~8 longer ones. docs/benchmarks.md has the runs; --optimize-for-size was not measured.
export const WEBHOOK_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
