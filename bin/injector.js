#!/usr/local/bin/node
// `/injector` in op-kube's image (a link to this file): the entrypoint of 1Password's injector
// image, for manifests that name it; this runs `op-kube webhook <its flags>`. (Its Deployments
// name no command: op-kube's ENTRYPOINT infers `webhook` from the flags.)
process.argv.splice(2, 0, 'webhook');
await import('./op-kube.js');
