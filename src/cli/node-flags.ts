// The Node.js flags op-kube's long-running commands are started with in its image and chart, and measured with by `npm run bench`.
//
// V8 sizes its heap for the machine it runs on: on a large node each young-generation semi-space
// grows to 16–32 MB and the old generation is collected lazily, so an operator syncing 1,000 items
// kept ~150 MB of garbage resident around a live set of ~35 MB. The operator is a background
// controller, so memory wins over peak speed. docs/decisions/009-node-memory-flags.md has the
// measurements.
export const OPERATOR_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=2',
  '--optimize-for-size',
];

export const WEBHOOK_NODE_FLAGS: readonly string[] = [];
