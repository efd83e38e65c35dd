#!/usr/local/bin/node
// `/manager` in op-kube's image (a link to this file): 1Password's operator Deployments run
// `command: ["/manager"]` with its flags; this runs `op-kube operator <those flags>`. The path of
// node is the same in node:24-alpine, node:24-slim and tools/images' base.
process.argv.splice(2, 0, 'operator');
await import('./op-kube.js');
