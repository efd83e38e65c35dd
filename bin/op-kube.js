#!/usr/bin/env node
// Launcher: refuses Node < 24 before any module that needs it loads, then runs the CLI from source
// in a checkout (Node 24 strips the TypeScript types) or from dist/ in a built package.
import { existsSync } from 'node:fs';

const MINIMUM_NODE_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);
if (major < MINIMUM_NODE_MAJOR) {
  process.stderr.write(
    `op-kube needs Node.js ${MINIMUM_NODE_MAJOR} or newer, but ${process.execPath} is ${process.version}.\n` +
      'In a source checkout run it through npm (`npx op-kube`, `npm run ...`), which uses the Node 24\n' +
      'that `npm ci` installs into node_modules/.bin; elsewhere install Node.js 24 LTS.\n',
  );
  process.exit(1);
}

const source = new URL('../src/cli.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/cli.js', import.meta.url).href);
