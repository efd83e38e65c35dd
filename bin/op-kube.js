#!/usr/bin/env node
// Launcher: refuses Node < 24 before any module that needs it loads (node-check.js, imported
// first), then runs the CLI from source in a checkout (Node 24 strips the TypeScript types) or
// from dist/ in a built package.
import './node-check.js';
import { existsSync } from 'node:fs';

const source = new URL('../src/cli.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/cli.js', import.meta.url).href);
