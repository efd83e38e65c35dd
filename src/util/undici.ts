// undici's Agent and ProxyAgent without undici's index module. `import ... from 'undici'` loads all
// of undici (fetch, WebSocket, EventSource, the cache and mock layers, interceptors): 110 modules
// and about 9 MB of RSS (3 MB of heap) in every op-kube process, of which the kube and Connect
// clients use two classes and Dispatcher#request (docs/benchmarks.md, "Operator memory").
// Type-only imports of 'undici' stay as they are: they load nothing.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

// What undici's index does so that every dispatcher has request(), stream(), pipeline()...
const DispatcherClass = require('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
Object.assign(DispatcherClass.prototype, require('undici/lib/api/index.js') as object);

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export const ProxyAgent =
  require('undici/lib/dispatcher/proxy-agent.js') as typeof Undici.ProxyAgent;
