// node:http through require(), never an ES import. An ES import of a builtin builds the module's
// namespace from all of its exports, and node:http's WebSocket, CloseEvent and MessageEvent are
// lazy getters that load Node's bundled undici (fetch, WebSocket, web streams) to answer: about
// 14 MB of RSS and 2.3 MB of heap in a process that uses neither (measured on Node 24.21:
// `await import('node:http')` 59.3 MB RSS, `require('node:http')` 45.4 MB; docs/benchmarks.md,
// "Operator memory"). Type-only imports of 'node:http' load nothing and may stay.
import { createRequire } from 'node:module';
import type * as Http from 'node:http';

const require = createRequire(import.meta.url);

export const http = require('node:http') as typeof Http;
